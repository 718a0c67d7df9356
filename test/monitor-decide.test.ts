// Monitor mode in decide() itself (docs/design.md §18, PROTOCOL.md §8.6), without NATS: the same
// messages decided for an agent in enforce mode and for its twin in monitor mode. Where enforce
// mode rejects for a policy reason (CHECKS' `monitor` reasons), monitor mode accepts and records
// exactly that reason as would_refuse; where it rejects for any other reason, monitor mode rejects
// with the same reason. The boundary cases of the line are each a row: a tool call to another
// server or to a topic, an approval from an agent that may not approve, arguments too large to
// show an approver, an over-long metadata value, a causation without a token.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { sealEnvelope, parseEnvelope, encodeEnvelope, decodeHeader } from '../packages/protocol/src/envelope.js';
import type { SealInput } from '../packages/protocol/src/envelope.js';
import { Reason, Verdict, reasonName, verdictName } from '../packages/protocol/src/proto.js';
import { SigningKey } from '../packages/sdk/src/identity.js';
import { defaultBackend } from '../packages/protocol/src/ed25519.js';
import { Policy, Manifest } from '../packages/protocol/src/manifest.js';
import type { ManifestInput } from '../packages/protocol/src/manifest.js';
import { MAX_METADATA_VALUE_BYTES } from '../packages/protocol/src/metadata.js';
import { decide, DecisionState, policySnapshot, auditEventOf } from '../packages/server/src/verifier/decide.js';
import type { Decision, PolicySnapshot } from '../packages/server/src/verifier/decide.js';
import { MONITORED_REASONS, CHECKS } from '../packages/server/src/verifier/checks.js';
import { contracts } from './helpers/contracts.js';

const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const SKEW = 30_000;
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const alice = SigningKey.generate();
const fsKey = SigningKey.generate();
const NATS_USER = `U${'A'.repeat(55)}`;
const manifest = (m: Partial<ManifestInput> & { agent: string }): Manifest => Manifest.parse({ nats_user: NATS_USER, keys: [], ...m });
const snapOf = (mode: 'enforce' | 'monitor'): PolicySnapshot =>
  policySnapshot({
    policy: new Policy([
      manifest({
        agent: 'alice',
        keys: [alice.publicInfo()],
        send: [{ to: 'bob', types: ['task.assign', 'deploy.request'] }],
        topics: { publish: [{ topic: 'news', types: ['note.post'] }], subscribe: [] },
        max_payload_bytes: 2048,
        max_depth: 3,
        rate: { per_second: 0.001, burst: 3 },
        rejections: { per_second: 100, burst: 1000 },
        tools: [
          { server: 'fs', tools: ['read_file'], args: { path: { path: { roots: ['/srv/project'] } } } },
          { server: 'fs', tools: ['delete_file'], approval: 'required' },
        ],
        enforce: mode,
      }),
      manifest({ agent: 'bob', keys: [fsKey.publicInfo()], send: [] }),
      manifest({ agent: 'carol', keys: [fsKey.publicInfo()], send: [] }),
      manifest({ agent: 'memory', keys: [fsKey.publicInfo()], send: [{ to: '*', types: ['memory.result'] }] }),
      manifest({
        agent: 'fs',
        keys: [fsKey.publicInfo()],
        send: [{ to: '*', types: ['tool.result'] }],
        mcp: {
          tools: ['read_file', 'write_file', 'delete_file'].map((name) => ({
            name,
            input_schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
            sha256: '0'.repeat(64),
          })),
        },
      }),
    ]),
    contracts,
    maxSkewMs: SKEW,
    partitions: 8,
    backend: defaultBackend(),
  });
const ENFORCE = snapOf('enforce');
const MONITOR = snapOf('monitor');
const DEPTH_KEY = randomBytes(32);
const fresh = () => new DecisionState({ replayWindowMs: 2 * SKEW + 5000, depthKey: DEPTH_KEY, now: NOW });

