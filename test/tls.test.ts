// TLS on client connections and cluster routes, and JetStream encryption at rest (issue 8):
// real nats-server processes started by the dev bus, no mocks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startDevBus } from '../packages/server/src/devbus/dev.js';
import type { DevBus } from '../packages/server/src/devbus/dev.js';
import { spawnNatsServer } from '../packages/server/src/common/nats-process.js';
import { makeDevCertificates, devCertificateProblem, checkStoreKey, DEFAULT_JS_KEY_ENV } from '../packages/server/src/common/tls.js';
import { serverConfig } from '../packages/server/src/common/natsconfig.js';
import { connectAgent } from '../packages/sdk/src/client.js';
import type { AgentClient } from '../packages/sdk/src/client.js';
import { connectNats } from '../packages/server/src/auditor/service.js';
import { contracts } from './helpers/contracts.js';

const root = mkdtempSync(join(tmpdir(), 'agentbus-tls-test-'));
const policyFile = join(root, 'policy.yaml');
writeFileSync(policyFile, ['agents:', '  alice:', '    send:', '      - { to: bob, types: [task.assign] }', '  bob:', '    send: []', ''].join('\n'));
const buses: DevBus[] = [];
const clients: AgentClient[] = [];
test.after(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const b of buses) await b.stop().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

async function devBus(name: string, extra: Partial<Parameters<typeof startDevBus>[0]>): Promise<DevBus> {
  const bus = await startDevBus({ stateDir: join(root, name), contracts, policyFile, withAuditor: false, logLevel: 'warn', ...extra });
  buses.push(bus);
  return bus;
}

async function agent(bus: DevBus, id: string, connectOptions: Record<string, unknown> = bus.connectOptions): Promise<AgentClient> {
  const c = await connectAgent({
    servers: bus.urls,
    credentials: bus.credsPath(id),
    contracts,
    manifestsDir: bus.manifestsDir,
    timeoutMs: 5000,
    connectOptions: { ...connectOptions, maxReconnectAttempts: 0 },
  });
  clients.push(c);
  return c;
}

/** Speak plaintext NATS to a port: what the server says before it closes the connection. */
function plaintextSession(
  port: number,
  o: { speakFirst?: boolean } = {},
): Promise<{ info: Record<string, unknown> | undefined; after: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => {
      if (o.speakFirst) s.write('CONNECT {"verbose":true}\r\nPING\r\n');
    });
    let buf = '';
    let info: Record<string, unknown> | undefined;
    let afterMark = -1;
    const done = (closed: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve({ info, after: afterMark >= 0 ? buf.slice(afterMark) : '', closed });
    };
    const t = setTimeout(() => done(false), 5000);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (!info && buf.includes('\r\n')) {
        const line = buf.slice(0, buf.indexOf('\r\n'));
        if (line.startsWith('INFO ')) info = JSON.parse(line.slice(5)) as Record<string, unknown>;
        afterMark = buf.length;
        s.write('CONNECT {"verbose":true,"pedantic":false,"tls_required":false,"name":"plaintext"}\r\nPING\r\n');
      }
    });
    s.on('close', () => done(true));
    s.on('error', () => undefined);
  });
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const n = Buffer.from(needle);
  return (await allFiles(dir)).filter((f) => readFileSync(f).includes(n));
}

/** The environment of a running process (Linux). */
function processEnv(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return env;
}

test('tls - makeDevCertificates makes a CA and a loopback server certificate (keys 0600) and reuses valid files', () => {
  const dir = join(root, 'certs');
  const f = makeDevCertificates(dir);
  assert.is(devCertificateProblem(f), undefined);
  assert.is(statSync(f.keyFile).mode & 0o777, 0o600);
  assert.is(statSync(dir).mode & 0o777, 0o700);
  assert.equal(readdirSync(dir).sort(), ['ca.pem', 'server-key.pem', 'server.pem'], 'no CA key or temp files left behind');
  const pem = readFileSync(f.certFile, 'utf8');
  assert.is(makeDevCertificates(dir).certFile, f.certFile);
  assert.is(readFileSync(f.certFile, 'utf8'), pem, 'valid files are reused');
  writeFileSync(f.keyFile, readFileSync(makeDevCertificates(join(root, 'certs-other')).keyFile), { mode: 0o600 });
  assert.match(devCertificateProblem(f) ?? '', /key does not match/);
  makeDevCertificates(dir);
  assert.is(devCertificateProblem(f), undefined, 'a broken set is made afresh');
  assert.is.not(readFileSync(f.certFile, 'utf8'), pem);
});

