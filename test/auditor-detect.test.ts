// Each detector fires on a scripted incident and stays quiet on the same traffic without it.
// Real chDB; aggregates come from the materialized views; simulated time (explicit `now`).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from './helpers/nats-server.js';
import { auditEvent, Reason, Verdict } from './helpers/audit-fixtures.js';
import type { EventSpec } from './helpers/audit-fixtures.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AuditStore } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import { createDetectionEngine } from '../packages/server/src/auditor/detect.js';
import type { Alert } from '../packages/server/src/auditor/detect.js';
import type { AuditEvent } from '../packages/protocol/src/proto.js';

const MIN = 60_000;
const AGENTS = ['a0', 'a1', 'a2', 'a3', 'a4'];
// Simulated hours end two minutes ago (rows must be inside the TTL).
const T0 = Math.floor((Date.now() - 3 * 3600_000) / MIN) * MIN;
const NOW = T0 + 119 * MIN + 30_000;

let dir: string;
const stores: AuditStore[] = [];

// Deterministic pseudo-random numbers, so the clean traffic is the same every run.
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

/** Two hours of ordinary traffic: each agent talks to both neighbours, 1–5 messages a minute. */
function baseline(): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let m = 0; m < 120; m++) {
    for (let i = 0; i < AGENTS.length; i++) {
      const n = 1 + Math.floor(rnd() * 5);
      for (let k = 0; k < n; k++) {
        const peer = AGENTS[(i + (k % 2 ? 1 : AGENTS.length - 1)) % AGENTS.length]!;
        out.push(auditEvent({ from: AGENTS[i]!, to: peer, at: T0 + m * MIN + Math.floor(rnd() * 59_000), payload: `{"task":${rnd()}}` }));
      }
    }
  }
  return out;
}
const BASE = baseline();

async function storeWith(name: string, extra: EventSpec[]): Promise<AuditStore> {
  const s = await openStore(storeConfigSchema.parse({ url: join(dir, 'db'), database: name }));
  await s.migrate();
  stores.push(s);
  await s.insertRows([...BASE, ...extra.map(auditEvent)].map(eventToRow));
  return s;
}

const at = (minute: number, i = 0) => T0 + minute * MIN + i * 37;
const rules = (alerts: Alert[]) => alerts.map((a) => a.rule).sort();

let clean: AuditStore;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-detect-'));
  clean = await storeWith('clean', []);
});
test.after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test('detect - clean traffic raises no alert at any time of the simulated hour', async () => {
  const engine = createDetectionEngine({ store: clean, config: { cooldownMs: 0 } });
  for (let m = 30; m <= 119; m += 3) {
    const alerts = await engine.evaluate(T0 + m * MIN + 30_000);
    assert.equal(alerts, [], `minute ${m}: ${JSON.stringify(alerts)}`);
  }
});

/** `from` probing an out-of-scope recipient: 40 rejections (destination_not_allowed) of messages to vault in minutes 116 to 119. */
const probes = (from: string) =>
  Array.from({ length: 40 }, (_, i) => ({
    from,
    to: 'vault',
    at: at(116 + (i % 4), i),
    verdict: Verdict.VERDICT_REJECTED,
    reason: Reason.REASON_DESTINATION_NOT_ALLOWED,
  }));

test('detect - rejection burst: an agent probing an out-of-scope recipient', async () => {
  const s = await storeWith('burst', probes('a1'));
  const alerts = await createDetectionEngine({ store: s }).evaluate(NOW);
  const burst = alerts.find((a) => a.rule === 'rejection_burst');
  assert.ok(burst, JSON.stringify(alerts));
  assert.equal(burst!.agents, ['a1']);
  assert.is(burst!.evidence['rejected'], 40);
  assert.equal(burst!.evidence['by_reason'], { destination_not_allowed: 40 });
  // the probe is also a first-seen edge, rated up because it was rejected
  const edge = alerts.find((a) => a.rule === 'new_edge');
  assert.is(edge?.severity, 'medium');
  assert.equal(edge?.agents, ['a1', 'vault']);
});

test("detect - two passes at once run one after the other: when the second returns, the first one's alerts are stored", async () => {
  const s = await storeWith('serial', probes('a2'));
  const engine = createDetectionEngine({ store: s });
  const order: string[] = [];
  const first = engine.evaluate(NOW).then((a) => (order.push('first'), a));
  const second = engine.evaluate(NOW).then((a) => (order.push('second'), a));
  const again = await second;
  assert.equal(order, ['first', 'second'], 'the second pass waited for the first');
  assert.not.ok(
    again.some((a) => a.rule === 'rejection_burst'),
    'the second is suppressed by the first (cooldown)',
  );
  const stored = await s.query<{ rule: string }>(`SELECT rule FROM ${s.table('alerts')} FINAL WHERE rule = 'rejection_burst'`);
  assert.is(stored.length, 1, 'the first pass had stored its alert when the second returned');
  assert.ok((await first).some((a) => a.rule === 'rejection_burst'));
});

