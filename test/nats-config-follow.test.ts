// Quarantine at NATS in production (issue 24 item 8): `agentbus nats-config --follow` is the
// config follower a deployment runs beside its nats-server (agentbus dev and the test buses run
// the same follower in-process). It watches the quarantine bucket as the verifier and the
// manifests directory; a quarantined agent's user leaves the config and the server is reloaded:
// the agent is disconnected and refused until its cool-down ends or it is released; a manifest
// change (a new agent) is applied the same way.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { generateIdentity, saveCredentials } from '../packages/sdk/src/identity.js';
import type { AgentIdentity } from '../packages/sdk/src/identity.js';
import { generateServiceCreds } from '../packages/server/src/common/service-creds.js';
import type { ServiceIdentity } from '../packages/server/src/common/service-creds.js';
import { spawnNatsServer } from '../packages/server/src/common/nats-process.js';
import type { NatsProcess } from '../packages/server/src/common/nats-process.js';
import { encodeRecord, openQuarantineKv, releaseQuarantine } from '../packages/server/src/common/quarantine.js';
import { freePort } from './helpers/nats-server.js';
import { cliArgs } from './helpers/cli-bin.js';
import { waitFor as waitForBus } from './helpers/bus.js';

// on a timeout, what the follower and nats-server said by then
const waitFor = (cond: () => boolean | Promise<boolean>, ms: number, what: string) =>
  waitForBus(cond, ms, what).catch((e: Error) => {
    throw new Error(`${e.message}\nfollower: ${followerOut}\nnats-server: ${nats.output().slice(-4000)}`);
  });

const dir = mkdtempSync(join(tmpdir(), 'agentbus-follow-'));
const manifests = join(dir, 'manifests');
const creds = join(dir, 'creds');
const conf = join(dir, 'nats.conf');
const ids = new Map<string, AgentIdentity>();
let verifier: ServiceIdentity;
let port: number;
let nats: NatsProcess;
let follower: ChildProcess;
let followerOut = '';
let admin: NatsConnection;

function addAgent(agent: string): AgentIdentity {
  const id = generateIdentity(agent);
  ids.set(agent, id);
  writeFileSync(join(manifests, `${agent}.yaml`), stringify({ agent, nats_user: id.natsPublicKey, keys: id.keys.map((k) => k.publicInfo()) }));
  return id;
}
const baseArgs = () => [
  'nats-config',
  '--manifests',
  manifests,
  '--verifier-creds',
  join(creds, 'verifier.json'),
  '--auditor-creds',
  join(creds, 'auditor.json'),
  '--port',
  String(port),
  '--store-dir',
  join(dir, 'js'),
  '--out',
  conf,
];
const asAgent = (agent: string, o: Record<string, unknown> = {}) =>
  connect({
    servers: `nats://127.0.0.1:${port}`,
    authenticator: nkeyAuthenticator(ids.get(agent)!.natsSeed()),
    inboxPrefix: `agentbus.inbox.${agent}`,
    maxReconnectAttempts: 0,
    // nats-server 2.9 drops a connection whose handshake overlaps a reload ("authentication error -
    // Nkey \"\""): without a short timeout nats.js waits 20 s for it
    timeout: 2000,
    ...o,
  });
const canConnect = async (agent: string) =>
  asAgent(agent).then(
    async (nc) => {
      await nc.close();
      return true;
    },
    () => false,
  );

