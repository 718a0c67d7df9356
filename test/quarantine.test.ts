// Issue 24 item 8: a flooding sender is stopped before the verifier. Past its rejection budget
// the verifier quarantines it (the subject sender, whom NATS authenticated), the bus's config
// follower leaves its user out of the nats-server config and reloads the server: it is
// disconnected, refused ("Authorization Violation"), and its messages never reach the verifier. An
// alert and an audit row say so; an honest agent keeps working; the quarantine ends by itself
// after the cool-down (which grows while the flood lasts) or with `agentbus keys release`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { Verdict, reasonName } from '../packages/protocol/src/proto.js';
import { startAuditor } from '../packages/server/src/auditor/service.js';
import type { Auditor } from '../packages/server/src/auditor/service.js';
import { openQuarantineKv } from '../packages/server/src/common/quarantine.js';
import { startBus, waitFor, sleep } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { sealAs, badSignature, request, captureDeliveries } from './helpers/hostile.js';
import { cliArgs } from './helpers/cli-bin.js';

let bus: TestBus;
let auditor: Auditor;
let alertsNc: NatsConnection;
const alerts: { rule: string; agents: string[]; evidence: Record<string, unknown> }[] = [];
let mallory: NatsConnection;
let disconnects = 0;
let planner: NatsConnection;

test.before(async () => {
  bus = await startBus({
    verifiers: 1,
    quarantine: { ms: 2500, maxMs: 20_000 },
    agents: {
      planner: { send: [{ to: 'coder', types: ['task.assign'] }], rate: { per_second: 1000, burst: 1000 } },
      coder: {},
      mallory: { send: [{ to: 'coder', types: ['task.assign'] }], rejections: { per_second: 1, burst: 5 } },
    },
  });
  auditor = await startAuditor({
    nats: { url: bus.url, credsFile: bus.credsPath('auditor') },
    store: { url: join(bus.dir, 'audit-db') },
    consumer: { batchMaxWaitMs: 1000, ackWaitMs: 5000 },
    detect: { intervalMs: 3_600_000 },
    logLevel: 'silent',
  });
  alertsNc = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.auditorCreds.natsSeed()), inboxPrefix: '_INBOX_auditor' });
  alertsNc.subscribe('agentbus.alert.>', { callback: (_e, m) => void alerts.push(JSON.parse(new TextDecoder().decode(m.data))) });
  await alertsNc.flush();
  await captureDeliveries(await bus.rawAgent('coder'), 'coder');
  planner = await bus.rawAgent('planner');
  mallory = await connectMallory();
});
test.after(async () => {
  await alertsNc?.close();
  await auditor?.stop();
  await bus.stop();
});

/** mallory, open loop: `n` envelopes with a bad signature whose header claims to be planner's, as fast as it can publish. */
function floodFromMallory(n: number): void {
  const junk = badSignature(sealAs(bus, 'mallory', { sender: 'planner' }));
  for (let i = 0; i < n; i++) {
    try {
      mallory.publish('agentbus.in.mallory', junk, { reply: 'agentbus.inbox.mallory.flood' });
    } catch {
      // quarantined: the connection is closed
    }
  }
}

/** A connection as mallory (refused by nats-server while it is quarantined); counts its disconnects. */
async function connectMallory(): Promise<NatsConnection> {
  const nc = await connect({
    servers: bus.url,
    authenticator: nkeyAuthenticator(bus.ids.get('mallory')!.natsSeed()),
    inboxPrefix: 'agentbus.inbox.mallory',
    maxReconnectAttempts: 0,
    // nats-server 2.9 drops a connection whose handshake overlaps a reload (the release is one):
    // without a short timeout nats.js waits 20 s for it, past malloryAnswered's wait
    timeout: 2000,
  });
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'disconnect') disconnects++;
  })();
  return nc;
}

/**
 * mallory's messages reach the verifier again: it connects anew (what it had buffered while
 * cut off is dropped with the old connection) and a request is answered.
 */
async function malloryAnswered(ms = 5000): Promise<void> {
  await mallory.close().catch(() => undefined);
  await waitFor(
    async () => {
      try {
        mallory = await connectMallory();
      } catch {
        return false; // refused: still quarantined
      }
      return (await request(mallory, 'mallory', badSignature(sealAs(bus, 'mallory')), 1000).catch(() => undefined))?.verdict === Verdict.VERDICT_REJECTED;
    },
    ms,
    'mallory answered again',
  );
}

/** Wait until the verifier has decided everything mallory had sent (nothing more arrives for 500 ms). */
async function settled(): Promise<void> {
  const v = bus.verifiers[0]!;
  let last = -1;
  while (last !== v.stats.received) {
    last = v.stats.received;
    await sleep(500);
  }
}

async function plannerWorks(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) {
    const a = await request(planner, 'planner', sealAs(bus, 'planner').bytes);
    assert.is(a.verdict, Verdict.VERDICT_ACCEPTED, reasonName(a.reason));
  }
}

/** The audit rows (stored by the auditor) that report mallory quarantined, oldest first. */
const quarantineEvents = async () =>
  (
    await auditor.store.query<{ detail: string; shed_count: number; header_hex: string; header_sender: string }>(
      `SELECT detail, shed_count, header_hex, header_sender FROM ${auditor.store.table('audit_events')} FINAL WHERE sender = 'mallory' AND detail LIKE '%quarantined at NATS until%' ORDER BY time`,
    )
  ).map((r) => ({ ...r, shedCount: Number(r.shed_count) }));

