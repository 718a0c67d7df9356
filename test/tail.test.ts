// `agentbus tail` and the read-only observer role: on a real dev bus (nats-server, verifier), the
// observer receives audit events and alerts, the tail prints a line per verdict (through the
// exported function and through the spawned CLI), filters by verdict and agent, and NATS refuses
// the observer every publish and every subscription outside its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { startDevBus } from '../packages/server/src/devbus/dev.js';
import type { DevBus } from '../packages/server/src/devbus/dev.js';
import { observerPermissions, serverConfig } from '../packages/server/src/common/natsconfig.js';
import { formatAlert, formatRow, printable, resolveServers, startTail, TailError } from '../packages/server/src/ops/tail.js';
import { generateServiceCreds } from '../packages/server/src/common/service-creds.js';
import type { Tail, TailOptions } from '../packages/server/src/ops/tail.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import { connectAgent } from '../packages/sdk/src/client.js';
import type { AgentClient } from '../packages/sdk/src/client.js';
import { RejectedError } from '../packages/sdk/src/errors.js';
import { contracts } from './helpers/contracts.js';
import { freePort } from './helpers/nats-server.js';
import { sleep, waitFor } from './helpers/bus.js';
import { cliArgs } from './helpers/cli-bin.js';

const root = mkdtempSync(join(tmpdir(), 'agentbus-tail-test-'));
const stateDir = join(root, 'dev');
const policyFile = join(root, 'policy.yaml');
writeFileSync(
  policyFile,
  ['agents:', '  alice:', '    send:', '      - { to: bob, types: [task.assign] }', '  bob:', '    send: []', '  carol:', '    send: []', ''].join('\n'),
);

let bus: DevBus;
let alice: AgentClient;
let bob: AgentClient;
const conns: NatsConnection[] = [];
const tails: Tail[] = [];
const spawned: ReturnType<typeof spawn>[] = [];

test.before(async () => {
  bus = await startDevBus({ stateDir, contracts, policyFile, withAuditor: false, logLevel: 'warn' });
  bob = await connectAgent({ servers: bus.url, credentials: bus.credsPath('bob'), contracts, manifestsDir: bus.manifestsDir, timeoutMs: 5000 });
  alice = await connectAgent({ servers: bus.url, credentials: bus.credsPath('alice'), contracts, manifestsDir: bus.manifestsDir, timeoutMs: 5000 });
});

test.after(async () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const t of tails) await t.stop().catch(() => undefined);
  for (const c of conns) await c.close().catch(() => undefined);
  for (const c of [alice, bob]) await c?.close().catch(() => undefined);
  await bus?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function tail(extra: Partial<TailOptions> = {}): Promise<{ t: Tail; lines: string[] }> {
  const lines: string[] = [];
  const t = await startTail({ servers: bus.url, credentials: bus.observerCreds, write: (l) => void lines.push(l), ...extra });
  tails.push(t);
  return { t, lines };
}

async function observer(): Promise<{ nc: NatsConnection; errors: string[] }> {
  const nc = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.observerCreds.natsSeed()), inboxPrefix: '_INBOX_observer' });
  conns.push(nc);
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error));
  })();
  return { nc, errors };
}

/** One accepted (alice → bob task.assign) and one rejected (alice → bob note.post: not a type its send rule allows) message. */
async function sendPair(title: string): Promise<{ accepted: string; rejected: string }> {
  const ok = await alice.send('bob', 'task.assign', { title });
  const bad = await alice.send('bob', 'note.post', { text: title }).then(
    () => assert.unreachable('note.post to bob was accepted'),
    (e: unknown) => e,
  );
  assert.instance(bad, RejectedError);
  return { accepted: ok.msgId, rejected: (bad as RejectedError).msgId };
}

test('observer - startDevBus writes its credential (0600) and the config gives it read-only permissions', () => {
  const p = join(stateDir, 'creds', 'observer.creds.json');
  assert.ok(existsSync(p));
  assert.is(statSync(p).mode & 0o777, 0o600);
  const conf = readFileSync(join(stateDir, 'nats.conf'), 'utf8');
  const block = conf.slice(conf.indexOf('# observer'));
  assert.ok(block.includes(bus.observerCreds.natsPublicKey), 'the observer nkey is in nats.conf');
  assert.match(block, /publish: \{ deny: \[">"\] \}\n\s+subscribe: \{ allow: \["agentbus.alert.>", "agentbus.audit.>", "_INBOX_observer.>"\] \}/);
});