test.before(async () => {
  mkdirSync(manifests);
  mkdirSync(creds, { mode: 0o700 });
  for (const a of ['mallory', 'planner']) saveCredentials(addAgent(a), join(creds, `${a}.json`));
  verifier = generateServiceCreds('verifier', join(creds, 'verifier.json'));
  generateServiceCreds('auditor', join(creds, 'auditor.json'));
  port = await freePort();
  const once = spawnSync(process.execPath, cliArgs(...baseArgs()), { encoding: 'utf8' });
  assert.is(once.status, 0, once.stderr);
  nats = await spawnNatsServer(conf);
  admin = await connect({ servers: `nats://127.0.0.1:${port}`, authenticator: nkeyAuthenticator(verifier.natsSeed()), inboxPrefix: '_INBOX_verifier' });
});
test.after(async () => {
  follower?.kill('SIGKILL');
  await admin?.close().catch(() => undefined);
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('nats-config --follow: its arguments are checked, one line each', () => {
  const noPid = spawnSync(process.execPath, cliArgs(...baseArgs(), '--follow'), { encoding: 'utf8' });
  assert.is(noPid.status, 2);
  assert.match(noPid.stderr, /--follow needs --reload-pid/);
  const badPid = spawnSync(process.execPath, cliArgs(...baseArgs(), '--reload-pid', 'x1'), { encoding: 'utf8' });
  assert.is(badPid.status, 2);
  assert.match(badPid.stderr, /--reload-pid takes process ids/);
  const natsAlone = spawnSync(process.execPath, cliArgs(...baseArgs(), '--nats', 'nats://127.0.0.1:1'), { encoding: 'utf8' });
  assert.is(natsAlone.status, 2);
  assert.match(natsAlone.stderr, /--nats goes with --follow/);
});

test('nats-config --follow: a quarantined agent is cut off at NATS and comes back when released; others stay connected', async () => {
  follower = spawn(process.execPath, cliArgs(...baseArgs(), '--reload-pid', String(nats.proc.pid), '--follow'), { stdio: ['ignore', 'pipe', 'pipe'] });
  follower.stdout!.on('data', (d) => (followerOut += d));
  follower.stderr!.on('data', (d) => (followerOut += d));
  await waitFor(() => /following the manifests/.test(followerOut), 20_000, `the follower to start: ${followerOut}`);
  const mallory = await asAgent('mallory');
  const planner = await asAgent('planner');
  let malloryClosed = false;
  void mallory.closed().then(() => (malloryClosed = true));
  const malloryUser = ids.get('mallory')!.natsPublicKey;
  assert.ok(readFileSync(conf, 'utf8').includes(malloryUser));
  // what a verifier writes when it starts shedding mallory (common/quarantine.ts)
  const kv = await openQuarantineKv(admin);
  const now = Date.now();
  await kv.put('mallory', encodeRecord({ agent: 'mallory', until_ms: now + 120_000, level: 0, shed: 50, at_ms: now, by: 'test-verifier' }));
  await waitFor(() => malloryClosed, 10_000, `mallory disconnected: ${followerOut}`);
  assert.not.ok(readFileSync(conf, 'utf8').includes(malloryUser), 'the quarantined user is still in the config');
  assert.match(followerOut, /quarantined at NATS: mallory: wrote .*nats\.conf and reloaded/);
  assert.is(await canConnect('mallory'), false, 'a quarantined agent connected again');
  // the honest agent's connection is untouched and it still publishes
  assert.is(planner.isClosed(), false);
  await planner.flush();
  // released: its user is back
  const r = await releaseQuarantine(admin, 'mallory', 'test');
  assert.ok(r.released);
  await waitFor(async () => await canConnect('mallory'), 10_000, 'mallory back');
  assert.ok(readFileSync(conf, 'utf8').includes(malloryUser));
  assert.match(followerOut, /released from quarantine: mallory/);
  await planner.close();
});

test('nats-config --follow: a manifest change is applied (a new agent can connect), an invalid one keeps the last good config', async () => {
  addAgent('newbie');
  await waitFor(async () => await canConnect('newbie'), 10_000, 'newbie admitted');
  assert.match(followerOut, /manifests changed: wrote/);
  const good = readFileSync(conf, 'utf8');
  writeFileSync(join(manifests, 'broken.yaml'), 'agent: [not a name\n');
  await waitFor(() => /manifests changed: config kept:/.test(followerOut), 10_000, `the invalid manifest reported: ${followerOut}`);
  assert.is(readFileSync(conf, 'utf8'), good);
  assert.ok(await canConnect('newbie'));
  rmSync(join(manifests, 'broken.yaml'));
});

test('nats-config --follow: SIGTERM stops it cleanly', async () => {
  const exited = new Promise<number | null>((r) => follower.once('exit', (c) => r(c)));
  follower.kill('SIGTERM');
  assert.is(await exited, 0, followerOut);
});

test.run();