const seal = (over: Partial<SealInput> = {}) =>
  sealEnvelope({
    sender: 'alice',
    keyId: alice.keyId,
    sign: alice.sign,
    recipient: 'bob',
    type: 'task.assign',
    payload: enc({ title: 'write tests', priority: 2 }),
    contentType: 'application/json',
    sentAtMs: NOW,
    ...over,
  }).bytes;
const run = (snap: PolicySnapshot, bytes: Uint8Array, state = fresh()): Decision =>
  decide({ data: bytes, subjectSender: 'alice', reply: '', now: NOW }, snap, state);

/**
 * Messages enforce mode rejects, one per reason or boundary case: [what, bytes, the reason enforce
 * mode gives, what monitor mode does: 'delivered' (with that reason as would_refuse) or the reason
 * it rejects with]. The first twelve are policy; the rest are refused in every mode.
 */
const D = 'delivered' as const;
const cases: [string, Uint8Array, Reason, typeof D | Reason][] = [
  ['a recipient outside the send rules', seal({ recipient: 'carol' }), Reason.REASON_DESTINATION_NOT_ALLOWED, D],
  [
    'a topic it may not publish on',
    seal({ recipient: '', topic: 'secret', type: 'note.post', payload: enc({ text: 'x' }) }),
    Reason.REASON_DESTINATION_NOT_ALLOWED,
    D,
  ],
  ['a type its send rules do not list', seal({ type: 'note.post', payload: enc({ text: 'x' }) }), Reason.REASON_TYPE_NOT_ALLOWED, D],
  [
    'a tool its tools: policy does not list',
    seal({ recipient: 'fs', type: 'tool.fs.write_file', payload: enc({ path: '/srv/project/a' }) }),
    Reason.REASON_TOOL_NOT_ALLOWED,
    D,
  ],
  [
    'an argument outside its root',
    seal({ recipient: 'fs', type: 'tool.fs.read_file', payload: enc({ path: '/etc/passwd' }) }),
    Reason.REASON_ARGUMENT_REFUSED,
    D,
  ],
  [
    "another agent's memory",
    seal({ recipient: 'memory', type: 'memory.get', payload: enc({ ns: 'agent/bob', key: 'k' }) }),
    Reason.REASON_MEMORY_NOT_ALLOWED,
    D,
  ],
  ['a payload over max_payload_bytes', seal({ payload: enc({ title: 'x'.repeat(3000), priority: 1 }) }), Reason.REASON_PAYLOAD_TOO_LARGE, D],
  ['a depth over max_depth', seal({ depth: 5 }), Reason.REASON_DEPTH_EXCEEDED, D],
  ['an undeclared metadata key', seal({ metadata: { mood: 'ok' } }), Reason.REASON_METADATA_NOT_ALLOWED, D],
  ['a critical type without its decision record', seal({ type: 'deploy.request', payload: enc({ service: 'api' }) }), Reason.REASON_METADATA_MISSING, D],
  [
    'a credential in the payload',
    seal({ payload: enc({ title: `key ghp_${'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5'}`, priority: 1 }) }),
    Reason.REASON_CREDENTIAL_DETECTED,
    D,
  ],
  ['a control character', seal({ payload: enc({ title: 'bell \u0007', priority: 1 }) }), Reason.REASON_CONTROL_CHARS, D],
  // refused in every mode
  [
    'a metadata value over 1 KiB (a bound of the protocol, declared key)',
    seal({ metadata: { ticket_id: 'x'.repeat(MAX_METADATA_VALUE_BYTES + 1) } }),
    Reason.REASON_METADATA_NOT_ALLOWED,
    Reason.REASON_METADATA_NOT_ALLOWED,
  ],
  [
    'a tool call to another server',
    seal({ recipient: 'bob', type: 'tool.fs.read_file', payload: enc({ path: '/srv/project/a' }) }),
    Reason.REASON_DESTINATION_NOT_ALLOWED,
    Reason.REASON_DESTINATION_NOT_ALLOWED,
  ],
  [
    'a tool call to a topic',
    seal({ recipient: '', topic: 'news', type: 'tool.fs.read_file', payload: enc({ path: '/srv/project/a' }) }),
    Reason.REASON_DESTINATION_NOT_ALLOWED,
    Reason.REASON_DESTINATION_NOT_ALLOWED,
  ],
  [
    'an approval from an agent whose approve: does not list the server',
    seal({ recipient: 'fs', type: 'approval.decision', payload: enc({ msg_id: '00'.repeat(16), decision: 'approve', args_sha256: '00'.repeat(32) }) }),
    Reason.REASON_DESTINATION_NOT_ALLOWED,
    Reason.REASON_DESTINATION_NOT_ALLOWED,
  ],
  [
    'arguments of a held call too large to show an approver',
    seal({ recipient: 'fs', type: 'tool.fs.delete_file', payload: enc({ path: '/srv/project/a', pad: 'x'.repeat(70_000) }) }),
    Reason.REASON_PAYLOAD_TOO_LARGE,
    Reason.REASON_ARGUMENT_REFUSED,
  ],
  ['an unknown recipient', seal({ recipient: 'nobody' }), Reason.REASON_UNKNOWN_RECIPIENT, Reason.REASON_UNKNOWN_RECIPIENT],
  ['a type with no contract', seal({ type: 'nosuch.type' }), Reason.REASON_UNKNOWN_TYPE, Reason.REASON_UNKNOWN_TYPE],
  ['a payload that breaks its contract', seal({ payload: enc({ title: 42 }) }), Reason.REASON_SCHEMA_INVALID, Reason.REASON_SCHEMA_INVALID],
  ['a causation id without a depth token', seal({ causationId: randomBytes(16) }), Reason.REASON_BAD_CAUSATION, Reason.REASON_BAD_CAUSATION],
  ['a stale message', seal({ sentAtMs: NOW - 10 * SKEW }), Reason.REASON_STALE_TIMESTAMP, Reason.REASON_STALE_TIMESTAMP],
  ['a message from the future', seal({ sentAtMs: NOW + 10 * SKEW }), Reason.REASON_FUTURE_TIMESTAMP, Reason.REASON_FUTURE_TIMESTAMP],
  [
    'an unknown key',
    (() => {
      const k = SigningKey.generate();
      return seal({ keyId: k.keyId, sign: k.sign });
    })(),
    Reason.REASON_UNKNOWN_KEY,
    Reason.REASON_UNKNOWN_KEY,
  ],
  [
    'a bad signature on a message out of scope: enforce mode refuses the send rule first, monitor mode the signature',
    (() => {
      const p = parseEnvelope(seal({ recipient: 'carol' }));
      if (!p.ok) throw new Error();
      const signature = Uint8Array.from(p.value.signature);
      signature[3]! ^= 1;
      return encodeEnvelope({ ...p.value, signature });
    })(),
    Reason.REASON_DESTINATION_NOT_ALLOWED,
    Reason.REASON_BAD_SIGNATURE,
  ],
];