test('observer - permissions: no publish at all; alerts, audit events and its own inbox to read', () => {
  const p = observerPermissions();
  assert.equal(p.pub, []);
  assert.equal(p.sub, ['agentbus.alert.>', 'agentbus.audit.>', '_INBOX_observer.>']);
  for (const s of p.sub) assert.not.match(s, /^agentbus\.(in|to|topic|inbox|part|delivered)\./);
  const svc = { verifier: ['UVERIFIER'], auditor: ['UAUDITOR'], observer: ['UOBSERVER'] };
  const conf = serverConfig([], svc, { port: 4222, storeDir: '/s' });
  assert.match(conf, /# observer \(read-only\)\n\s+\{ nkey: "UOBSERVER", permissions: \{\n\s+publish: \{ deny: \[">"\] \}/);
  // without an observer the config is as before
  assert.not.match(serverConfig([], { verifier: ['UVERIFIER'], auditor: ['UAUDITOR'] }, { port: 4222, storeDir: '/s' }), /observer|deny/);
  // one credential for two roles would give one of them the other's permissions
  assert.throws(
    () => serverConfig([], { verifier: ['UV'], auditor: ['UA'], observer: ['UA'] }, { port: 4222, storeDir: '/s' }),
    /given to two service users \(auditor, observer\)/,
  );
});

test('observer - NATS refuses its publishes (in, to, audit, JetStream API) and subscriptions outside its own', async () => {
  const { nc, errors } = await observer();
  // a publish refused by the server never reaches a subscriber
  const seen: string[] = [];
  const watcher = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.verifierCreds.natsSeed()), inboxPrefix: '_INBOX_verifier' });
  conns.push(watcher);
  watcher.subscribe('agentbus.part.>', { callback: (_e, m) => void seen.push(m.subject) });
  const bobWire: string[] = [];
  const bobRaw = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(readSeed(bus.credsPath('bob'))), inboxPrefix: 'agentbus.inbox.bob' });
  conns.push(bobRaw);
  bobRaw.subscribe('agentbus.to.bob.>', { callback: (_e, m) => void bobWire.push(m.subject) });
  await watcher.flush();
  await bobRaw.flush();
  const subjects = [
    'agentbus.in.x',
    'agentbus.in.alice',
    'agentbus.to.x.y',
    'agentbus.to.bob.task.assign',
    'agentbus.audit.accepted',
    'agentbus.alert.fake',
    '$JS.API.STREAM.DELETE.AUDIT',
  ];
  // nats-server checks (and names) agentbus.in.<sender> after its partition mapping: agentbus.part.<p>.<sender>
  const named = (s: string) =>
    s.startsWith('agentbus.in.') ? new RegExp(`"agentbus\\.part\\.\\d+\\.${s.slice('agentbus.in.'.length)}"`) : new RegExp(`"${s.replace(/[.$]/g, '\\$&')}"`);
  for (const s of subjects) nc.publish(s, new Uint8Array([1, 2, 3]));
  await nc.flush().catch(() => undefined);
  await waitFor(() => subjects.every((s) => errors.some((e) => named(s).test(e))), 3000, 'a permission violation for each publish').catch(() => undefined);
  for (const s of subjects)
    assert.ok(
      errors.some((e) => /Permissions Violation for Publish/i.test(e) && named(s).test(e)),
      `publish to ${s} was not refused: ${errors.join('; ')}`,
    );
  await sleep(200);
  assert.equal(seen, [], 'a publish of the observer reached the verifier');
  assert.equal(bobWire, [], 'a publish of the observer reached bob');
  for (const s of ['agentbus.to.>', 'agentbus.in.>', 'agentbus.inbox.bob.>', 'agentbus.topic.>', '_INBOX_verifier.>']) {
    const sub = nc.subscribe(s);
    const closed = await Promise.race([sub.closed, sleep(2000).then(() => 'still open')]);
    assert.instance(closed, Error, `subscription to ${s} was allowed`);
    assert.match(String(closed), /Permissions Violation for Subscription/i);
  }
  assert.ok(!nc.isClosed(), 'the connection survives refused operations');
});

