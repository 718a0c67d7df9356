// The language-neutral vectors of PROTOCOL.md (protocol/vectors/*.json): the committed files are
// what the generator makes now (so a change of behaviour shows up as a stale vector), and every
// vector holds against the implementation — read back from the JSON alone, the way another
// implementation would use it: manifests parsed from the file, contracts rebuilt from their JSON
// Schema, signatures through all three Ed25519 backends.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import { generateVectors, VECTORS_DIR } from '../scripts/gen-vectors.js';
import { parseEnvelope, decodeHeader, signingInput, toHex } from '../packages/protocol/src/envelope.js';
import { backends } from '../packages/protocol/src/ed25519.js';
import type { Ed25519Backend } from '../packages/protocol/src/ed25519.js';
import { ALL_BACKENDS, sodium } from './helpers/backends.js';
import { defineMessage, createRegistry } from '../packages/sdk/src/contracts.js';
import { reasonName, verdictName, allReasons, AuditBatch } from '../packages/protocol/src/proto.js';
import { Manifest, Policy } from '../packages/protocol/src/manifest.js';
import { decide, DecisionState, policySnapshot } from '../packages/server/src/verifier/decide.js';
import { DepthTokens, depthMacInput } from '../packages/protocol/src/depth-token.js';
import { verifyBatchSignature, openSignedBatch, batchSigningInput } from '../packages/server/src/common/audit-chain.js';

const t = suite('protocol vectors');
const read = <T>(name: string): T => JSON.parse(readFileSync(join(VECTORS_DIR, name), 'utf8')) as T;
const unhex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const BACKENDS = ALL_BACKENDS; // sodium, node, noble: a sodium that does not load fails the suite (test/helpers/backends.ts)