test('quarantine - a flooder past its budget is cut off at NATS; its messages stop before the verifier', async () => {
  const v = bus.verifiers[0]!;
  floodFromMallory(2000);
  await waitFor(() => bus.quarantined().agents.includes('mallory'), 5000, 'mallory quarantined');
  assert.equal(bus.quarantined().agents, ['mallory'], 'only the subject sender: the header claimed planner');
  // nats-server dropped its connection at the reload, and refuses it while it is quarantined
  await waitFor(() => disconnects > 0, 3000, 'mallory disconnected');
  await sleep(300); // what was in flight before the reload has arrived
  const before = v.stats.received;
  const refused = await connectMallory().then(
    (nc) => nc.close().then(() => ''),
    (e: Error) => e.message,
  );
  assert.match(refused, /Authorization Violation/i);
  floodFromMallory(2000); // into the closed connection: nothing leaves mallory
  await sleep(500);
  assert.is(v.stats.received, before, 'no message of the quarantined sender reached the verifier');
  // the honest agent keeps working, and was not quarantined by the forged header naming it
  await plannerWorks();
  const kv = await openQuarantineKv(await bus.admin());
  assert.is(await kv.get('planner'), null);
  const rec = JSON.parse((await kv.get('mallory'))!.string()) as { agent: string; level: number; until_ms: number; by: string };
  assert.is(rec.agent, 'mallory');
  assert.is(rec.level, 0);
  assert.is(rec.by, 'v1');
  // the audit row: the shed summary that quarantined it (its count, until when)
  await waitFor(async () => (await quarantineEvents()).length === 1, 10_000, 'quarantine audit row');
  const [ev] = await quarantineEvents();
  assert.ok(ev!.shedCount >= 1);
  assert.match(ev!.detail!, new RegExp(`quarantined at NATS until ${new Date(rec.until_ms).toISOString().replace(/\./g, '\\.')} \\(cool-down 2\\.5 s, #1\\)`));
  assert.is(ev!.header_hex, '');
  assert.is(ev!.header_sender, '');
  // the alert, from the auditor that stored that row
  await waitFor(() => alerts.some((a) => a.rule === 'sender_quarantined'), 10_000, 'sender_quarantined alert');
  const a = alerts.find((x) => x.rule === 'sender_quarantined')!;
  assert.equal(a.agents, ['mallory']);
  assert.is(a.evidence['until'], new Date(rec.until_ms).toISOString());
  assert.is(a.evidence['shed'], Number(ev!.shedCount));
  const stored = await auditor.store.query<{ rule: string }>(
    `SELECT rule FROM ${auditor.store.table('alerts')} FINAL WHERE rule = 'sender_quarantined' AND has(agents, 'mallory')`,
  );
  assert.is(stored.length, 1);
});

test('quarantine - released by itself after the cool-down; quarantined again for longer while the flood lasts', async () => {
  await waitFor(() => bus.quarantined().agents.length === 0, 8000, 'released after 2.5 s');
  // mallory is let back in: its messages reach the verifier again (answered)
  await malloryAnswered();
  // the flood goes on: quarantined again, the cool-down doubled
  floodFromMallory(2000);
  await waitFor(async () => (await quarantineEvents()).length === 2, 10_000, 'second quarantine');
  assert.match((await quarantineEvents())[1]!.detail!, /\(cool-down 5 s, #2\)/);
  await waitFor(() => bus.quarantined().agents.includes('mallory'), 5000, 'quarantined again');
  await plannerWorks(3);
});

test('quarantine - `agentbus keys release` ends it at once', async () => {
  // released after 5 s; mallory's messages reach the verifier again (answered)
  await waitFor(() => bus.quarantined().agents.length === 0, 8000, 'released after 5 s');
  await malloryAnswered();
  // the flood goes on once more: the third quarantine lasts 10 s
  floodFromMallory(2000);
  await waitFor(() => bus.quarantined().agents.includes('mallory'), 5000, 'quarantined again');
  await settled(); // the flood's tail still in flight would quarantine it again right after the release
  const t0 = Date.now();
  const r = spawnSync(process.execPath, cliArgs('keys', 'release', 'mallory', '--creds', bus.credsPath('verifier'), '--nats', bus.url), {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, r.stderr);
  const until = Date.parse(/mallory: released \(was quarantined until (\S+)\)/.exec(r.stdout)?.[1] ?? 'x');
  assert.ok(Number.isFinite(until), `${r.stdout} (the CLI took ${Date.now() - t0} ms)`);
  await waitFor(() => bus.quarantined().agents.length === 0, 2000, 'released by the CLI');
  // released at once: the servers let mallory in again while its cool-down still had time to run
  assert.ok(Date.now() < until, `released before its cool-down would have ended (the CLI took ${Date.now() - t0} ms)`);
  await malloryAnswered(10_000).catch((e: Error) => {
    throw new Error(
      `${e.message} (${JSON.stringify(bus.quarantined())}; ${bus.logs
        .join('')
        .split('\n')
        .filter((l) => /quarantin|mallory/.test(l))
        .slice(-12)
        .map((l) => l.slice(0, 260))
        .join('\n')})`,
    );
  });
  await waitFor(async () => (await quarantineEvents()).length === 3, 10_000, 'third quarantine row');
  assert.match((await quarantineEvents())[2]!.detail!, /\(cool-down 10 s, #3\)/);
  const kv = await openQuarantineKv(await bus.admin());
  const rec = JSON.parse((await kv.get('mallory'))!.string()) as { released_by?: string };
  assert.match(rec.released_by ?? '', /^cli:/);
  // a second release says there is nothing to release
  const again = spawnSync(process.execPath, cliArgs('keys', 'release', 'mallory', '--creds', bus.credsPath('verifier'), '--nats', bus.url), {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, /mallory: not quarantined/);
  await plannerWorks(3);
});

test.run();