test('observer - receives audit events and alerts live', async () => {
  const { nc } = await observer();
  const audit: string[] = [];
  const alerts: string[] = [];
  nc.subscribe('agentbus.audit.>', { callback: (_e, m) => void audit.push(m.subject) });
  nc.subscribe('agentbus.alert.>', { callback: (_e, m) => void alerts.push(new TextDecoder().decode(m.data)) });
  await nc.flush();
  await sendPair('observer sees it');
  await waitFor(() => audit.includes('agentbus.audit.accepted') && audit.includes('agentbus.audit.rejected'), 5000, 'both audit subjects');
  const auditor = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.auditorCreds.natsSeed()), inboxPrefix: '_INBOX_auditor' });
  conns.push(auditor);
  auditor.publish('agentbus.alert.rejection_burst', new TextEncoder().encode(JSON.stringify({ rule: 'rejection_burst', severity: 'high', agents: ['alice'] })));
  await auditor.flush();
  await waitFor(() => alerts.length === 1, 3000, 'the alert');
  assert.match(alerts[0]!, /rejection_burst/);
});

test('tail - a line per verdict (accepted, rejected), filters by --verdict and --agent, alerts, --json', async () => {
  const all = await tail();
  const rejectedOnly = await tail({ verdicts: ['rejected'] });
  const forCarol = await tail({ agent: 'carol' });
  const forBob = await tail({ agent: 'bob' });
  const json = await tail({ json: true });
  const alertsOnly = await tail({ alertsOnly: true });
  const ids = await sendPair('tail me');
  const short = (id: string) => id.slice(0, 8);
  await waitFor(() => all.lines.length >= 2 && json.lines.length >= 2 && rejectedOnly.lines.length >= 1 && forBob.lines.length >= 2, 5000, 'the tail lines');
  const acc = all.lines.find((l) => l.includes(short(ids.accepted)));
  const rej = all.lines.find((l) => l.includes(short(ids.rejected)));
  assert.ok(acc, all.lines.join('\n'));
  assert.ok(rej, all.lines.join('\n'));
  assert.match(acc!, /^\d\d:\d\d:\d\d\.\d{3}  accepted\s+-\s+alice → bob\s+task\.assign\s+[0-9a-f]{8}  \d+B$/);
  assert.match(rej!, /^\d\d:\d\d:\d\d\.\d{3}  rejected\s+type_not_allowed\s+alice → bob\s+note\.post\s+[0-9a-f]{8}  \d+B/);
  assert.not.match(all.lines.join('\n'), /\u001b/, 'colour only when asked (a TTY)');
  // --verdict rejected: the rejected message only
  assert.ok(rejectedOnly.lines.some((l) => l.includes(short(ids.rejected))));
  assert.ok(
    rejectedOnly.lines.every((l) => /  rejected /.test(l)),
    rejectedOnly.lines.join('\n'),
  );
  // --agent: sender or recipient
  assert.ok(forBob.lines.some((l) => l.includes(short(ids.accepted))) && forBob.lines.some((l) => l.includes(short(ids.rejected))));
  // --json: one object per line
  const objs = json.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const a = objs.find((x) => x.msg_id === ids.accepted);
  const r = objs.find((x) => x.msg_id === ids.rejected);
  assert.equal([a?.kind, a?.verdict, a?.sender, a?.recipient, a?.type], ['verdict', 'accepted', 'alice', 'bob', 'task.assign']);
  assert.equal([r?.verdict, r?.reason], ['rejected', 'type_not_allowed']);
  assert.ok(typeof a?.time === 'string' && Number.isFinite(Date.parse(a.time as string)));
  // an alert, as the auditor publishes it
  const auditor = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(bus.auditorCreds.natsSeed()), inboxPrefix: '_INBOX_auditor' });
  conns.push(auditor);
  const alert = {
    alert_id: 'a1',
    rule: 'rejection_burst',
    severity: 'high',
    agents: ['alice'],
    window_start: new Date().toISOString(),
    window_end: new Date().toISOString(),
    detected_at: new Date().toISOString(),
    evidence: { rejected: 12, total: 14 },
    dedup_key: 'k',
  };
  auditor.publish('agentbus.alert.rejection_burst', new TextEncoder().encode(JSON.stringify(alert)));
  await auditor.flush();
  await waitFor(() => alertsOnly.lines.length === 1 && all.lines.some((l) => l.includes('ALERT')), 3000, 'the alert line');
  assert.match(alertsOnly.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3}  ALERT high rejection_burst  alice: rejected=12 total=14$/);
  await waitFor(() => json.lines.some((l) => l.includes('"kind":"alert"')), 2000, 'the JSON alert');
  assert.is((JSON.parse(json.lines.find((l) => l.includes('"kind":"alert"'))!) as { rule: string }).rule, 'rejection_burst');
  assert.equal(forCarol.lines, [], `carol was in none of it: ${forCarol.lines.join('\n')}`);
  assert.ok(
    forBob.lines.every((l) => !l.includes('ALERT')),
    'the alert names alice, not bob',
  );
  assert.is(all.t.stats.undecodable, 0);
  await all.t.stop();
  assert.is(await all.t.closed, undefined);
});

