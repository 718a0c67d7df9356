// First alerts within seconds (issue 28 item 3): the threshold detectors (plugin.ts
// `thresholdRule`) also run every few seconds over the open minute, so a threshold rule's first
// alert does not wait for the minute schedule; the same alert is not raised again by the next
// threshold pass nor by the minute pass (cooldown, and the window it already covers).
// The engine on simulated time (chDB), then a real bus + verifier + auditor whose minute
// schedule is an hour: the alert can only have come from the threshold schedule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { auditEvent, Reason, Verdict } from './helpers/audit-fixtures.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AuditStore } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import { createDetectionEngine } from '../packages/server/src/auditor/detect.js';
import type { Alert } from '../packages/server/src/auditor/detect.js';
import { DETECTORS, RULES, THRESHOLD_RULES, detectorSet } from '../packages/server/src/auditor/detectors/index.js';
import * as rejectionBurst from '../packages/server/src/auditor/detectors/rejection-burst.js';
import { startAuditor } from '../packages/server/src/auditor/service.js';
import type { Auditor } from '../packages/server/src/auditor/service.js';
import { startBus } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { RejectedError } from '../packages/sdk/src/errors.js';
import { spawnSync } from 'node:child_process';
import { cliArgs } from './helpers/cli-bin.js';

const MIN = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'agentbus-alerts-fast-'));
const stores: AuditStore[] = [];
test.after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test('threshold rules - which detectors run early, and a threshold detector may read nothing but minutes', () => {
  assert.equal([...THRESHOLD_RULES], ['rejection_burst', 'signature_failure', 'tool_refusal', 'content_guard', 'memory_refusal']);
  for (const d of DETECTORS) {
    const early = 'thresholdRule' in d && d.thresholdRule === true;
    assert.is(early, THRESHOLD_RULES.includes(d.rule as never), d.rule);
    if (early) assert.not.ok('inputs' in d, `${d.rule} asks for more than minutes`);
  }
  for (const slow of ['rate_spike', 'new_edge', 'fan_out', 'payload_loop', 'policy_probe'])
    assert.ok(RULES.includes(slow as never) && !THRESHOLD_RULES.includes(slow as never), slow);
  assert.throws(() => detectorSet([{ ...rejectionBurst, inputs: () => ({ edgesMinutes: 5 }) }]), /rejection_burst.*a threshold detector reads only minutes/);
});

test('engine - the threshold pass alerts in the open minute; the next passes and the minute pass do not raise it again', async () => {
  const s = await openStore(storeConfigSchema.parse({ url: join(dir, 'db'), database: 'early' }));
  stores.push(s);
  await s.migrate();
  const M = Math.floor((Date.now() - 3600_000) / MIN) * MIN; // a minute an hour ago (inside the TTL)
  const forged = (at: number) =>
    auditEvent({ from: 'mallory', to: 'bob', at, verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_UNKNOWN_KEY, forged: true });
  const probe = (at: number) => auditEvent({ from: 'eve', to: 'vault', at, verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_DESTINATION_NOT_ALLOWED });
  const rows = [
    ...Array.from({ length: 10 }, (_, i) => auditEvent({ from: 'alice', to: 'bob', at: M + 1000 * i })),
    forged(M + 12_000),
    ...Array.from({ length: 3 }, (_, i) => probe(M + 13_000 + i)),
  ].map(eventToRow);
  await s.insertRows(rows);
  const engine = createDetectionEngine({ store: s, config: { rules: { rejection_burst: { minRejected: 3 } } } });
  const rules = (a: Alert[]) => a.map((x) => `${x.rule}:${x.agents[0]}`).sort();

  // 15 s into the minute: the forged message (signature_failure fires at the first forgery) and eve's 3 probes
  const first = await engine.evaluateThresholds(M + 15_000);
  assert.equal(rules(first), ['rejection_burst:eve', 'signature_failure:mallory']);
  const burst = first.find((a) => a.rule === 'rejection_burst')!;
  assert.equal([burst.window_end, burst.evidence['rejected']], [new Date(M + MIN).toISOString(), 3], 'the window ends with the open minute');
  assert.is(burst.msg_ids?.length, 3, 'the messages it is about');
  assert.is((await s.query(`SELECT 1 FROM ${s.table('alerts')} FINAL WHERE rule = 'rejection_burst'`)).length, 1, 'stored');
  // more of the same in the same minute: no second alert from the next passes
  const more = [forged(M + 20_000), probe(M + 21_000), probe(M + 22_000)].map(eventToRow);
  await s.insertRows(more);
  assert.equal(await engine.evaluateThresholds(M + 23_000), []);
  assert.equal(await engine.evaluateThresholds(M + 41_000), []);
  // the minute closes: the full pass finds the same keys and suppresses them (cooldown)
  const full = await engine.evaluate(M + MIN + 1000);
  assert.equal(
    full.filter((a) => ['rejection_burst', 'signature_failure'].includes(a.rule)),
    [],
  );
  assert.ok(engine.stats().suppressed >= 2, JSON.stringify(engine.stats()));
  assert.equal([engine.stats().thresholdEvaluations, engine.stats().evaluations], [3, 1]);

  // a restarted engine knows what the table holds: nothing again
  const again = createDetectionEngine({ store: s, config: { rules: { rejection_burst: { minRejected: 3 } } } });
  assert.equal(await again.evaluateThresholds(M + 50_000), []);

  // cooldown 0 (another database, the same rows): the threshold passes still raise a key once per window, not every pass
  const z = await openStore(storeConfigSchema.parse({ url: join(dir, 'db'), database: 'early0' }));
  stores.push(z);
  await z.migrate();
  await z.insertRows(rows);
  const zero = createDetectionEngine({ store: z, config: { cooldownMs: 0, rules: { rejection_burst: { minRejected: 3 } } } });
  assert.equal(rules(await zero.evaluateThresholds(M + 30_000)), ['rejection_burst:eve', 'signature_failure:mallory']);
  await z.insertRows(more);
  assert.equal(await zero.evaluateThresholds(M + 32_000), []);
  assert.equal(await zero.evaluateThresholds(M + 58_000), []);
});

