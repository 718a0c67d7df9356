// Approvals bind one call (docs/design.md §15), through a real nats-server and verifier, as a
// compromised agent would try to steer them: each case checks the attacker's view (the verdict it
// gets), the victim's (the tool server never runs what was not approved as shown) and the audit
// row of that very message.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Reason, reasonName, Verdict, Delivery } from '../packages/protocol/src/proto.js';
import type { IAuditEvent, IDeliveryRecord } from '../packages/protocol/src/proto.js';
import { toHex } from '../packages/protocol/src/envelope.js';
import { SUBJECT_APPROVAL_PENDING_PREFIX, approvalArgs } from '../packages/protocol/src/tools/definition.js';
import type { PendingApproval } from '../packages/protocol/src/tools/definition.js';
import { DEPTH_TOKEN_METADATA } from '../packages/protocol/src/constants.js';
import { ContractRegistry } from '../packages/sdk/src/contracts.js';
import type { InboundMessage } from '../packages/sdk/src/client.js';
import { ApprovalContract, ToolResultContract, toolContracts } from '../packages/server/src/common/tool-contracts.js';
import { unshowable, showArgs } from '../packages/server/src/ops/approve.js';
import { Policy, loadManifestDir } from '../packages/protocol/src/manifest.js';
import { startBus, waitFor, sleep } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { headerOf, auditRowOf } from './helpers/audit-rows.js';
import { sealAs, request, enc } from './helpers/hostile.js';
import { cliArgs } from './helpers/cli-bin.js';