test('tls - the generated config has client TLS, route TLS and a key reference only', () => {
  const tls = { certFile: '/c/server.pem', keyFile: '/c/server-key.pem', caFile: '/c/ca.pem' };
  const one = serverConfig([], { verifier: [], auditor: [] }, { port: 4222, storeDir: '/s', tls, encryptStore: true });
  assert.match(
    one,
    /\ntls \{\n {2}cert_file: "\/c\/server.pem"\n {2}key_file: "\/c\/server-key.pem"\n {2}ca_file: "\/c\/ca.pem"\n {2}verify: false\n {2}timeout: 5\n\}/,
  );
  assert.match(one, /jetstream \{\n {2}store_dir: "\/s"\n {2}cipher: chachapoly\n {2}key: \$AGENTBUS_JS_KEY\n\}/);
  const node = serverConfig(
    [],
    { verifier: [], auditor: [] },
    { port: 4222, storeDir: '/s', tls, cluster: { name: 'c', port: 6222, routes: ['nats-route://127.0.0.1:6223'] } },
  );
  assert.match(node, /cluster \{[\s\S]*\n {2}tls \{\n {4}cert_file: "\/c\/server.pem"[\s\S]*ca_file[\s\S]*\n {2}\}\n\}/);
  assert.throws(
    () => serverConfig([], { verifier: [], auditor: [] }, { port: 1, storeDir: '/s', encryptStore: true, jsKeyEnv: 'A B' }),
    /not an environment variable name/,
  );
  assert.throws(() => checkStoreKey('K', '0123456789abcdef0123456789abcdef0'), /starting with a letter/);
  assert.throws(() => checkStoreKey('K', 'k0123456789abcdef0123456789a#bcdef'), /letters and digits/);
  assert.is(checkStoreKey('K', 'k0123456789abcdef0123456789abcdef'), 'k0123456789abcdef0123456789abcdef');
});