test('cli - agentbus auditor --threshold-interval-ms: 0 (off) or at least 250 ms; its help names the threshold rules', () => {
  const r = spawnSync(process.execPath, cliArgs('auditor', '--threshold-interval-ms', '100', '--store', join(dir, 'none')), {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /--threshold-interval-ms: 0 \(off\) or at least 250/);
  const help = spawnSync(process.execPath, cliArgs('auditor', '--help'), { encoding: 'utf8', timeout: 60_000 }).stdout.replace(/\s+/g, ' ');
  assert.ok(help.includes(`--threshold-interval-ms <ms> how often the threshold detectors (${THRESHOLD_RULES.join(', ')})`), help);
});

// ---- through a real bus: nats-server, verifier, auditor ----

let bus: TestBus | undefined;
let auditor: Auditor | undefined;
test.after(async () => {
  await auditor?.stop();
  await bus?.stop();
});

test('bus - a rejection burst is alerted within seconds, long before the minute schedule (an hour here) would run', async () => {
  bus = await startBus({
    agents: {
      alice: { send: [{ to: 'bob', types: ['task.assign'] }] },
      bob: { send: [] },
      mallory: { send: [{ to: 'alice', types: ['task.assign'] }] },
    },
  });
  auditor = await startAuditor({
    nats: { url: bus.url, credsFile: join(bus.dir, 'creds', 'auditor.json') },
    store: { url: join(dir, 'db'), database: 'bus' },
    consumer: { batchMaxWaitMs: 1000 },
    // the minute schedule would first run an hour from now: only the threshold schedule can alert
    detect: { intervalMs: 3_600_000, thresholdIntervalMs: 1000, rules: { rejection_burst: { minRejected: 3 } } },
    logLevel: 'silent',
  });
  const published: Alert[] = [];
  const watcher = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.auditorCreds.natsSeed()), inboxPrefix: '_INBOX_auditor' });
  watcher.subscribe('agentbus.alert.>', { callback: (_e, m) => void published.push(m.json<Alert>()) });
  await watcher.flush();
  const mallory = await bus.agent('mallory');
  try {
    // the minute's boundary is far: so the alert cannot be a minute pass's, whenever it comes
    const probe = async () => {
      const r = await mallory.send('bob', 'task.assign', { title: 'open the vault' }).catch((e: unknown) => e);
      assert.instance(r, RejectedError);
      assert.is((r as RejectedError).reasonName, 'destination_not_allowed');
    };
    for (let i = 0; i < 3; i++) await probe();
    const sent = Date.now();
    const stored = () =>
      auditor!.store.query<{ agents: string[]; evidence: string }>(
        `SELECT agents, evidence FROM ${auditor!.store.table('alerts')} FINAL WHERE rule = 'rejection_burst'`,
      );
    let rows = await stored();
    while (rows.length === 0 && Date.now() - sent < 15_000) {
      await new Promise((r) => setTimeout(r, 200));
      rows = await stored();
    }
    assert.is(rows.length, 1, 'a rejection_burst alert stored within 15 s of the third rejection');
    assert.equal(rows[0]!.agents, ['mallory']);
    assert.is(JSON.parse(rows[0]!.evidence).by_reason.destination_not_allowed, 3);
    assert.is(auditor.stats().detection.evaluations, 0, 'the minute schedule has not run');
    assert.ok(auditor.stats().detection.thresholdEvaluations >= 1);
    for (let i = 0; i < 50 && !published.some((a) => a.rule === 'rejection_burst'); i++) await new Promise((r) => setTimeout(r, 100));
    const pub = published.find((a) => a.rule === 'rejection_burst');
    assert.ok(pub, 'published on agentbus.alert.rejection_burst');
    assert.match(pub.sentence ?? '', /^mallory had 3 of 3 messages rejected in 5 min \(threshold 3\)/);

    // two more probes, stored, then a few threshold passes: still one alert; nor does the minute pass add one
    const before = auditor.stats().consumer.events;
    const passes = auditor.stats().detection.thresholdEvaluations;
    await probe();
    await probe();
    for (let i = 0; i < 150 && auditor.stats().consumer.events < before + 2; i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 2500)); // two and a half threshold intervals
    assert.ok(auditor.stats().detection.thresholdEvaluations > passes, 'the threshold schedule ran on the new rows');
    assert.is((await stored()).length, 1);
    assert.equal(
      (await auditor.evaluate()).filter((a) => a.rule === 'rejection_burst'),
      [],
    );
    assert.is((await stored()).length, 1);
    assert.is(published.filter((a) => a.rule === 'rejection_burst').length, 1);
  } finally {
    await mallory.close();
    await watcher.close();
  }
});

test.run();
