// "One identity, two places" (issue 18 item 5): the auditor's system-account user follows
// nats-server's connect/disconnect events; one agent's credential connected twice at once is an
// identity_reuse alert naming the agent (agentbus.alert.identity_reuse and the alerts table), a
// reconnect or an agent alone is not; every event is a row of audit_connections; a recorded trace
// replayed through `agentbus detect replay` gives the same alert, a clean one none. Real
// nats-server (the generated config, accounts AGENTBUS and $SYS), real chDB (one store: this file).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { startBus, sleep, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { startAuditor } from '../packages/server/src/auditor/service.js';
import type { Auditor } from '../packages/server/src/auditor/service.js';
import type { Alert } from '../packages/server/src/auditor/detect.js';
import { SYSTEM_INBOX_PREFIX } from '../packages/server/src/common/natsconfig.js';
import { cliArgs } from './helpers/cli-bin.js';

const OVERLAP = 1500;
const dir = mkdtempSync(join(tmpdir(), 'agentbus-identity-'));
const cli = (args: string[]) => spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', timeout: 120_000 });
let bus: TestBus;
let auditor: Auditor;
let watcher: NatsConnection;
const published: Alert[] = [];

test.before(async () => {
  bus = await startBus({ agents: { alice: {}, bob: {}, carol: {} } });
  auditor = await startAuditor({
    nats: { url: bus.url, credsFile: join(bus.dir, 'creds', 'auditor.json'), systemCredsFile: bus.systemCredsPath },
    store: { url: join(dir, 'db') },
    detect: { intervalMs: 3_600_000 },
    connections: { manifestsDir: bus.manifestsDir, overlapMs: OVERLAP, learningMs: 0 },
    logLevel: 'silent',
  });
  await auditor.connections!.ready;
  // the auditor's user may subscribe the alerts (common/natsconfig.ts)
  watcher = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.auditorCreds.natsSeed()), inboxPrefix: '_INBOX_auditor' });
  watcher.subscribe('agentbus.alert.>', { callback: (_e, m) => void published.push(m.json<Alert>()) });
  await watcher.flush();
});
test.after(async () => {
  await watcher?.close();
  await auditor?.stop();
  await bus?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const stored = (rule: string) =>
  auditor.store.query<{ agents: string[]; evidence: string; severity: string }>(
    `SELECT agents, evidence, severity FROM ${auditor.store.table('alerts')} WHERE rule = {r:String}`,
    { r: rule },
  );
const rows = (agent: string) =>
  auditor.store.query<{ event: string; client_id: string; host: string; nkey: string; server: string; reason: string }>(
    `SELECT event, client_id, host, nkey, server, reason FROM ${auditor.store.table('audit_connections')} WHERE agent = {a:String} ORDER BY time`,
    { a: agent },
  );
/** Let the overlap run out and the follower resolve it. */
const settle = async () => {
  await sleep(OVERLAP + 300);
  await auditor.connections!.tick();
};

test('connections - an agent alone: its connect is a row of audit_connections, no alert', async () => {
  const nc = await bus.rawAgent('alice');
  await waitFor(async () => (await rows('alice')).some((r) => r.event === 'connect'), 5000, 'alice connect row');
  await settle();
  const r = (await rows('alice')).find((x) => x.event === 'connect')!;
  assert.is(r.nkey, bus.ids.get('alice')!.natsPublicKey);
  assert.is(r.host, '127.0.0.1');
  assert.ok(Number(r.client_id) > 0);
  assert.is((await stored('identity_reuse')).length, 0);
  await nc.close();
  await waitFor(async () => (await rows('alice')).some((x) => x.event === 'disconnect' && x.reason === 'Client Closed'), 5000, 'alice disconnect row');
});

test('connections - a reconnect (new client id, the old one gone) is no alert', async () => {
  const nc = await connect({
    servers: bus.url,
    authenticator: nkeyAuthenticator(bus.ids.get('carol')!.natsSeed()),
    inboxPrefix: 'agentbus.inbox.carol',
    reconnectTimeWait: 50,
  });
  await waitFor(async () => (await rows('carol')).filter((r) => r.event === 'connect').length === 1, 5000, 'carol connect');
  await nc.reconnect();
  await waitFor(async () => (await rows('carol')).filter((r) => r.event === 'connect').length === 2, 5000, 'carol reconnect');
  const ids = new Set((await rows('carol')).filter((r) => r.event === 'connect').map((r) => r.client_id));
  assert.is(ids.size, 2, 'a reconnect is a new client id');
  await settle();
  assert.is((await stored('identity_reuse')).filter((a) => a.agents.includes('carol')).length, 0);
  await nc.close();
});

test('connections - one credential connected twice at once: one identity_reuse alert naming the agent', async () => {
  const a = await bus.rawAgent('bob');
  const b = await bus.rawAgent('bob');
  await settle();
  await waitFor(() => published.some((x) => x.rule === 'identity_reuse'), 5000, 'the alert on agentbus.alert.identity_reuse');
  // a third connection and more time in the same incident: still one alert
  const c = await bus.rawAgent('bob');
  await settle();
  await auditor.connections!.tick(Date.now() + 60_000);
  await sleep(200);
  const got = published.filter((x) => x.rule === 'identity_reuse');
  assert.is(got.length, 1, JSON.stringify(got));
  assert.equal(got[0]!.agents, ['bob']);
  assert.is(got[0]!.severity, 'high'); // both on 127.0.0.1
  const ev = got[0]!.evidence as { agent: string; client_ids: number[]; hosts: string[]; connections: { start: string }[] };
  assert.is(ev.agent, 'bob');
  assert.is(ev.client_ids.length, 2);
  assert.ok(ev.client_ids[0] !== ev.client_ids[1]);
  assert.equal(ev.hosts, ['127.0.0.1']);
  assert.ok(ev.connections.every((x) => !Number.isNaN(Date.parse(x.start))));
  const st = await stored('identity_reuse');
  assert.is(st.length, 1);
  assert.equal(st[0]!.agents, ['bob']);
  // nobody else was alerted on
  assert.ok(
    published.every((x) => x.agents.join() === 'bob'),
    JSON.stringify(published.map((x) => x.agents)),
  );
  await Promise.all([a.close(), b.close(), c.close()]);
});

test('connections - the connections before the auditor started count (CONNZ snapshot), and the known addresses survive a restart', async () => {
  const before = await bus.rawAgent('alice');
  await auditor.stop();
  const early = await bus.rawAgent('alice'); // while no auditor follows: only CONNZ will show it
  const store = join(dir, 'db');
  auditor = await startAuditor({
    nats: { url: bus.url, credsFile: join(bus.dir, 'creds', 'auditor.json'), systemCredsFile: bus.systemCredsPath },
    store: { url: store },
    detect: { intervalMs: 3_600_000 },
    connections: { manifestsDir: bus.manifestsDir, overlapMs: OVERLAP, learningMs: 0 },
    logLevel: 'silent',
  });
  await auditor.connections!.ready;
  assert.ok((await rows('alice')).filter((r) => r.event === 'present').length >= 2, 'both listed by CONNZ');
  await settle();
  const st = (await stored('identity_reuse')).filter((a) => a.agents.includes('alice'));
  assert.is(st.length, 1, 'the two connections made around the restart are reuse');
  await Promise.all([before.close(), early.close()]);
  // the analyst queries of docs/audit.md on these rows
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'audit.md'), 'utf8');
  const block = doc.slice(doc.indexOf('-- every address each agent connected from'));
  const [addresses, sessions] = block.slice(0, block.indexOf('```')).split(/\n(?=-- one agent's sessions)/);
  const ad = await auditor.store.query<{ agent: string; host: string; connects: string }>(addresses!);
  assert.ok(
    ad.some((r) => r.agent === 'bob' && r.host === '127.0.0.1' && Number(r.connects) === 3),
    JSON.stringify(ad),
  );
  await waitFor(async () => (await rows('carol')).filter((r) => r.event === 'disconnect').length === 2, 5000, 'carol disconnects');
  const se = await auditor.store.query<{ client_id: string; reason: string }>(sessions!.replace("'planner'", "'carol'").replace("'planner'", "'carol'"));
  assert.is(se.length, 2, JSON.stringify(se));
  assert.ok(
    se.every((r) => r.reason !== ''),
    JSON.stringify(se),
  );
});

test('config - the system user reads $SYS events only; agents cannot subscribe $SYS.>', async () => {
  const sys = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.systemCreds.natsSeed()), inboxPrefix: SYSTEM_INBOX_PREFIX });
  // it may not publish to agentbus subjects (nor anything but the CONNZ request)
  const err = await sys.request('agentbus.to.alice.x', 'x', { timeout: 1000 }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(String(err?.message), /Permissions Violation for Publish/);
  const js = await sys.request('$JS.API.INFO', '', { timeout: 1000 }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(String(js?.message), /Permissions Violation/);
  await sys.close();
  const nc = await bus.rawAgent('alice');
  let violation = '';
  const sub = nc.subscribe('$SYS.>', { callback: (e) => void (violation ||= String(e?.message)) });
  await nc.flush();
  await sub.closed.catch((e: Error) => void (violation ||= e.message));
  await waitFor(() => violation !== '', 3000, 'a subscription violation');
  assert.match(violation, /Permissions Violation for Subscription to "\$SYS\.>"/);
  await nc.close().catch(() => undefined);
});

test('nats-config --system-creds: the $SYS account with the system user, the bus users in AGENTBUS with JetStream', () => {
  const d = join(dir, 'cfg');
  for (const s of ['verifier', 'auditor', 'system']) assert.is(cli(['keygen', s, '--service', '--creds-dir', d, '--manifests', join(d, 'm')]).status, 0);
  assert.is(cli(['keygen', 'a1', '--creds-dir', d, '--manifests', join(d, 'm')]).status, 0);
  const r = cli([
    'nats-config',
    '--manifests',
    join(d, 'm'),
    '--verifier-creds',
    join(d, 'verifier.creds.json'),
    '--auditor-creds',
    join(d, 'auditor.creds.json'),
    '--system-creds',
    join(d, 'system.creds.json'),
  ]);
  assert.is(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /system_account: "\$SYS"/);
  const sysBlock = out.slice(out.indexOf('  $SYS {'));
  assert.match(sysBlock, /# system \(auditor: connect\/disconnect events\)/);
  assert.match(sysBlock, /publish: \{ allow: \["\$SYS\.REQ\.SERVER\.PING\.CONNZ"\] \}/);
  assert.match(sysBlock, /subscribe: \{ allow: \["\$SYS\.ACCOUNT\.AGENTBUS\.CONNECT", "\$SYS\.ACCOUNT\.AGENTBUS\.DISCONNECT", "_INBOX_auditor_sys\.>"\] \}/);
  assert.not.match(sysBlock, /jetstream/);
  const bus = out.slice(out.indexOf('  AGENTBUS {'), out.indexOf('  $SYS {'));
  assert.match(bus, /jetstream: enabled/);
  assert.match(bus, /mappings = \{/);
  assert.match(bus, /# agent a1/);
  assert.not.match(bus, /# system/);
  // keygen system writes no audit public key (it signs nothing)
  assert.is(spawnSync('ls', [join(d, 'm', 'services')], { encoding: 'utf8' }).stdout.includes('system'), false);
});

const T0 = Date.parse('2025-11-03T09:00:00Z');
const s = (ms: number) => new Date(T0 + ms).toISOString();
function trace(lines: Record<string, unknown>[]): string {
  const file = join(dir, `trace-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return file;
}
// a little traffic beside the connections: audit rows replay as before
const traffic = Array.from({ length: 10 }, (_, i) => ({
  time: T0 + 60_000 + i * 60_000,
  sender: 'planner',
  recipient: 'coder',
  type: 'task.assign',
  verdict: 'accepted',
  msg_id: (i + 1).toString(16).padStart(32, '0'),
}));
const clean = [
  { event: 'connect', time: s(0), agent: 'planner', client_id: 4, host: '10.0.0.5', server: 'n1' },
  { event: 'connect', time: s(1000), agent: 'coder', client_id: 5, host: '10.0.0.6', server: 'n1' },
  // the coder reconnects to n2; n1 reports the old connection gone 2 s after the new connect
  { event: 'connect', time: s(600_000), agent: 'coder', client_id: 9, host: '10.0.0.6', server: 'n2' },
  { event: 'disconnect', time: s(602_000), agent: 'coder', client_id: 5, host: '10.0.0.6', server: 'n1', reason: 'Stale Connection' },
  { event: 'disconnect', time: s(700_000), agent: 'planner', client_id: 4, host: '10.0.0.5', server: 'n1', reason: 'Client Closed' },
  { event: 'connect', time: s(701_000), agent: 'planner', client_id: 12, host: '10.0.0.5', server: 'n1' },
];

test('replay - a clean trace (connects, a reconnect with overlapping seconds) is silent', () => {
  const r = cli(['detect', 'replay', '--events', trace([...traffic, ...clean]), '--json']);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), '');
});

test('replay - a trace with one nkey connected twice: identity_reuse naming the agent, both client ids and hosts', () => {
  const lines = [
    ...traffic,
    ...clean,
    // coder's credential used from elsewhere for 40 s while coder is connected
    { event: 'connect', time: s(900_000), agent: 'coder', client_id: 31, host: '203.0.113.9', server: 'n1' },
    { event: 'disconnect', time: s(940_000), agent: 'coder', client_id: 31, host: '203.0.113.9', server: 'n1', reason: 'Client Closed' },
  ];
  const r = cli(['detect', 'replay', '--events', trace(lines), '--json']);
  assert.is(r.status, 0, r.stderr);
  const alerts = r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { rule: string; agents: string[]; severity: string; sentence: string; evidence: { client_ids: number[]; hosts: string[] } });
  const reuse = alerts.filter((a) => a.rule === 'identity_reuse');
  assert.is(reuse.length, 1, r.stdout);
  assert.equal(reuse[0]!.agents, ['coder']);
  assert.is(reuse[0]!.severity, 'critical');
  assert.equal(reuse[0]!.evidence.client_ids, [9, 31]);
  assert.equal(reuse[0]!.evidence.hosts, ['10.0.0.6', '203.0.113.9']);
  assert.match(
    reuse[0]!.sentence,
    /^coder's NATS credential was connected twice at once: client 9 from 10\.0\.0\.6 .* client 31 from 203\.0\.113\.9 .*: identity_reuse$/,
  );
  // the foreign address is new for coder
  const na = alerts.filter((a) => a.rule === 'new_address');
  assert.is(na.length, 1, r.stdout);
  assert.equal(na[0]!.agents, ['coder']);
  assert.is(alerts.length, 2, r.stdout);
});

test('export --jsonl --connections then replay: the live incidents again, from the recorded events', async () => {
  await auditor.stop(); // chDB: one process holds a data dir
  const file = join(dir, 'live.jsonl');
  const e = cli(['audit', 'export', '--jsonl', file, '--connections', '--store', join(dir, 'db'), '--json']);
  assert.is(e.status, 0, e.stderr);
  assert.ok((JSON.parse(e.stdout) as { connections: number }).connections >= 8, e.stdout);
  const cfg = join(dir, 'replay.json');
  writeFileSync(cfg, JSON.stringify({ connections: { overlapMs: OVERLAP, learningMs: 0 } }));
  const r = cli(['detect', 'replay', '--events', file, '--config', cfg, '--json']);
  assert.is(r.status, 0, r.stderr);
  const alerts = r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { rule: string; agents: string[] });
  assert.equal(alerts.map((a) => `${a.rule}:${a.agents.join()}`).sort(), ['identity_reuse:alice', 'identity_reuse:bob']);
});

test.run();
