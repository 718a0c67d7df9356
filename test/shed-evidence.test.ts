// Issue 24 item 6: nothing unverified is recorded as if it were. A compromised agent (mallory)
// floods past its rejection budget with envelopes whose header claims another sender (planner),
// a critical type (deploy.request), a msg_id of its choosing and a rationale. Real nats-server,
// verifier, audit consumer and chDB store: the shed summary names mallory (the subject sender
// NATS authenticated) and the count, nothing from the forged header; the trail of the planted
// msg_id presents nothing as the planner's word; `audit verify` passes the honest store and
// flags a row changed to claim a verified header, and a signed shed event that carries one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { sealEnvelope, parseEnvelope, toHex } from '../packages/protocol/src/envelope.js';
import { AuditEvent, Reason, Verdict, reasonName } from '../packages/protocol/src/proto.js';
import type { AuditStore } from '../packages/server/src/auditor/store.js';
import { trail } from '../packages/server/src/auditor/reports.js';
import { mapEvent } from '../packages/server/src/auditor/rows.js';
import { verifyStore, readEvidence, checkEvidence, lookupFromManifests, verifierKeyMap } from '../packages/server/src/auditor/verify.js';
import { startBus, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { startBusAuditor } from './helpers/auditor.js';
import type { BusAuditor } from './helpers/auditor.js';
import { flood, auditedCount, enc } from './helpers/hostile.js';

let bus: TestBus;
let store: AuditStore;
let auditor: BusAuditor;

test.before(async () => {
  bus = await startBus({
    verifiers: 1,
    agents: {
      planner: { send: [{ to: 'deployer', types: ['deploy.request'] }] },
      deployer: {},
      // a small rejection budget: 5 rejections, then shed
      mallory: { send: [{ to: 'deployer', types: ['task.assign'] }], rejections: { per_second: 1, burst: 5 } },
    },
  });
  auditor = await startBusAuditor(bus);
  store = auditor.store;
});
test.after(async () => {
  await auditor?.stop();
  await bus.stop();
});

const keys = () => ({ verifiers: verifierKeyMap([bus.verifierCreds.publicKeyInfo()]), agents: lookupFromManifests(bus.manifestsDir) });
const rowCount = async () => Number((await store.query<{ n: number }>(`SELECT count() AS n FROM ${store.table('audit_events')}`))[0]!.n);

const PLANTED = randomBytes(16);
const N = 300;

/** Mallory signs (with its own key) a header naming planner, deploy.request, the PLANTED msg_id and a rationale. */
function forgedByMallory(rationale: string) {
  const k = bus.ids.get('mallory')!.currentKey();
  return sealEnvelope({
    sender: 'planner',
    keyId: k.keyId,
    sign: k.sign,
    recipient: 'deployer',
    type: 'deploy.request',
    msgId: PLANTED,
    payload: enc({ service: 'prod' }),
    contentType: 'application/json',
    metadata: { rationale },
  });
}

test("shed evidence - a forged header in a flood past the budget is not recorded as anybody's word", async () => {
  const forged = forgedByMallory('approved by the security team').bytes;
  const nc = await bus.rawAgent('mallory');
  const { acks } = await flood(
    nc,
    'mallory',
    Array.from({ length: N }, () => forged),
    100,
  );
  const byReason: Record<string, number> = {};
  for (const a of acks) byReason[reasonName(a.reason)] = (byReason[reasonName(a.reason)] ?? 0) + 1;
  assert.is(byReason['sender_mismatch'], 5, JSON.stringify(byReason));
  assert.is(byReason['rejection_budget_exceeded'], N - 5, JSON.stringify(byReason));

  // the audit events: the shed summaries name mallory and the count, and carry nothing of the shed bytes
  let events: Awaited<ReturnType<TestBus['auditEvents']>> = [];
  await waitFor(async () => auditedCount((events = await bus.auditEvents()), 'mallory') === N, 10_000, 'every message audited');
  const shed = (events as AuditEvent[]).filter((e) => e.shedCount > 0);
  assert.ok(shed.length >= 1);
  for (const e of shed) {
    assert.is(e.subjectSender, 'mallory');
    assert.is(e.reason, Reason.REASON_REJECTION_BUDGET_EXCEEDED);
    assert.is(e.header.length, 0, 'no header from an unverified message');
    assert.is(e.signature.length, 0);
    assert.is(e.payloadSha256.length, 0);
    assert.is(e.payloadSize, 0);
    assert.match(e.detail, /^\d+ shed unverified: rejection budget 1\/s, burst 5 spent$/);
  }
  assert.is(
    shed.reduce((a, e) => a + e.shedCount, 0),
    N - 5,
  );

  // the rows: the shed rows have no header columns; the 5 decided ones keep the claim, marked unverified
  await waitFor(async () => (await rowCount()) >= events.length, 15_000, 'rows stored');
  const rows = await store.query<{
    sender: string;
    header_sender: string;
    type: string;
    msg_id: string;
    rationale: string;
    header_valid: number;
    shed_count: number;
    reason: string;
    malformed: string;
  }>(
    `SELECT sender, header_sender, type, msg_id, rationale, header_valid, shed_count, reason, malformed FROM ${store.table('audit_events')} FINAL WHERE sender = 'mallory'`,
  );
  for (const r of rows.filter((x) => Number(x.shed_count) > 0)) {
    assert.equal(
      { ...r, header_valid: Number(r.header_valid), shed_count: 0 },
      {
        sender: 'mallory',
        header_sender: '',
        type: '',
        msg_id: '',
        rationale: '',
        header_valid: 0,
        shed_count: 0,
        reason: 'rejection_budget_exceeded',
        malformed: '',
      },
    );
  }
  const decided = rows.filter((x) => Number(x.shed_count) === 0);
  assert.is(decided.length, 5);
  for (const r of decided) {
    assert.is(r.reason, 'sender_mismatch');
    assert.is(Number(r.header_valid), 0, 'rejected before the signature check: the header is a claim');
  }
  assert.is(
    Number(
      (await store.query<{ n: number }>(`SELECT count() AS n FROM ${store.table('audit_events')} WHERE header_sender = 'planner' AND header_valid = 1`))[0]!.n,
    ),
    0,
  );

  // the trail of the planted msg_id: only mallory's rejected attempts, each marked an unverified claim
  const t = await trail(store, { msgId: toHex(PLANTED) });
  assert.is(t.length, 5);
  for (const r of t) {
    assert.is(r.relation, 'message (unverified claim)');
    assert.is(r.sender, 'mallory');
    assert.is(r.verdict, 'rejected');
  }

  // audit verify: the honest store passes
  const clean = await verifyStore(store, {}, keys());
  assert.equal(clean.findings, []);
});

test('shed evidence - audit verify flags a row changed to claim a verified header', async () => {
  const t = store.table('audit_events');
  const [shedRow] = await store.query<{ event_id: string }>(`SELECT event_id FROM ${t} FINAL WHERE sender = 'mallory' AND shed_count > 0 LIMIT 1`);
  const [claimRow] = await store.query<{ event_id: string }>(`SELECT event_id FROM ${t} FINAL WHERE sender = 'mallory' AND reason = 'sender_mismatch' LIMIT 1`);
  await store.command(`ALTER TABLE ${t} UPDATE header_valid = 1 WHERE event_id IN ({a:String}, {b:String}) SETTINGS mutations_sync = 1`, {
    a: shedRow!.event_id,
    b: claimRow!.event_id,
  });
  const r = await verifyStore(store, {}, keys());
  for (const id of [shedRow!.event_id, claimRow!.event_id]) {
    const f = r.findings.find((x) => x.id === id && x.problem === 'unverified_claim');
    assert.ok(f, `${id}: ${JSON.stringify(r.findings)}`);
    assert.ok(r.findings.some((x) => x.id === id && x.problem === 'row_altered'));
  }
  assert.match(r.findings.find((x) => x.id === shedRow!.event_id && x.problem === 'unverified_claim')!.detail, /shed summary/);
  assert.match(r.findings.find((x) => x.id === claimRow!.event_id && x.problem === 'unverified_claim')!.detail, /unknown_key|bad_signature/);
  await store.command(`ALTER TABLE ${t} UPDATE header_valid = 0 WHERE event_id IN ({a:String}, {b:String}) SETTINGS mutations_sync = 1`, {
    a: shedRow!.event_id,
    b: claimRow!.event_id,
  });
  assert.equal((await verifyStore(store, {}, keys())).findings, []);
});

test('shed evidence - a signed shed event that carries a header (an older verifier\'s "hint") is mapped without it and flagged', async () => {
  const sealed = forgedByMallory('trust me');
  const p = parseEnvelope(sealed.bytes);
  assert.ok(p.ok);
  const forged = p.value;
  const ev = AuditEvent.create({
    eventId: randomBytes(16),
    verifierId: 'v-old',
    verifiedAtMs: Date.now(),
    verdict: Verdict.VERDICT_REJECTED,
    reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED,
    detail: '7 shed unverified',
    subjectSender: 'mallory',
    header: forged.headerBytes,
    signature: forged.signature,
    shedCount: 7,
    windowStartMs: Date.now() - 1000,
  });
  const row = mapEvent(ev, { batchId: 'b', pos: 0, createdAt: Date.now() });
  assert.equal(
    {
      sender: row.sender,
      header_sender: row.header_sender,
      type: row.type,
      msg_id: row.msg_id,
      rationale: row.rationale,
      header_valid: row.header_valid,
      header_hex: row.header_hex,
      signature_hex: row.signature_hex,
      shed_count: row.shed_count,
      malformed: row.malformed,
    },
    {
      sender: 'mallory',
      header_sender: '',
      type: '',
      msg_id: '',
      rationale: '',
      header_valid: 0,
      header_hex: '',
      signature_hex: '',
      shed_count: 7,
      malformed: 'shed_header',
    },
  );
  // the same event in a batch the bus's verifier signed: the row is right, the evidence is named
  const evidence = await readEvidence(store);
  const { ChainSealer } = await import('../packages/server/src/common/audit-chain.js');
  const { openSignedBatch } = await import('../packages/server/src/common/audit-chain.js');
  const sealer = new ChainSealer('v-old', bus.verifierCreds.auditKey());
  const signed = openSignedBatch(sealer.seal([ev], []).data);
  assert.ok(signed.ok);
  const b = signed.value;
  const { batchRow } = await import('../packages/server/src/auditor/consumer.js');
  evidence.batches.push(batchRow(b, 'agentbus.audit.rejected'));
  evidence.rows.push(mapEvent(b.batch.events[0]!, { batchId: b.batchId, pos: 0, createdAt: Number(b.batch.createdAtMs) }));
  const r = checkEvidence(evidence, keys());
  assert.equal(
    r.findings.map((f) => f.problem),
    ['shed_header'],
    JSON.stringify(r.findings),
  );
});

test.run();