test('detect - rate spike against the agent own baseline', async () => {
  const s = await storeWith(
    'spike',
    Array.from({ length: 200 }, (_, i) => ({ from: 'a2', to: 'a3', at: at(117 + (i % 3), i), payload: `{"i":${i}}` })),
  );
  const alerts = await createDetectionEngine({ store: s }).evaluate(NOW);
  assert.equal(rules(alerts), ['rate_spike']);
  assert.equal(alerts[0]!.agents, ['a2']);
  assert.ok((alerts[0]!.evidence['ratio'] as number) >= 5);
});

test('detect - first-seen edge after the learning period, none during it', async () => {
  const s = await storeWith('edge', [
    { from: 'a3', to: 'a0', at: at(118) },
    { from: 'a3', to: 'a1', at: at(20) },
  ]);
  const engine = createDetectionEngine({ store: s });
  const alerts = await engine.evaluate(NOW);
  assert.equal(rules(alerts), ['new_edge']);
  assert.equal(alerts[0]!.agents, ['a3', 'a0']);
  assert.is(alerts[0]!.severity, 'low');
  // a3 → a1 first appeared at minute 20, inside the 60-minute learning period
  assert.equal(await createDetectionEngine({ store: s }).evaluate(T0 + 20 * MIN + 30_000), []);
  // cooldown: the same finding again is not re-alerted
  assert.equal(await engine.evaluate(NOW + 1000), []);
  assert.is(engine.stats().suppressed, 1);
});

test('detect - signature and replay failures: a forged-key sender and a replay storm', async () => {
  const forged = Array.from({ length: 4 }, (_, i) => ({
    from: 'a4',
    to: 'a0',
    at: at(118, i),
    forged: true,
    verdict: Verdict.VERDICT_REJECTED,
    reason: Reason.REASON_BAD_SIGNATURE,
  }));
  const replays = Array.from({ length: 6 }, (_, i) => ({
    from: 'a0',
    to: 'a1',
    at: at(117, i),
    verdict: Verdict.VERDICT_REJECTED,
    reason: Reason.REASON_REPLAY,
  }));
  const s = await storeWith('sig', [...forged, ...replays]);
  const alerts = (await createDetectionEngine({ store: s }).evaluate(NOW)).filter((a) => a.rule === 'signature_failure');
  alerts.sort((a, b) => (a.agents[0]! < b.agents[0]! ? -1 : 1));
  assert.is(alerts.length, 2);
  assert.equal(
    alerts.map((a) => [a.agents[0], a.severity, a.evidence['by_reason']]),
    [
      ['a0', 'high', { replay: 6 }],
      ['a4', 'critical', { bad_signature: 4 }],
    ],
  );
});

test('detect - one refused tool call is an alert (tool_refusal), naming the agent and the reasons; the tool server columns are filled', async () => {
  const s = await storeWith('tools', [
    {
      from: 'a1',
      to: 'fs',
      type: 'tool.fs.read_file',
      at: at(118, 1),
      verdict: Verdict.VERDICT_REJECTED,
      reason: Reason.REASON_ARGUMENT_REFUSED,
      detail: 'args.path is outside /srv/project',
    },
    { from: 'a3', to: 'fs', type: 'tool.fs.read_file', at: at(118, 2) },
  ]);
  const alerts = (await createDetectionEngine({ store: s }).evaluate(NOW)).filter((a) => a.rule === 'tool_refusal');
  assert.equal(
    alerts.map((a) => [a.agents, a.severity, a.evidence['by_reason']]),
    [[['a1'], 'high', { argument_refused: 1 }]],
  );
  const cols = await s.query<{ sender: string; tool_server: string; tool_name: string }>(
    `SELECT sender, tool_server, tool_name FROM ${s.table('audit_events')} WHERE tool_server != '' ORDER BY sender`,
  );
  assert.equal(cols, [
    { sender: 'a1', tool_server: 'fs', tool_name: 'read_file' },
    { sender: 'a3', tool_server: 'fs', tool_name: 'read_file' },
  ]);
});

test('detect - content guards: a rejected credential and a flagged hidden instruction from one agent are one content_guard alert', async () => {
  const s = await storeWith('guards', [
    {
      from: 'a2',
      to: 'a3',
      at: at(118, 1),
      verdict: Verdict.VERDICT_REJECTED,
      reason: Reason.REASON_CREDENTIAL_DETECTED,
      detail: 'credential at $.text (secretlint:github/GITHUB_TOKEN)',
    },
    { from: 'a2', to: 'a3', at: at(118, 2), reason: Reason.REASON_INVISIBLE_TEXT, detail: 'flagged: invisible_text at $.text (tag_chars)' },
  ]);
  const alerts = (await createDetectionEngine({ store: s }).evaluate(NOW)).filter((a) => a.rule === 'content_guard');
  assert.equal(
    alerts.map((a) => [a.agents, a.evidence['by_reason']]),
    [[['a2'], { credential_detected: 1, invisible_text: 1 }]],
  );
});