for (const [what, bytes, reason, monitored] of cases) {
  const policyReason = monitored === D;
  test(`${policyReason ? 'recorded' : 'refused in every mode'}: ${what}`, () => {
    if (policyReason) assert.ok(MONITORED_REASONS.has(reason), `${reasonName(reason)} is not a monitored reason`);
    const e = run(ENFORCE, bytes);
    assert.is(verdictName(e.verdict), 'rejected', `enforce mode: ${what}`);
    assert.is(reasonName(e.reason), reasonName(reason), `enforce mode: ${e.detail}`);
    assert.is(e.monitor, false);
    const m = run(MONITOR, bytes);
    if (policyReason) {
      assert.is(verdictName(m.verdict), 'accepted', `monitor mode delivers ${what}: ${reasonName(m.reason)} ${m.detail}`);
      assert.is(reasonName(m.wouldRefuse), reasonName(reason));
      assert.is(m.detail.startsWith(`would refuse: ${reasonName(reason)}`), true, m.detail);
      assert.ok(e.detail && m.detail.includes(e.detail), `the same detail enforcing would answer (${e.detail}) is in ${m.detail}`);
    } else {
      assert.is(verdictName(m.verdict), 'rejected', `monitor mode refuses ${what}`);
      assert.is(reasonName(m.reason), reasonName(monitored));
      assert.is(m.wouldRefuse, Reason.REASON_UNSPECIFIED);
    }
    // the audit event: monitor mode only, and the would-refuse only when delivered
    const ev = auditEventOf(m, 'alice', bytes.length, new Uint8Array(16), 'v', NOW);
    assert.is(ev.monitor, true);
    assert.is(ev.wouldRefuse, policyReason ? reason : undefined);
    const eev = auditEventOf(e, 'alice', bytes.length, new Uint8Array(16), 'v', NOW);
    assert.is('monitor' in eev, false, 'an enforce-mode event carries no monitor field');
    assert.is('wouldRefuse' in eev, false);
  });
}