test('tls - dev bus with TLS: an agent trusting the CA is verified end to end; plaintext and untrusting clients are refused', async () => {
  const bus = await devBus('tls', { tls: true });
  assert.ok(bus.tls?.caFile, 'the bus names its CA');
  assert.is(bus.tls!.caFile, join(bus.stateDir, 'tls', 'ca.pem'));
  assert.is(statSync(bus.tls!.keyFile).mode & 0o777, 0o600);
  const conf = readFileSync(join(bus.stateDir, 'nats.conf'), 'utf8');
  assert.match(conf, /\ntls \{\n {2}cert_file: /);
  assert.match(bus.nats.output(), /TLS required for client connections/);
  await bus.nats.reload(); // the TLS config survives a reload (manifest changes reload nats-server)

  // an SDK agent with the CA: the verifier (itself connected over TLS) accepts and delivers
  const alice = await agent(bus, 'alice');
  const bob = await agent(bus, 'bob');
  const inbox = bob.inbox()[Symbol.asyncIterator]();
  const r = await alice.send('bob', 'task.assign', { title: 'over tls' });
  assert.is(r.duplicate, false);
  const got = await Promise.race([inbox.next(), new Promise<null>((res) => setTimeout(() => res(null), 5000))]);
  assert.ok(got && !got.done, 'bob received the message');
  assert.is(got.value.msgId, r.msgId);
  assert.equal(got.value.payload, { title: 'over tls', priority: 1 });
  assert.is(bus.verifier.stats.accepted, 1);

  // plaintext NATS: the server announces tls_required and drops the connection at the first plaintext byte
  const port = Number(new URL(bus.urls[0]!).port);
  const plain = await plaintextSession(port);
  assert.is(plain.info?.tls_required, true);
  assert.ok(plain.closed, 'the server closed the plaintext connection');
  assert.not.match(plain.after, /PONG|\+OK/, 'no plaintext command was served');
  await new Promise((res) => setTimeout(res, 200));
  assert.match(bus.nats.output(), /TLS handshake error/);

  // a nats.js client that does not upgrade to TLS is refused
  const creds = JSON.parse(readFileSync(bus.credsPath('alice'), 'utf8')) as { nats_seed: string };
  const auth = nkeyAuthenticator(new TextEncoder().encode(creds.nats_seed));
  const noTls = await connect({ servers: bus.url, authenticator: auth, tls: null, maxReconnectAttempts: 0 }).then(
    (nc) => nc.close().then(() => null),
    (e: Error) => e,
  );
  assert.instance(noTls, Error, 'a plaintext nats.js client does not get a connection');
  assert.match(noTls!.message, /tls/i);

  // clients that do not trust the CA: the system trust store, and a different CA
  const untrusted = await agent(bus, 'alice', {}).then(
    () => null,
    (e: Error) => e,
  );
  assert.instance(untrusted, Error, 'a client without the CA is refused');
  assert.match(`${untrusted!.message} ${String((untrusted as { cause?: unknown }).cause ?? '')}`, /certificate|verify/i);
  const otherCa = makeDevCertificates(join(root, 'other-ca')).caFile;
  const wrongCa = await agent(bus, 'alice', { tls: { caFile: otherCa } }).then(
    () => null,
    (e: Error) => e,
  );
  assert.instance(wrongCa, Error, 'a client trusting another CA is refused');
  assert.match(`${wrongCa!.message} ${String((wrongCa as { cause?: unknown }).cause ?? '')}`, /certificate|verify/i);

  // the auditor's connection takes the CA from its config
  const auditorNats = { url: bus.url, name: 'agentbus-auditor', credsFile: join(bus.stateDir, 'creds', 'auditor.creds.json') };
  const nc = await connectNats({ ...auditorNats, tls: { caFile: bus.tls!.caFile! } });
  assert.ok(nc.info?.tls_required);
  await nc.close();
  await connectNats(auditorNats).then(
    (c) => c.close().then(() => assert.unreachable('the auditor connected without the CA')),
    (e: Error) => assert.match(e.message, /cannot connect to NATS/),
  );
});

/** Start a dev bus, send alice → bob with `marker` in the signed header (the audit stream stores headers), stop. */
async function busWithMarker(
  name: string,
  marker: string,
  extra: Partial<Parameters<typeof startDevBus>[0]>,
): Promise<{ bus: DevBus; env: Map<string, string> }> {
  const bus = await devBus(name, extra);
  const env = processEnv(bus.nats.proc.pid!);
  // a config reload (SIGHUP, as on a manifest change) resolves the key from nats-server's own environment
  await bus.nats.reload();
  const bob = await agent(bus, 'bob'); // the recipient confirms the delivery
  const alice = await agent(bus, 'alice');
  const sent = await alice.send('bob', 'task.assign', { title: marker }, { metadata: { ticket_id: marker } });
  assert.is(sent.delivered, true);
  for (const c of [alice, bob]) {
    await c.close();
    clients.splice(clients.indexOf(c), 1);
  }
  await bus.stop(); // nats-server flushes its store on a clean shutdown
  buses.splice(buses.indexOf(bus), 1);
  return { bus, env };
}

test('tls - --encrypt-store: no key on disk, no plaintext in the JetStream store, the server needs the variable', async () => {
  assert.is(process.env[DEFAULT_JS_KEY_ENV], undefined, 'the test runs without a store key in its environment');
  const marker = `AGENTBUS-PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`;

  // control: without encryption the marker is on disk in the store
  const plain = await busWithMarker('plain-store', marker, {});
  assert.ok((await filesContaining(join(plain.bus.stateDir, 'jetstream'), marker)).length > 0, 'the marker is readable in an unencrypted store');
  assert.not.match(readFileSync(join(plain.bus.stateDir, 'nats.conf'), 'utf8'), /cipher|\bkey:/);

  // encrypted, with a generated key: it is in nats-server's environment only
  const enc = await busWithMarker('enc-store', marker, { encryptStore: true });
  assert.ok(enc.bus.storeEncrypted && enc.bus.jsKeyGenerated);
  assert.is(process.env[DEFAULT_JS_KEY_ENV], undefined, "the key is not left in this process's environment");
  const key = enc.env.get(DEFAULT_JS_KEY_ENV);
  assert.ok(key && key.length >= 33, "the generated key is in nats-server's environment");
  const conf = readFileSync(join(enc.bus.stateDir, 'nats.conf'), 'utf8');
  assert.match(conf, /cipher: chachapoly\n {2}key: \$AGENTBUS_JS_KEY\n/);
  assert.equal(await filesContaining(enc.bus.stateDir, key!), [], 'the key is in no file of the state dir');
  assert.equal(await filesContaining(join(enc.bus.stateDir, 'jetstream'), marker), [], 'the marker is not readable in the encrypted store');
  assert.ok(
    (await allFiles(join(enc.bus.stateDir, 'jetstream'))).some((f) => f.endsWith('.blk')),
    'the store has message blocks',
  );

  // the server starts only with the variable set ...
  const configPath = join(enc.bus.stateDir, 'nats.conf');
  const err = await spawnNatsServer(configPath).then(
    (s) => s.stop().then(() => null),
    (e: Error) => e,
  );
  assert.instance(err, Error, 'nats-server refuses to start without the key variable');
  assert.match(err!.message, /AGENTBUS_JS_KEY/);
  // ... and, with the same key, reads the encrypted audit stream back
  process.env[DEFAULT_JS_KEY_ENV] = key!;
  let srv: Awaited<ReturnType<typeof spawnNatsServer>>;
  try {
    srv = await spawnNatsServer(configPath);
  } finally {
    delete process.env[DEFAULT_JS_KEY_ENV];
  }
  try {
    assert.match(srv.output(), /Encryption:\s+ChaCha20-Poly1305/);
    const port = Number(new URL(enc.bus.urls[0]!).port);
    const nc = await connect({
      servers: `nats://127.0.0.1:${port}`,
      authenticator: nkeyAuthenticator(enc.bus.verifierCreds.natsSeed()),
      inboxPrefix: '_INBOX_verifier',
    });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info('AUDIT');
      let found = false;
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && !found; seq++) {
        const m = await jsm.streams.getMessage('AUDIT', { seq }).catch(() => null);
        if (m && Buffer.from(m.data).includes(Buffer.from(marker))) found = true;
      }
      assert.ok(found, 'the audit stream decrypts with the key');
    } finally {
      await nc.close();
    }
  } finally {
    await srv.stop();
  }

  // a store encrypted with a generated key is unreadable later: the next run starts it afresh
  const again = await devBus('enc-store', { encryptStore: true });
  const jsm = await jetstreamManager(again.verifier.nc);
  const audit = await jsm.streams.info('AUDIT');
  assert.is(audit.state.messages, 0, 'the old store was replaced');
  await again.stop();
  buses.splice(buses.indexOf(again), 1);

  // a key given in the environment must survive nats-server's config parser
  process.env.AGENTBUS_TEST_BAD_KEY = 'short#key';
  try {
    await devBus('bad-key', { encryptStore: true, jsKeyEnv: 'AGENTBUS_TEST_BAD_KEY' }).then(
      () => assert.unreachable('a bad key was accepted'),
      (e: Error) => assert.match(e.message, /AGENTBUS_TEST_BAD_KEY must be 32 or more letters and digits/),
    );
  } finally {
    delete process.env.AGENTBUS_TEST_BAD_KEY;
  }
});

