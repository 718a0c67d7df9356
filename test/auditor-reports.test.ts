// Reports return the right numbers on a known data set (inserted twice, as after a
// redelivery); the SQL passthrough refuses writes; stored rows re-verify against the
// senders' keys, and a row altered in the store is reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { auditEvent, malformedEvent, Reason, Verdict } from './helpers/audit-fixtures.js';
import { AuditEvent } from '../packages/protocol/src/proto.js';
import { loadDetectorInput } from '../packages/server/src/auditor/detect.js';
import { rulesSchema } from '../packages/server/src/auditor/detectors/index.js';
import type { EventSpec } from './helpers/audit-fixtures.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AuditStore } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import type { AuditRow } from '../packages/server/src/auditor/rows.js';
import { topTalkers, edges, rejections, trail, readOnlySql, alerts, ReadOnlyQueryError } from '../packages/server/src/auditor/reports.js';
import { createDetectionEngine } from '../packages/server/src/auditor/detect.js';

const MIN = 60_000;
const T = Math.floor((Date.now() - 3600_000) / MIN) * MIN;
let dir: string;
let store: AuditStore;
const M1 = randomBytes(16);
const TRACE = randomBytes(16);
const DUP = randomBytes(16);
let rows: AuditRow[];

const R = Verdict.VERDICT_REJECTED;
function dataset(): EventSpec[] {
  const s: EventSpec[] = [];
  let i = 0;
  const at = () => T + 1000 * i++;
  for (let k = 0; k < 5; k++)
    s.push({ from: 'alice', to: 'bob', at: at(), ...(k === 0 ? { msgId: M1, traceId: TRACE } : {}), ...(k === 1 ? { msgId: DUP } : {}) });
  s.push({ from: 'alice', to: 'bob', at: at(), msgId: DUP, verdict: Verdict.VERDICT_DUPLICATE });
  for (let k = 0; k < 2; k++) s.push({ from: 'alice', to: 'carol', at: at() });
  s.push({ from: 'alice', to: 'carol', at: at(), verdict: R, reason: Reason.REASON_TYPE_NOT_ALLOWED, type: 'admin.reset' });
  s.push({ from: 'bob', to: 'alice', at: at(), causationId: M1, traceId: TRACE });
  for (let k = 0; k < 2; k++) s.push({ from: 'bob', to: 'alice', at: at() });
  for (let k = 0; k < 4; k++) s.push({ from: 'mallory', to: 'vault', at: at(), verdict: R, reason: Reason.REASON_DESTINATION_NOT_ALLOWED });
  for (let k = 0; k < 2; k++) s.push({ from: 'mallory', to: 'bob', at: at(), verdict: R, reason: Reason.REASON_BAD_SIGNATURE, forged: true });
  for (let k = 0; k < 2; k++) s.push({ from: 'dave', topic: 'news', at: at() });
  return s;
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-reports-'));
  store = await openStore(storeConfigSchema.parse({ url: join(dir, 'db') }));
  await store.migrate();
  assert.equal(await store.migrate(), [], 'migrations are safe to run twice');
  rows = [...dataset().map(auditEvent), malformedEvent('eve', T + 30_000)].map(eventToRow);
  await store.insertRows(rows);
  await store.insertRows(rows); // a redelivery: every report must still count once
});
test.after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('reports - top talkers with the verdict split', async () => {
  assert.equal(await topTalkers(store, { since: T - MIN }), [
    { sender: 'alice', total: 9, accepted: 7, rejected: 1, duplicate: 1 },
    { sender: 'mallory', total: 6, accepted: 0, rejected: 6, duplicate: 0 },
    { sender: 'bob', total: 3, accepted: 3, rejected: 0, duplicate: 0 },
    { sender: 'dave', total: 2, accepted: 2, rejected: 0, duplicate: 0 },
    { sender: 'eve', total: 1, accepted: 0, rejected: 1, duplicate: 0 },
  ]);
  assert.equal((await topTalkers(store, { since: T - MIN, limit: 1 })).length, 1);
  assert.equal(await topTalkers(store, { since: T + 3600_000 }), []);
});

test('reports - communication edges with rejected counts', async () => {
  const e = (await edges(store, { since: T - MIN })).map(({ sender, destination, total, accepted, rejected }) => [
    sender,
    destination,
    total,
    accepted,
    rejected,
  ]);
  assert.equal(e, [
    ['alice', 'bob', 6, 5, 0],
    ['mallory', 'vault', 4, 0, 4],
    ['alice', 'carol', 3, 2, 1],
    ['bob', 'alice', 3, 3, 0],
    ['dave', 'topic:news', 2, 2, 0],
    ['mallory', 'bob', 2, 0, 2],
  ]);
});