t('vectors - the committed files are exactly what scripts/gen-vectors.ts generates (deterministic: twice the same)', () => {
  const a = generateVectors();
  const b = generateVectors();
  assert.equal([...a.keys()], [...b.keys()]);
  for (const [name, text] of a) assert.ok(text === b.get(name), `${name}: two runs differ`);
  assert.equal(
    readdirSync(VECTORS_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort(),
    [...a.keys()].sort(),
  );
  for (const [name, text] of a)
    assert.ok(readFileSync(join(VECTORS_DIR, name), 'utf8') === text, `protocol/vectors/${name} is stale: run node --import tsx scripts/gen-vectors.ts`);
});

t('vectors - signature.json: every backend gives the expected verdict', () => {
  const { vectors } = read<{ vectors: { name: string; public_key: string; message: string; signature: string; valid: boolean }[] }>('signature.json');
  assert.ok(vectors.length >= 25);
  assert.is(BACKENDS.length, sodium ? 3 : 2, 'sodium, node and noble');
  assert.ok(vectors.some((v) => v.valid) && vectors.some((v) => !v.valid));
  for (const v of vectors) {
    for (const b of BACKENDS) assert.is(b.verify(unhex(v.public_key), unhex(v.message), unhex(v.signature)), v.valid, `${b.name}: ${v.name}`);
  }
});

interface EnvelopeVector {
  name: string;
  envelope: string;
  valid: boolean;
  stage?: 'envelope' | 'header';
  reason?: string;
  detail?: string;
  parts?: { header: string; payload: string; signature: string };
  header?: Record<string, unknown>;
  signing_input?: string;
  public_key?: string;
  signature_valid?: boolean;
}

t('vectors - envelope.json: framing and header decoding give the fields, or malformed at the stage named', () => {
  const { vectors } = read<{ vectors: EnvelopeVector[] }>('envelope.json');
  for (const v of vectors) {
    const p = parseEnvelope(unhex(v.envelope));
    if (v.stage === 'envelope') {
      assert.not.ok(p.ok, v.name);
      if (!p.ok) assert.equal([reasonName(p.reason), p.detail], [v.reason, v.detail], v.name);
      continue;
    }
    assert.ok(p.ok, v.name);
    if (!p.ok) continue;
    const h = decodeHeader(p.value.headerBytes);
    if (!v.valid) {
      assert.not.ok(h.ok, v.name);
      if (!h.ok) assert.equal([reasonName(h.reason), p.ok && h.detail], [v.reason, v.detail], v.name);
      continue;
    }
    assert.ok(h.ok, v.name);
    if (!h.ok) continue;
    assert.equal({ header: toHex(p.value.headerBytes), payload: toHex(p.value.payload), signature: toHex(p.value.signature) }, v.parts, v.name);
    const f = h.value;
    const got = {
      sender: f.sender,
      key_id: f.keyId,
      recipient: f.recipient,
      topic: f.topic,
      type: f.type,
      msg_id: toHex(f.msgId),
      sent_at_ms: f.sentAtMs,
      payload_sha256: toHex(f.payloadSha256),
      content_type: f.contentType,
      trace_id: toHex(f.traceId),
      span_id: toHex(f.spanId),
      causation_id: toHex(f.causationId),
      depth: f.depth,
      metadata: { ...f.metadata },
    };
    assert.equal(got, v.header, v.name);
    assert.is(toHex(signingInput(p.value.headerBytes)), v.signing_input, v.name);
    if (v.public_key)
      for (const b of BACKENDS) assert.is(b.verify(unhex(v.public_key), unhex(v.signing_input!), p.value.signature), v.signature_valid, `${b.name}: ${v.name}`);
  }
  assert.ok(vectors.filter((v) => v.valid).length >= 10 && vectors.filter((v) => !v.valid).length >= 30);
});

interface DecisionsFile {
  now: number;
  max_skew_ms: number;
  partitions: number;
  replay_window_ms: number;
  depth_key: string;
  manifests: unknown[];
  contracts: Record<string, { content_type: string; json_schema: Record<string, unknown>; metadata: string[]; required_metadata: string[] }>;
  sequences: {
    name: string;
    steps: {
      subject_sender: string;
      reply: string;
      partition?: number;
      now?: number;
      envelope: string;
      expect: { verdict: string; reason: string; depth: number; answer: boolean; shed: boolean; detail: string; depth_token?: string };
    }[];
  }[];
}

t('vectors - decisions.json: every sequence through decide(), with the policy read from the file, on every backend', () => {
  const f = read<DecisionsFile>('decisions.json');
  const policy = new Policy(f.manifests.map((m) => Manifest.parse(m)));
  // the contracts from their JSON Schema alone (not the generator's zod definitions)
  const contracts = createRegistry(
    ...Object.entries(f.contracts).map(([type, c]) => {
      assert.is(c.content_type, 'application/json');
      return defineMessage(type, z.fromJSONSchema(c.json_schema as Parameters<typeof z.fromJSONSchema>[0]), {
        metadata: c.metadata,
        requiredMetadata: c.required_metadata,
      });
    }),
  );
  const tokens = new DepthTokens(unhex(f.depth_key));
  const reasons = new Set<string>();
  let steps = 0;
  for (const backend of BACKENDS) {
    const snap = policySnapshot({ policy, contracts, maxSkewMs: f.max_skew_ms, partitions: f.partitions, backend });
    for (const s of f.sequences) {
      const state = new DecisionState({ replayWindowMs: f.replay_window_ms, depthKey: unhex(f.depth_key), now: f.now });
      s.steps.forEach((st, i) => {
        const d = decide(
          { data: unhex(st.envelope), subjectSender: st.subject_sender, reply: st.reply, now: st.now ?? f.now, partition: st.partition },
          snap,
          state,
        );
        const what = `${backend.name}: ${s.name}, step ${i + 1}`;
        assert.equal(
          { verdict: verdictName(d.verdict), reason: reasonName(d.reason), depth: d.depth, answer: d.answer, shed: d.shed, detail: d.detail },
          {
            verdict: st.expect.verdict,
            reason: st.expect.reason,
            depth: st.expect.depth,
            answer: st.expect.answer,
            shed: st.expect.shed,
            detail: st.expect.detail,
          },
          what,
        );
        if (st.expect.depth_token) assert.is(tokens.mint(d.header!.msgId, d.header!.recipient, d.header!.topic, d.depth), st.expect.depth_token, what);
        reasons.add(st.expect.reason);
        steps++;
      });
    }
  }
  // the approval hold's two reasons come after an accepted decision (PROTOCOL.md §15.3)
  assert.equal(
    allReasons()
      .map(reasonName)
      .filter((r) => !reasons.has(r) && r !== 'approval_denied' && r !== 'approval_timeout'),
    [],
    'every reason has a vector',
  );
  assert.ok(steps / BACKENDS.length >= 80, `${steps / BACKENDS.length} steps`);
});

t('vectors - depth-token.json: MAC inputs, MACs and tokens; the invalid tokens do not verify', () => {
  const f = read<{
    key: string;
    domain: string;
    vectors: { msg_id: string; recipient: string; depth: number; mac_input: string; hmac_sha512_256: string; token: string }[];
    invalid: { name: string; msg_id: string; recipient: string; token: string }[];
  }>('depth-token.json');
  const key = unhex(f.key);
  const tokens = new DepthTokens(key);
  const split = (r: string): [string, string] => (r.startsWith('topic:') ? ['', r.slice(6)] : [r, '']);
  assert.is(f.domain, Buffer.from('agentbus/v1/depth\0').toString('hex'));
  for (const v of f.vectors) {
    const [recipient, topic] = split(v.recipient);
    const msgId = unhex(v.msg_id);
    assert.is(toHex(depthMacInput(msgId, recipient, topic, v.depth)), v.mac_input);
    // the MAC from its definition, with node:crypto: HMAC-SHA-512, first 32 bytes
    assert.is(createHmac('sha512', key).update(unhex(v.mac_input)).digest().subarray(0, 32).toString('hex'), v.hmac_sha512_256);
    assert.is(tokens.mint(msgId, recipient, topic, v.depth), v.token);
    assert.is(`${v.depth}.${Buffer.from(unhex(v.hmac_sha512_256).subarray(0, 16)).toString('base64url')}`, v.token);
    assert.is(tokens.depthOf(msgId, recipient, topic, v.token), v.depth);
  }
  for (const v of f.invalid) {
    const [recipient, topic] = split(v.recipient);
    assert.is(tokens.depthOf(unhex(v.msg_id), recipient, topic, v.token), undefined, v.name);
  }
});

t('vectors - audit-batch.json: signatures under the verifier key, the hash chain, the broken ones refused', () => {
  const f = read<{
    verifier_id: string;
    key_id: string;
    public_key: string;
    chain_id: string;
    batches: {
      seq: number;
      prev_hash: string;
      batch: string;
      sha256: string;
      signature: string;
      signed_audit_batch: string;
      events: { event_id: string; reason: string; verdict: string; subject_sender: string }[];
    }[];
    broken: { name: string; batch: string; signature: string; signature_valid: boolean }[];
  }>('audit-batch.json');
  const pk = unhex(f.public_key);
  let prev = '00'.repeat(32);
  f.batches.forEach((b, i) => {
    assert.is(b.seq, i + 1);
    assert.is(b.prev_hash, prev, `batch ${b.seq}: prev_hash is the previous batch's SHA-256`);
    assert.is(createHash('sha256').update(unhex(b.batch)).digest('hex'), b.sha256);
    for (const be of BACKENDS) assert.ok(verifyBatchSignature(pk, unhex(b.batch), unhex(b.signature), be), `${be.name}: batch ${b.seq}`);
    assert.ok(BACKENDS[0]!.verify(pk, batchSigningInput(unhex(b.batch)), unhex(b.signature)));
    const opened = openSignedBatch(unhex(b.signed_audit_batch));
    assert.ok(opened.ok);
    if (!opened.ok) return;
    assert.is(toHex(opened.value.batchBytes), b.batch);
    assert.is(toHex(opened.value.signature), b.signature);
    const batch = opened.value.batch;
    assert.equal(
      [batch.verifierId, toHex(batch.chainId), Number(batch.seq), toHex(batch.prevHash), batch.keyId],
      [f.verifier_id, f.chain_id, b.seq, b.prev_hash, f.key_id],
    );
    assert.equal(
      batch.events.map((e) => [toHex(e.eventId ?? new Uint8Array(0)), verdictName(e.verdict ?? 0), reasonName(e.reason ?? 0), e.subjectSender]),
      b.events.map((e) => [e.event_id, e.verdict, e.reason, e.subject_sender]),
    );
    prev = b.sha256;
  });
  assert.ok(f.batches.length >= 3);
  // a gap: batch 3 after batch 1
  assert.not.equal(f.batches[2]!.prev_hash, f.batches[0]!.sha256);
  for (const x of f.broken) {
    for (const be of BACKENDS) assert.is(verifyBatchSignature(pk, unhex(x.batch), unhex(x.signature), be), x.signature_valid, `${be.name}: ${x.name}`);
    assert.ok(AuditBatch.decode(unhex(x.batch)).events.length > 0);
  }
});

t.run();