test('tail - refused credentials stop it with one reason: a user not in the config, a user without the observer permissions', async () => {
  const stranger = generateServiceCreds('observer', join(root, 'stranger.creds.json'));
  const e1 = await startTail({ servers: bus.url, credentials: stranger, write: () => undefined }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(e1, TailError);
  assert.match((e1 as Error).message, /refused the observer credential .*nats-config --observer-creds/);
  // the auditor may not read agentbus.audit.> live: the tail says so instead of watching half the bus
  const e2 = await startTail({ servers: bus.url, credentials: bus.auditorCreds, write: () => undefined }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(e2, TailError);
  assert.match((e2 as Error).message, /refused the subscription to agentbus\.audit\.>.*Permissions Violation/);
});

test('tail - what a sender put in its header cannot reach the terminal as control characters', () => {
  const row = {
    ...eventToRow({}),
    time: Date.now(),
    verdict: 'rejected',
    reason: 'malformed',
    sender: 'mallory',
    recipient: 'bob\u001b[2J',
    type: 'x\u001b]0;owned\u0007',
    detail: 'bad\r\nline',
    raw_size: 10,
  };
  const line = formatRow(row);
  assert.not.match(line, /[\u0000-\u001f]/);
  assert.match(line, /mallory → bob\?\[2J\s+x\?\]0;owned\?/);
  assert.match(formatRow(row, true), /\u001b\[31mrejected/, 'colour: red for rejected');
  assert.match(formatRow({ ...row, verdict: 'accepted' }, true), /\u001b\[32maccepted/);
  assert.match(formatRow({ ...row, shed_count: 40 }, true), /\u001b\[33mshed×40/);
  assert.not.match(formatAlert({ rule: 'r\u001b[0m', severity: 'high', agents: ['a\u009b'], evidence: { k: 'v\u001b' } }), /[\u0000-\u001f\u007f-\u009f]/);
  // the auditor's sentence and the first trail command, when the alert carries them
  const sentenceLine = formatAlert(
    {
      rule: 'payload_loop',
      severity: 'high',
      agents: ['a', 'b'],
      sentence: 'A causal loop: a → b → a: payload_loop',
      trail: ['agentbus audit trail --msg-id ' + '0'.repeat(32)],
      evidence: { hops: 2 },
    },
    false,
    0,
  );
  assert.match(sentenceLine, /ALERT high payload_loop  a, b: A causal loop: a → b → a: payload_loop  → agentbus audit trail --msg-id 0{32}$/);
  assert.is(printable('a\u202eb'), 'a?b');
});

test('tail - the URL: --nats, else "servers" from <state-dir>/bus.json, else the default', () => {
  const d = mkdtempSync(join(root, 'sd-'));
  assert.equal(resolveServers({ stateDir: d }), { servers: 'nats://127.0.0.1:4222', from: 'default' });
  writeFileSync(join(d, 'bus.json'), JSON.stringify({ servers: 'nats://127.0.0.1:5555', other: 1 }));
  assert.is(resolveServers({ stateDir: d }).servers, 'nats://127.0.0.1:5555');
  assert.is(resolveServers({ stateDir: d, nats: 'nats://h:1' }).servers, 'nats://h:1');
  writeFileSync(join(d, 'bus.json'), JSON.stringify({ servers: ['nats://a:1', 'nats://b:2'] }));
  assert.is(resolveServers({ stateDir: d }).servers, 'nats://a:1,nats://b:2');
  writeFileSync(join(d, 'bus.json'), '{ nope');
  assert.throws(() => resolveServers({ stateDir: d }), /bus\.json: not valid JSON/);
});

function readSeed(credsPath: string): Uint8Array {
  return new TextEncoder().encode((JSON.parse(readFileSync(credsPath, 'utf8')) as { nats_seed: string }).nats_seed);
}

function cli(args: string[], o: { env?: Record<string, string> } = {}) {
  const p = spawn(process.execPath, cliArgs(...args), { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  const r = { out: '', err: '', code: undefined as number | null | undefined, proc: p };
  p.stdout.on('data', (d) => (r.out += d));
  p.stderr.on('data', (d) => (r.err += d));
  const done = new Promise<number | null>((res) => p.on('close', (code) => res((r.code = code))));
  const kill = setTimeout(() => p.kill('SIGKILL'), 60_000);
  void done.then(() => clearTimeout(kill));
  spawned.push(p);
  return { r, done };
}

test('tail CLI - reads the URL from <state-dir>/bus.json, prints accepted and rejected lines, Ctrl-C exits 0', async () => {
  writeFileSync(join(stateDir, 'bus.json'), JSON.stringify({ servers: bus.url }));
  try {
    const { r, done } = cli(['tail', '--state-dir', stateDir], { env: { NO_COLOR: '1' } });
    await waitFor(() => /tail: watching/.test(r.err) || r.code !== undefined, 30_000, 'the tail to start');
    assert.match(r.err, new RegExp(`watching verdicts and alerts on ${bus.url.replace(/[.]/g, '\\.')} \\(from .*bus\\.json\\)`));
    const ids = await sendPair('cli tail');
    await waitFor(() => r.out.includes(ids.accepted.slice(0, 8)) && r.out.includes(ids.rejected.slice(0, 8)), 10_000, `both lines on stdout: ${r.out}`);
    const lines = r.out.trim().split('\n');
    assert.ok(
      lines.some((l) => /  accepted .*alice → bob\s+task\.assign/.test(l)),
      r.out,
    );
    assert.ok(
      lines.some((l) => /  rejected\s+type_not_allowed\s+alice → bob\s+note\.post/.test(l)),
      r.out,
    );
    assert.not.match(r.out, /\u001b/);
    r.proc.kill('SIGINT');
    assert.is(await done, 0, r.err);
  } finally {
    rmSync(join(stateDir, 'bus.json'), { force: true });
  }
});

test('tail CLI - --verdict rejected --json; bad arguments exit 2, a missing credential or no server exit 1, one line each', async () => {
  const { r, done } = cli(['tail', '--state-dir', stateDir, '--nats', bus.url, '--verdict', 'rejected', '--json']);
  await waitFor(() => /tail: watching/.test(r.err) || r.code !== undefined, 30_000, 'the tail to start');
  const ids = await sendPair('cli json');
  await waitFor(() => r.out.includes(ids.rejected), 10_000, `the rejected line: ${r.out}`);
  await sleep(300);
  const objs = r.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { verdict: string; msg_id: string });
  assert.ok(
    objs.every((x) => x.verdict === 'rejected'),
    r.out,
  );
  assert.ok(!objs.some((x) => x.msg_id === ids.accepted));
  r.proc.kill('SIGINT');
  assert.is(await done, 0, r.err);

  const port = await freePort();
  const cases: [string[], number, RegExp][] = [
    [['tail', '--verdict', 'bogus'], 2, /--verdict must be one of accepted, rejected, duplicate, shed/],
    [['tail', '--agent', 'Not An Agent'], 2, /--agent must be an agent id/],
    [['tail', '--state-dir', join(root, 'nowhere')], 1, /no observer credential at .*nowhere\/creds\/observer\.creds\.json/],
    [['tail', '--creds', join(root, 'missing.json')], 1, /missing\.json: cannot read service credentials/],
    [['tail', '--state-dir', stateDir, '--nats', `nats://127.0.0.1:${port}`], 1, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+/],
  ];
  for (let i = 0; i < cases.length; i += 2) {
    const runs = cases.slice(i, i + 2).map(([args]) => cli(args));
    await Promise.all(runs.map((x) => x.done));
    runs.forEach((x, j) => {
      const [args, code, re] = cases[i + j]!;
      assert.is(x.r.code, code, `agentbus ${args.join(' ')} → ${x.r.code}: ${x.r.err}`);
      assert.is(x.r.err.trim().split('\n').length, 1, x.r.err);
      assert.match(x.r.err, re);
    });
  }
});

test.run();