test('tls - a 3-node cluster with TLS routes forms: R3 audit stream, messages verified, plaintext routes refused', async () => {
  const bus = await devBus('cluster', { tls: true, nodes: 3 });
  assert.is(bus.urls.length, 3);
  assert.is(bus.replicas, 3);
  const confs = [1, 2, 3].map((i) => readFileSync(join(bus.stateDir, `nats-${i}.conf`), 'utf8'));
  for (const c of confs) assert.match(c, /cluster \{[\s\S]*\n {2}tls \{\n {4}cert_file: [\s\S]*\n {2}\}\n\}/, 'routes use TLS');
  // the verifier could create its R3 stream: the routes (TLS only) carry the cluster
  const jsm = await jetstreamManager(bus.verifier.nc);
  const t0 = Date.now();
  let info = await jsm.streams.info('AUDIT');
  while ((info.cluster?.replicas?.filter((r) => r.current).length ?? 0) < 2 && Date.now() - t0 < 30_000) {
    await new Promise((r) => setTimeout(r, 250));
    info = await jsm.streams.info('AUDIT');
  }
  assert.is(info.config.num_replicas, 3);
  assert.is(info.cluster?.replicas?.length, 2, 'two followers');
  const bob = await agent(bus, 'bob');
  const alice = await agent(bus, 'alice');
  const r = await alice.send('bob', 'task.assign', { title: 'clustered' });
  assert.is(r.duplicate, false);
  assert.is(r.delivered, true, 'delivered over the TLS cluster and confirmed');
  for await (const m of bob.inbox()) {
    assert.is((m.payload as { title: string }).title, 'clustered');
    break;
  }
  // a plaintext route connection is dropped: the route port wants a TLS handshake first
  const routePort = Number(/cluster \{\n {2}name: [^\n]*\n {2}listen: "127\.0\.0\.1:(\d+)"/.exec(confs[0]!)?.[1]);
  assert.ok(routePort > 0);
  const plain = await plaintextSession(routePort, { speakFirst: true });
  assert.ok(plain.closed);
  assert.is(plain.info, undefined, 'no route INFO before TLS');
  await new Promise((res) => setTimeout(res, 300));
  assert.match(bus.nats.output(), /TLS route handshake error/);
});

test.run();