test('the first policy reason is kept: the one enforce mode answers (size before recipient before type)', () => {
  const bytes = seal({ recipient: 'carol', type: 'note.post', payload: enc({ text: 'x'.repeat(3000) }) });
  assert.is(reasonName(run(ENFORCE, bytes).reason), 'payload_too_large');
  const m = run(MONITOR, bytes);
  assert.equal([verdictName(m.verdict), reasonName(m.wouldRefuse)], ['accepted', 'payload_too_large']);
});

test('a would-refuse spends no rejection-budget token and no rate token; a held call is still held', () => {
  const state = fresh();
  const out = seal({ recipient: 'carol' });
  run(MONITOR, out, state);
  const budget = state.budgets.get('alice')!;
  const before = budget.tokens;
  for (let i = 0; i < 5; i++) assert.is(run(MONITOR, seal({ recipient: 'carol' }), state).verdict, Verdict.VERDICT_ACCEPTED);
  assert.is(budget.tokens, before, 'no rejection-budget token spent');
  // burst 3, refilling 0.001/s: six messages so far, three of them over the rate, none spent below zero
  assert.ok(state.rates.get('alice')!.tokens >= 0, 'the rate bucket never goes below empty');
  const over = run(MONITOR, seal(), state);
  assert.is(reasonName(over.wouldRefuse), 'rate_limited');
  const held = run(MONITOR, seal({ recipient: 'fs', type: 'tool.fs.delete_file', payload: enc({ path: '/srv/project/a' }) }), fresh());
  assert.equal([verdictName(held.verdict), held.approval, held.wouldRefuse], ['accepted', true, Reason.REASON_UNSPECIFIED]);
});

test('a guard finding monitor mode recorded stays on the record when a later check rejects the message (a replay)', () => {
  const state = fresh();
  const first = seal({ payload: enc({ title: 'fine', priority: 1 }) });
  assert.is(run(MONITOR, first, state).verdict, Verdict.VERDICT_ACCEPTED);
  const h = parseEnvelope(first);
  if (!h.ok) throw new Error();
  const { msgId } = (() => {
    const p = decodeHeader(h.value.headerBytes);
    if (!p.ok) throw new Error();
    return p.value;
  })();
  const replay = run(MONITOR, seal({ msgId, payload: enc({ title: 'bell \u0007', priority: 1 }) }), state);
  assert.equal([verdictName(replay.verdict), reasonName(replay.reason)], ['rejected', 'replay']);
  assert.equal(
    replay.findings?.map((f) => [f.kind, f.action]),
    [['control_chars', 'reject']],
  );
});

test("CHECKS' monitor reasons are each among the check's own reasons, and never an integrity reason", () => {
  const integrity = [
    'malformed',
    'unknown_sender',
    'unknown_key',
    'revoked_key',
    'expired_key',
    'bad_signature',
    'sender_mismatch',
    'payload_hash_mismatch',
    'stale_timestamp',
    'future_timestamp',
    'replay',
    'bad_causation',
    'bad_reply_subject',
    'rejection_budget_exceeded',
  ];
  for (const c of CHECKS) for (const r of c.monitor?.reasons ?? []) assert.ok(c.reasons.includes(r), `${c.name}: ${reasonName(r)} is not one of its reasons`);
  for (const r of MONITORED_REASONS) assert.not.ok(integrity.includes(reasonName(r)), `${reasonName(r)} is integrity, never monitored`);
});

test.run();