test('detect - one forged signature from an authenticated sender is an alert at once (a patient attacker cannot wait out a threshold); two replays are not', async () => {
  const s = await storeWith('sig_once', [
    { from: 'a3', to: 'a0', at: at(100), forged: true, verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_BAD_SIGNATURE },
    ...[0, 1].map((i) => ({ from: 'a1', to: 'a2', at: at(118, i), verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_REPLAY })),
  ]);
  const engine = createDetectionEngine({ store: s, config: { rules: { signature_failure: { windowMinutes: 60 } } } });
  const alerts = (await engine.evaluate(NOW)).filter((a) => a.rule === 'signature_failure');
  assert.equal(
    alerts.map((a) => [a.agents, a.severity]),
    [[['a3'], 'critical']],
  );
});

test('detect - slow fan-out to many recipients', async () => {
  const s = await storeWith(
    'fanout',
    Array.from({ length: 12 }, (_, i) => ({ from: 'a4', to: `ext${i}`, at: at(65 + i * 4) })),
  );
  const alerts = await createDetectionEngine({ store: s, config: { rules: { new_edge: { enabled: false } } } }).evaluate(NOW);
  assert.equal(rules(alerts), ['fan_out']);
  assert.equal(alerts[0]!.agents, ['a4']);
  assert.is(alerts[0]!.evidence['distinct_destinations'], 14);
});

test('detect - fan-out of a sender with no history needs 3 × the threshold (no warm-up false alerts)', async () => {
  const fresh = (n: number) => Array.from({ length: n }, (_, i) => ({ from: 'newbie', to: `svc${i}`, at: at(100 + (i % 15), i) }));
  const cfg = { rules: { new_edge: { enabled: false } } };
  const quiet = await createDetectionEngine({ store: await storeWith('fanout_new', fresh(12)), config: cfg }).evaluate(NOW);
  assert.equal(
    quiet.filter((a) => a.agents.includes('newbie')),
    [],
  );
  const loud = await createDetectionEngine({ store: await storeWith('fanout_new_loud', fresh(30)), config: cfg }).evaluate(NOW);
  assert.equal(
    loud.filter((a) => a.agents.includes('newbie')).map((a) => a.rule),
    ['fan_out'],
  );
});

test('detect - a causal loop across three agents: one alert naming all three; it goes to NATS and the alerts table', async () => {
  // a1 → a2 → a3 → a1 → …, each message caused by the one before, the same three payloads coming round
  const ids = Array.from({ length: 9 }, () => randomBytes(16));
  const ring = ['a1', 'a2', 'a3'];
  const loop = ids.map((msgId, i) => ({
    from: ring[i % 3]!,
    to: ring[(i + 1) % 3]!,
    at: at(110 + i, i),
    payload: `{"step":${i % 3}}`,
    msgId,
    ...(i ? { causationId: ids[i - 1]! } : {}),
  }));
  // and what is not a loop: the same status ping many times, the same ack to many different requests
  const pings = Array.from({ length: 40 }, (_, i) => ({ from: 'b1', topic: 'status', at: at(100 + (i % 20), i), payload: '{"status":"ok"}' }));
  const reqs = Array.from({ length: 10 }, () => randomBytes(16));
  const acks = reqs.flatMap((msgId, i) => [
    { from: 'c1', to: 'c2', at: at(100 + i, 1), payload: `{"task":${i}}`, msgId },
    { from: 'c2', to: 'c1', at: at(100 + i, 2), payload: '{"ok":true}', causationId: msgId },
  ]);
  const s = await storeWith('loop', [...loop, ...pings, ...acks]);
  const server = await startNatsServer({ jetstream: false });
  const nc = await connect({ servers: server.url });
  try {
    const got: Alert[] = [];
    const sub = nc.subscribe('agentbus.alert.>', { callback: (_e, m) => void got.push(m.json<Alert>()) });
    await nc.flush();
    const alerts = await createDetectionEngine({ store: s, nc }).evaluate(NOW);
    assert.equal(rules(alerts), ['payload_loop']);
    assert.equal(alerts[0]!.agents, ['a1', 'a2', 'a3']);
    assert.is(alerts[0]!.evidence['hops'], 3);
    assert.is(alerts[0]!.evidence['repeats'], 3);
    await nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    sub.unsubscribe();
    assert.is(got.length, 1);
    assert.is(got[0]!.rule, 'payload_loop');
    assert.is(got[0]!.alert_id, alerts[0]!.alert_id);
    const rows = await s.query<{ rule: string; agents: string[]; severity: string }>(`SELECT rule, agents, severity FROM ${s.table('alerts')} FINAL`);
    assert.equal(rows, [{ rule: 'payload_loop', agents: ['a1', 'a2', 'a3'], severity: 'high' }]);
    // a restarted engine remembers the cooldown from the alerts table
    assert.equal(await createDetectionEngine({ store: s }).evaluate(NOW + 2 * MIN), []);
  } finally {
    await nc.close();
    await server.stop();
  }
});

test.run();