test('reports - rejections by reason', async () => {
  assert.equal(await rejections(store, { since: T - MIN }), [
    { reason: 'destination_not_allowed', count: 4, senders: 1, top_sender: 'mallory' },
    { reason: 'bad_signature', count: 2, senders: 1, top_sender: 'mallory' },
    { reason: 'malformed', count: 1, senders: 1, top_sender: 'eve' },
    { reason: 'type_not_allowed', count: 1, senders: 1, top_sender: 'alice' },
  ]);
});

test('reports - trail by msg_id (message and what it caused) and by trace_id', async () => {
  const m1 = M1.toString('hex');
  const t = await trail(store, { msgId: m1 });
  assert.equal(
    t.map((r) => [r.relation, r.sender, r.destination, r.verdict]),
    [
      ['message', 'alice', 'bob', 'accepted'],
      ['caused', 'bob', 'alice', 'accepted'],
    ],
  );
  assert.is(t[1]!.causation_id, m1);
  const dup = await trail(store, { msgId: DUP.toString('hex') });
  assert.equal(
    dup.map((r) => r.verdict),
    ['accepted', 'duplicate'],
  );
  const tr = await trail(store, { traceId: TRACE.toString('hex') });
  assert.is(tr.length, 2);
});

test('reports - alerts report lists stored alerts', async () => {
  const engine = createDetectionEngine({ store, config: { rules: { rejection_burst: { minRejected: 5 } } } });
  const fired = await engine.evaluate(T + 40_000);
  assert.ok(
    fired.some((a) => a.rule === 'rejection_burst' && a.agents[0] === 'mallory'),
    JSON.stringify(fired),
  );
  const listed = await alerts(store, { since: T - MIN, until: T + MIN });
  assert.is(listed.length, fired.length);
  const burst = (await alerts(store, { since: T - MIN, until: T + MIN, rule: 'rejection_burst' }))[0]!;
  assert.is(burst.evidence['rejected'], 6);
});

/** The error `p` rejects with; fails the test when it resolves (outside any catch, so the failure cannot be swallowed). */
async function errorOf(p: Promise<unknown>, what: string): Promise<unknown> {
  const r = await p.then(
    () => ({ ok: true as const }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  if (r.ok) assert.unreachable(`${what}: succeeded`);
  return r.ok ? undefined : r.e;
}

test('reports - SQL passthrough reads, and refuses anything that writes', async () => {
  const r = await readOnlySql(store, `-- analyst\nSELECT count() AS n FROM agentbus.audit_events FINAL WHERE sender = {s:String};`, { s: 'alice' });
  assert.equal(
    r.map((x) => Number(x['n'])),
    [9],
  );
  assert.ok((await readOnlySql(store, 'SHOW TABLES FROM agentbus')).length >= 5);
  for (const bad of [
    'DROP TABLE agentbus.audit_events',
    "INSERT INTO agentbus.alerts (rule) VALUES ('x')",
    'ALTER TABLE agentbus.audit_events DELETE WHERE 1',
    'SELECT 1; DROP TABLE agentbus.alerts',
    '/* hidden */ TRUNCATE TABLE agentbus.alerts',
  ]) {
    assert.instance(await errorOf(readOnlySql(store, bad), bad), ReadOnlyQueryError, bad);
  }
  // The text check is not the only fence: the server runs it with readonly = 1.
  const e = await errorOf(readOnlySql(store, 'SELECT * FROM agentbus.audit_events SETTINGS readonly = 0'), 'settings change');
  assert.not.instance(e, ReadOnlyQueryError);
  assert.match(String((e as Error)?.message), /Cannot modify 'readonly' setting in readonly mode/, "refused by the server's readonly = 1");
  const [n] = await store.query<{ n: number }>(`SELECT count() AS n FROM system.tables WHERE database = 'agentbus'`);
  assert.ok(Number(n!.n) >= 7);
});

// `audit verify` is tested against signed batches in test/audit-integrity.test.ts.

test('reports - a shed row counts as the messages it stands for (rejections, top talkers, detectors)', async () => {
  const shed = eventToRow(
    AuditEvent.create({
      eventId: randomBytes(16),
      verifierId: 'v1',
      verifiedAtMs: T + 50_000,
      windowStartMs: T + 49_000,
      verdict: Verdict.VERDICT_REJECTED,
      reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED,
      subjectSender: 'flooder',
      shedCount: 500,
    }),
  );
  await store.insertRows([shed]);
  const rej = await rejections(store, { since: T - MIN, until: T + 10 * MIN });
  assert.equal(
    rej.find((x) => x.reason === 'rejection_budget_exceeded'),
    { reason: 'rejection_budget_exceeded', count: 500, senders: 1, top_sender: 'flooder' },
  );
  const top = await topTalkers(store, { since: T - MIN, until: T + 10 * MIN });
  assert.is(top.find((x) => x.sender === 'flooder')?.rejected, 500);
  const input = await loadDetectorInput(store, T + 2 * MIN, rulesSchema.parse({}));
  assert.is(
    input.minutes.filter((m) => m.sender === 'flooder').reduce((a, m) => a + m.events, 0),
    500,
  );
});

test.run();