const schema = { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path'], additionalProperties: false };
let bus: TestBus;
let registry: ContractRegistry;
const ran: string[] = []; // what the tool server ran: `${tool} ${path}`

test.before(async () => {
  bus = await startBus({
    verifierOptions: { approvalTimeoutMs: 20_000 },
    agents: {
      // alice calls; her write_file waits for a person
      alice: {
        send: [],
        max_payload_bytes: 262_144,
        tools: [{ server: 'fs', tools: ['write_file'], args: { path: { path: { roots: ['/srv/project'] } } }, approval: 'required' }],
      },
      // ops may approve fs calls AND call write_file itself: four eyes must still hold
      ops: {
        send: [],
        approve: ['fs'],
        tools: [{ server: 'fs', tools: ['write_file'], args: { path: { path: { roots: ['/srv/project'] } } }, approval: 'required' }],
      },
      boss: { send: [], approve: ['fs'] },
      fs: { send: [{ to: '*', types: ['tool.result'] }], mcp: { tools: [{ name: 'write_file', input_schema: schema, sha256: '0'.repeat(64) }] } },
    },
  });
  const tc = toolContracts(new Policy(loadManifestDir(bus.manifestsDir)));
  registry = new ContractRegistry([tc.get('tool.fs.write_file')!, ToolResultContract, ApprovalContract]);
  const fs = await bus.agent('fs', { contracts: registry });
  void (async () => {
    for await (const m of fs.inbox()) {
      ran.push(`${m.type} ${(m.payload as { path: string }).path}`);
      // the callers here are raw connections that are gone by then: the reply is not confirmed
      await fs.reply(m, 'tool.result', { content: [{ type: 'text', text: 'written' }] }).catch(() => undefined);
    }
  })();
});
test.after(async () => bus?.stop());

async function trail(): Promise<{ events: IAuditEvent[]; deliveries: IDeliveryRecord[] }> {
  const batches = await bus.auditBatches();
  return { events: batches.flatMap((b) => b.events), deliveries: batches.flatMap((b) => b.deliveries) };
}
/** The pending notice of a held call. */
async function noticeOf(msgId: string): Promise<PendingApproval> {
  const raw = await bus.rawAgent('boss');
  try {
    return await new Promise<PendingApproval>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no pending notice for ${msgId}`)), 5000);
      raw.subscribe(`${SUBJECT_APPROVAL_PENDING_PREFIX}fs`, {
        callback: (_e, m) => {
          const n = JSON.parse(new TextDecoder().decode(m.data)) as PendingApproval;
          if (n.msg_id === msgId) {
            clearTimeout(t);
            resolve(n);
          }
        },
      });
    });
  } finally {
    await raw.close();
  }
}
/** Hold a write_file call of `caller` (sent raw: `payload` is the exact JSON text). */
async function holdCall(caller: string, payload: string): Promise<{ msgId: string; ack: Awaited<ReturnType<typeof request>> }> {
  const nc = await bus.rawAgent(caller);
  const s = sealAs(bus, caller, { recipient: 'fs', type: 'tool.fs.write_file', payload: enc(payload) });
  const ack = await request(nc, caller, s.bytes);
  await nc.close();
  return { msgId: toHex(s.header.msgId), ack };
}
/** An approval sealed by `as`, with any payload, causation and depth token. */
async function approvalAs(
  as: string,
  payload: unknown,
  causation?: string,
  token?: string,
): Promise<{ msgId: Uint8Array; ack: Awaited<ReturnType<typeof request>> }> {
  const nc = await bus.rawAgent(as);
  const s = sealAs(bus, as, {
    recipient: 'fs',
    type: 'approval.decision',
    payload: enc(payload),
    ...(causation ? { causationId: Buffer.from(causation, 'hex') } : {}),
    ...(token ? { metadata: { [DEPTH_TOKEN_METADATA]: token } } : {}),
  });
  const ack = await request(nc, as, s.bytes);
  await nc.close();
  return { msgId: s.header.msgId, ack };
}
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test('approvals - a call whose arguments repeat a key (an escape-spelled twin, or one past 2 KiB) is refused before anyone is asked', async () => {
  const twins = [
    '{"path":"/srv/project/notes.txt","p\\u0061th":"/srv/project/run.sh","content":"echo pwned"}',
    `{"path":"/srv/project/notes.txt","content":"${'x'.repeat(2100)}","path":"/srv/project/run.sh"}`,
    '{"path":"/srv/project/a","content":"{\\"path\\":1}","\\u0070ath":"/srv/project/b"}',
  ];
  for (const payload of twins) {
    const { msgId, ack } = await holdCall('alice', payload);
    assert.is(ack.verdict, Verdict.VERDICT_REJECTED, payload.slice(0, 80));
    assert.is(reasonName(ack.reason), 'schema_invalid');
    assert.match(ack.detail, /duplicate key "path"/);
    const row = await auditRowOf(bus, msgId);
    assert.is(row.verdict, Verdict.VERDICT_REJECTED);
    assert.is(reasonName(row.reason!), 'schema_invalid');
    assert.match(row.detail ?? '', /duplicate key/);
  }
  // nothing was announced, nothing ran
  await sleep(300);
  assert.equal(ran, []);
});

test('approvals - the notice carries the canonical arguments whole; approve shows them and signs their digest; a mismatch is never delivered', async () => {
  const long = 'y'.repeat(5000);
  const { msgId, ack } = await holdCall('alice', JSON.stringify({ content: long, path: '/srv/project/long.txt' }));
  assert.is(ack.delivery, Delivery.DELIVERY_HELD);
  const n = await noticeOf(msgId);
  assert.is(n.args, approvalArgs({ path: '/srv/project/long.txt', content: long }), 'the notice does not carry the whole canonical arguments');
  assert.is(n.args_sha256, sha(n.args));
  assert.is(unshowable(n), undefined);
  assert.ok(showArgs(n.args).includes(long));
  assert.not.ok(n.tokens['alice'], 'the caller got a token to decide its own call');
  // boss approves with the digest of OTHER arguments: the call is refused, not delivered
  const wrong = await approvalAs('boss', { msg_id: msgId, approve: true, args_sha256: sha('{"path":"/srv/project/run.sh"}') }, msgId, n.tokens['boss']);
  assert.is(wrong.ack.verdict, Verdict.VERDICT_ACCEPTED);
  assert.match(wrong.ack.detail, /args_sha256 is not the held call's/);
  await waitFor(
    async () => (await trail()).deliveries.some((d) => toHex(d.msgId!) === msgId && d.delivery === Delivery.DELIVERY_DENIED),
    5000,
    'DENIED record',
  );
  const rec = (await trail()).deliveries.find((d) => toHex(d.msgId!) === msgId && d.delivery === Delivery.DELIVERY_DENIED)!;
  assert.is(reasonName(rec.reason!), 'approval_denied');
  assert.match(rec.detail ?? '', /not delivered/);
  await sleep(300);
  assert.not.ok(
    ran.some((r) => r.includes('long.txt')),
    'a call approved for other arguments ran',
  );
  // an approval without a digest does not even pass the contract
  const { msgId: id2 } = await holdCall('alice', JSON.stringify({ path: '/srv/project/two.txt' }));
  const n2 = await noticeOf(id2);
  const bare = await approvalAs('boss', { msg_id: id2, approve: true }, id2, n2.tokens['boss']);
  assert.is(reasonName(bare.ack.reason), 'schema_invalid');
  assert.match(bare.ack.detail, /args_sha256/);
  assert.is(reasonName((await auditRowOf(bus, bare.msgId)).reason!), 'schema_invalid');
  // the right digest delivers it, once
  const ok = await approvalAs('boss', { msg_id: id2, approve: true, args_sha256: n2.args_sha256 }, id2, n2.tokens['boss']);
  assert.is(ok.ack.delivery, Delivery.DELIVERY_CONFIRMED, ok.ack.detail);
  await waitFor(() => ran.includes('tool.fs.write_file /srv/project/two.txt'), 5000, 'the approved call');
  const again = await approvalAs('boss', { msg_id: id2, approve: true, args_sha256: n2.args_sha256 }, id2, n2.tokens['boss']);
  assert.is(again.ack.delivery, Delivery.DELIVERY_UNCONFIRMED, 'one approval decides one call once');
  await sleep(300);
  assert.is(ran.filter((r) => r.endsWith('two.txt')).length, 1);
});

test('approvals - an approval is bound to the call it answers: no causation, another causation, an old token re-signed', async () => {
  const { msgId: a } = await holdCall('alice', JSON.stringify({ path: '/srv/project/a.txt' }));
  const na = await noticeOf(a);
  const { msgId: b } = await holdCall('alice', JSON.stringify({ path: '/srv/project/b.txt' }));
  const nb = await noticeOf(b);
  // no causation at all
  const none = await approvalAs('boss', { msg_id: b, approve: true, args_sha256: nb.args_sha256 });
  assert.is(reasonName(none.ack.reason), 'bad_causation');
  assert.match(none.ack.detail, /causation_id must be the held call/);
  assert.is(reasonName((await auditRowOf(bus, none.msgId)).reason!), 'bad_causation');
  // causation (and token) of call a, payload deciding call b
  const other = await approvalAs('boss', { msg_id: b, approve: true, args_sha256: nb.args_sha256 }, a, na.tokens['boss']);
  assert.is(reasonName(other.ack.reason), 'bad_causation');
  assert.match(other.ack.detail, new RegExp(`decides ${b} but its causation_id is ${a}`));
  const row = await auditRowOf(bus, other.msgId);
  assert.is(row.verdict, Verdict.VERDICT_REJECTED);
  assert.is(toHex(headerOf(row)!.causationId), a);
  // decide a legitimately, then re-sign its causation and token in a new approval of b
  const okA = await approvalAs('boss', { msg_id: a, approve: true, args_sha256: na.args_sha256 }, a, na.tokens['boss']);
  assert.is(okA.ack.delivery, Delivery.DELIVERY_CONFIRMED, okA.ack.detail);
  const reuse = await approvalAs('boss', { msg_id: b, approve: true, args_sha256: nb.args_sha256 }, a, na.tokens['boss']);
  assert.is(reasonName(reuse.ack.reason), 'bad_causation');
  // b's token with a's causation: the token does not prove a was shown to boss under b
  const swapped = await approvalAs('boss', { msg_id: a, approve: true, args_sha256: na.args_sha256 }, a, nb.tokens['boss']);
  assert.is(reasonName(swapped.ack.reason), 'bad_causation');
  await sleep(300);
  assert.not.ok(
    ran.some((r) => r.endsWith('b.txt')),
    'call b ran without its own approval',
  );
  // deny b to clean up (a denial needs no digest)
  const deny = await approvalAs('boss', { msg_id: b, approve: false, reason: 'no' }, b, nb.tokens['boss']);
  assert.is(deny.ack.delivery, Delivery.DELIVERY_CONFIRMED, deny.ack.detail);
});

test("approvals - four eyes: an approver never decides its own call, with or without another approver's token", async () => {
  const { msgId } = await holdCall('ops', JSON.stringify({ path: '/srv/project/ops.txt' }));
  const n = await noticeOf(msgId);
  assert.is(n.caller, 'ops');
  assert.not.ok(n.tokens['ops'], 'the notice gave the caller a token');
  assert.ok(n.tokens['boss']);
  const own = await approvalAs('ops', { msg_id: msgId, approve: true, args_sha256: n.args_sha256 }, msgId);
  assert.is(reasonName(own.ack.reason), 'bad_causation');
  const borrowed = await approvalAs('ops', { msg_id: msgId, approve: true, args_sha256: n.args_sha256 }, msgId, n.tokens['boss']);
  assert.is(reasonName(borrowed.ack.reason), 'bad_causation');
  assert.is(reasonName((await auditRowOf(bus, borrowed.msgId)).reason!), 'bad_causation');
  await sleep(300);
  assert.not.ok(
    ran.some((r) => r.endsWith('ops.txt')),
    'a self-approved call ran',
  );
  const deny = await approvalAs('boss', { msg_id: msgId, approve: false }, msgId, n.tokens['boss']);
  assert.is(deny.ack.delivery, Delivery.DELIVERY_CONFIRMED, deny.ack.detail);
});

test('approvals - a call too large to show an approver whole is refused before anyone is asked', async () => {
  const { msgId, ack } = await holdCall('alice', JSON.stringify({ path: '/srv/project/big.txt', content: 'z'.repeat(70_000) }));
  assert.is(reasonName(ack.reason), 'argument_refused');
  assert.match(ack.detail, /too large to show an approver in full/);
  assert.is(reasonName((await auditRowOf(bus, msgId)).reason!), 'argument_refused');
});

test('approvals - manifest check warns when an agent may approve calls it can make itself', async () => {
  const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, cliArgs('manifest', 'check', bus.manifestsDir), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stderr }));
  });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: .*ops may approve calls of fs \(approve:\) and may call fs's tools/);
  assert.not.match(r.stderr, /boss may approve/);
  void Reason;
  void ({} as InboundMessage);
});

test.run();
