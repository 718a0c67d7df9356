// Prometheus metrics and health endpoints of the verifier and the auditor (issue 8): real
// nats-server, real verifier and auditor in this process (two registries side by side),
// messages with known verdicts, then /metrics, /healthz and /readyz scraped over HTTP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { sealEnvelope, parseEnvelope, encodeEnvelope } from '../packages/protocol/src/envelope.js';
import type { SealInput } from '../packages/protocol/src/envelope.js';
import { Ack, Delivery, Verdict, Reason, reasonName, allReasons } from '../packages/protocol/src/proto.js';
import { startBus, waitFor, verifierCliArgs } from './helpers/bus.js';
import { reapOrphanNatsServers } from '../packages/server/src/common/bus-state.js';
import type { TestBus } from './helpers/bus.js';
import { confirmDeliveries, sealInputAs, enc } from './helpers/hostile.js';
import { freePort } from './helpers/nats-server.js';
import type { Verifier } from '../packages/server/src/verifier/verifier.js';
import { startMetricsServer, VERIFY_SECONDS_BUCKETS } from '../packages/server/src/common/metrics.js';
import { storeReadiness } from '../packages/server/src/auditor/metrics.js';
import { startAuditor } from '../packages/server/src/auditor/service.js';
import type { Auditor } from '../packages/server/src/auditor/service.js';
import { Registry } from 'prom-client';
import { cliArgs } from './helpers/cli-bin.js';

let bus: TestBus;
let v: Verifier;
let alice: NatsConnection;
let bob: NatsConnection;
let bobSub: Subscription;
let auditor: Auditor | undefined;
const dir = mkdtempSync(join(tmpdir(), 'agentbus-metrics-'));
const sent = { accepted: 3, duplicate: 1, malformed: 2, bad_signature: 3, destination_not_allowed: 1 };
const total = Object.values(sent).reduce((a, b) => a + b, 0);
/** Audit events the verifier test produces: `total`, plus one message sent while bob is away. */
const audited = total + 1;

test.before(async () => {
  bus = await startBus({
    verifiers: 0,
    agents: {
      alice: { send: [{ to: 'bob', types: ['task.*'] }] },
      bob: { send: [{ to: 'alice', types: ['task.result'] }] },
      carol: {},
    },
  });
  // a delivery to an absent recipient stays pending for 4 s (not the default 1 s): long enough
  // for a scrape on a loaded machine to see it before it times out (the drain test below)
  v = await bus.startVerifier({ metricsPort: await freePort(), deliveryTimeoutMs: 4000 });
  await waitFor(() => v.partitions.length === 8, 10_000, 'partitions');
  alice = await bus.rawAgent('alice');
  // bob confirms its deliveries, as the SDK does
  bob = await bus.rawAgent('bob');
  bobSub = await confirmDeliveries(bob, 'bob');
});
test.after(async () => {
  await auditor?.stop().catch(() => undefined);
  await bus.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** alice's task.assign to bob, to seal (as is, or changed by `over`). */
const base = (over: Partial<SealInput> = {}) => sealInputAs(bus, 'alice', { recipient: 'bob', payload: enc({ title: 'write tests', priority: 2 }), ...over });

async function send(bytes: Uint8Array): Promise<Ack> {
  const r = await alice.request('agentbus.in.alice', bytes, { timeout: 10_000 });
  return Ack.decode(r.data);
}

/** Samples of the text exposition: `name{labels}` → value. */
async function scrape(url: string): Promise<Map<string, number>> {
  const r = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const out = new Map<string, number>();
  for (const line of (await r.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function probe(url: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** True when nothing listens on the URL's port any more (a fresh TCP connect is refused). */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

function devLog(state: string): string {
  try {
    return readFileSync(join(state, 'agentbus.log'), 'utf8').slice(-1500);
  } catch {
    return '(no log)';
  }
}

function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((res) => {
    const sock = connect({ host: hostname, port: Number(port) });
    sock.once('connect', () => {
      sock.destroy();
      res(false);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => res(e.code === 'ECONNREFUSED'));
  });
}

test('verifier - /healthz and /readyz answer 200 once started, on 127.0.0.1', async () => {
  const url = v.metricsUrl!;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const h = await probe(url, '/healthz');
  assert.is(h.status, 200);
  assert.is(h.body.status, 'ok');
  const r = await probe(url, '/readyz');
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.is(r.body.partitions, 8);
  assert.is((await fetch(`${url}/nope`)).status, 404);
  assert.is((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);
});

test('verifier - messages_total counts each verdict and reason sent; the check histogram counts every check', async () => {
  const first = sealEnvelope(base());
  assert.is((await send(first.bytes)).verdict, Verdict.VERDICT_ACCEPTED);
  for (let i = 1; i < sent.accepted; i++) assert.is((await send(sealEnvelope(base()).bytes)).verdict, Verdict.VERDICT_ACCEPTED);
  assert.is((await send(first.bytes)).verdict, Verdict.VERDICT_DUPLICATE);
  for (let i = 0; i < sent.malformed; i++) assert.is((await send(randomBytes(64))).reason, Reason.REASON_MALFORMED);
  for (let i = 0; i < sent.bad_signature; i++) {
    const p = parseEnvelope(sealEnvelope(base()).bytes);
    if (!p.ok) throw new Error('seal');
    const sig = Uint8Array.from(p.value.signature);
    sig[3]! ^= 0x10;
    assert.is((await send(encodeEnvelope({ ...p.value, signature: sig }))).reason, Reason.REASON_BAD_SIGNATURE);
  }
  assert.is((await send(sealEnvelope(base({ recipient: 'carol' })).bytes)).reason, Reason.REASON_DESTINATION_NOT_ALLOWED);

  const m = await scrape(v.metricsUrl!);
  const msgs = (verdict: string, reason: string) => m.get(`agentbus_verifier_messages_total{verdict="${verdict}",reason="${reason}"}`);
  assert.is(msgs('accepted', 'none'), sent.accepted);
  assert.is(msgs('duplicate', 'none'), sent.duplicate);
  assert.is(msgs('rejected', 'malformed'), sent.malformed);
  assert.is(msgs('rejected', 'bad_signature'), sent.bad_signature);
  assert.is(msgs('rejected', 'destination_not_allowed'), sent.destination_not_allowed);
  // every other reason is present at zero (rate() needs a starting point)
  for (const r of allReasons()) {
    const name = reasonName(r);
    if (!(name in sent)) assert.is(msgs('rejected', name), 0, name);
  }
  const series = [...m.keys()].filter((k) => k.startsWith('agentbus_verifier_messages_total{'));
  assert.is(series.length, 2 + allReasons().length);
  // check() ran once per message (all had a good reply subject)
  assert.is(m.get('agentbus_verifier_verify_seconds_count'), total);
  assert.is(m.get('agentbus_verifier_verify_seconds_bucket{le="+Inf"}'), total);
  assert.ok(m.get('agentbus_verifier_verify_seconds_sum')! > 0);
  assert.ok(m.get('agentbus_verifier_verify_seconds_sum')! < 1);
  assert.ok(m.has(`agentbus_verifier_verify_seconds_bucket{le="${VERIFY_SECONDS_BUCKETS[0]}"}`));
  assert.ok(m.has(`agentbus_verifier_verify_seconds_bucket{le="${VERIFY_SECONDS_BUCKETS.at(-1)}"}`));
  assert.is(m.get('agentbus_verifier_partitions_owned'), 8);
  assert.is(m.get('agentbus_verifier_inflight'), 0);
  assert.is(m.get('agentbus_verifier_audit_publish_errors_total'), 0);
  assert.is(m.get('agentbus_verifier_manifest_reloads_total'), 0);
  assert.is(m.get('agentbus_verifier_manifest_reload_errors_total'), 0);
  assert.ok(m.has('process_cpu_user_seconds_total'), 'default process metrics');
  // the counters agree with the verifier's own stats
  assert.is(v.stats.accepted, sent.accepted);
  // a second scrape adds nothing
  const again = await scrape(v.metricsUrl!);
  assert.is(again.get('agentbus_verifier_messages_total{verdict="accepted",reason="none"}'), sent.accepted);
  // delivery: every forward confirmed at once; each accepted or duplicate message timed receipt → forward
  assert.is(m.get('agentbus_verifier_pending_deliveries'), 0);
  assert.is(m.get('agentbus_verifier_redeliveries_total'), 0);
  assert.is(m.get('agentbus_verifier_unconfirmed_deliveries_total'), 0);
  assert.is(m.get('agentbus_verifier_forward_seconds_count'), sent.accepted + sent.duplicate);
  assert.ok(m.get('agentbus_verifier_audit_commit_seconds_count')! >= 1);
  assert.ok(m.get('agentbus_verifier_replay_entries')! >= sent.accepted);
  assert.ok(m.get('agentbus_verifier_replay_bytes')! > 0);
  // with bob gone, a delivery is re-forwarded, then answered unconfirmed, and counted
  bobSub.unsubscribe();
  await bob.flush();
  const lone = await send(sealEnvelope(base()).bytes);
  assert.is(lone.delivery, Delivery.DELIVERY_UNCONFIRMED);
  const after = await scrape(v.metricsUrl!);
  assert.is(after.get('agentbus_verifier_unconfirmed_deliveries_total'), 1);
  assert.ok(after.get('agentbus_verifier_redeliveries_total')! >= 2);
});

test('verifier - manifest reloads are counted', async () => {
  const m = bus.manifests.get('carol')!;
  bus.writeManifest({ ...m, rate: { per_second: 7, burst: 7 } });
  await waitFor(() => v.stats.manifestReloads === 1, 3000, 'reload');
  assert.is((await scrape(v.metricsUrl!)).get('agentbus_verifier_manifest_reloads_total'), 1);
});

test('auditor - events_stored, lag, alerts by rule; /healthz and /readyz; second registry in the same process', async () => {
  auditor = await startAuditor(
    {
      nats: { url: bus.url, credsFile: bus.credsPath('auditor') },
      store: { url: join(dir, 'db') },
      consumer: { ackWaitMs: 3000, batchMaxWaitMs: 1000 },
      detect: { intervalMs: 3_600_000 },
      logLevel: 'silent',
    },
    { metricsPort: await freePort() },
  );
  const url = auditor.metricsUrl!;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  await waitFor(() => auditor!.stats().consumer.events >= audited, 15_000, 'events stored');
  assert.is((await probe(url, '/healthz')).status, 200);
  const r = await probe(url, '/readyz');
  assert.is(r.status, 200, JSON.stringify(r.body));
  let m = await scrape(url);
  assert.is(m.get('agentbus_auditor_events_stored_total'), audited);
  assert.is(m.get('agentbus_auditor_lag_events'), 0);
  assert.is(m.get('agentbus_auditor_insert_errors_total'), 0);
  assert.is(m.get('agentbus_auditor_dead_letters_total'), 0);
  assert.is(m.get('agentbus_alerts_total{rule="signature_failure"}'), 0);
  assert.ok(m.has('process_cpu_user_seconds_total'));
  assert.not.ok(
    [...m.keys()].some((k) => k.startsWith('agentbus_verifier_')),
    'registries are separate',
  );
  // three bad signatures from alice in this minute: a signature_failure alert
  const fired = await auditor.evaluate();
  assert.ok(
    fired.some((a) => a.rule === 'signature_failure'),
    JSON.stringify(fired.map((a) => a.rule)),
  );
  m = await scrape(url);
  assert.is(m.get('agentbus_alerts_total{rule="signature_failure"}'), fired.filter((a) => a.rule === 'signature_failure').length);
  assert.is(m.get('agentbus_alerts_total{rule="fan_out"}'), fired.filter((a) => a.rule === 'fan_out').length);
  // new audit events show as lag until stored (lag is re-asked at most once a second)
  assert.is((await send(sealEnvelope(base()).bytes)).verdict, Verdict.VERDICT_ACCEPTED);
  await waitFor(() => auditor!.stats().consumer.events >= audited + 1, 15_000, 'one more stored');
  await new Promise((res) => setTimeout(res, 1100));
  m = await scrape(url);
  assert.is(m.get('agentbus_auditor_events_stored_total'), audited + 1);
  assert.is(m.get('agentbus_auditor_lag_events'), 0);
  await auditor.stop();
  assert.ok(await refused(url), 'auditor metrics port still open after stop');
  auditor = undefined;
});

test('verifier - /readyz is 503 while NATS is down and 200 again after the reconnect; /healthz stays 200', async () => {
  const url = v.metricsUrl!;
  const seen: { status: number; reason: unknown; health: number }[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await probe(url, '/readyz');
      seen.push({ status: r.status, reason: r.body.reason, health: (await fetch(`${url}/healthz`)).status });
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  await bus.nats.restart();
  await waitFor(() => seen.at(-1)?.status === 200 && seen.some((s) => s.status === 503), 15_000, 'ready again');
  polling = false;
  await poller;
  const down = seen.filter((s) => s.status === 503);
  assert.ok(down.length > 0);
  assert.ok(
    down.every((s) => s.reason === 'nats disconnected'),
    JSON.stringify(down),
  );
  assert.ok(
    seen.every((s) => s.health === 200),
    'healthz stays 200 while reconnecting',
  );
});

test('verifier - /readyz says draining while the verifier drains, and the port closes when it is done', async () => {
  const url = v.metricsUrl!;
  // NATS was restarted just before: ready again is not yet serving again — wait until the
  // verifier holds every partition and alice's connection is back (on a loaded machine both lag
  // /readyz; alice's message would otherwise reach no verifier and never be pending)
  await waitFor(() => v.partitions.length === 8, 15_000, 'partitions after the restart');
  await alice.flush();
  // bob is gone (above): a message to him waits for the delivery timeout, and drain() waits for
  // it, so the verifier is draining with its port still up for that long (not a race to probe)
  const acked = send(sealEnvelope(base()).bytes).then(
    (a) => a.delivery,
    (e: unknown) => e,
  ); // (held: asserted below)
  await waitFor(async () => (await scrape(url)).get('agentbus_verifier_pending_deliveries') === 1, 15_000, 'a pending delivery');
  const draining = v.drain();
  const r = await probe(url, '/readyz');
  assert.is(r.status, 503);
  assert.is(r.body.reason, 'draining');
  await draining;
  assert.is(await acked, Delivery.DELIVERY_UNCONFIRMED, 'drain answered the delivery in flight');
  assert.ok(await refused(url), 'verifier metrics port still open after drain');
});

test('verifier - a metrics port in use fails the start with a clear error', async () => {
  const blocker = createServer();
  await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
  const port = (blocker.address() as { port: number }).port;
  try {
    await bus.startVerifier({ metricsPort: port, id: 'blocked' });
    assert.unreachable('started');
  } catch (e) {
    assert.match((e as Error).message, new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  } finally {
    blocker.close();
  }
});

test('probes - 503 with a JSON reason; the store readiness reports a failing ping', async () => {
  const s = await startMetricsServer({
    port: await freePort(),
    registry: new Registry(),
    healthz: () => ({ ok: true }),
    readyz: () => ({ ok: false, reason: 'starting' }),
  });
  const r = await probe(s.url, '/readyz');
  assert.is(r.status, 503);
  assert.equal(r.body, { status: 'unavailable', reason: 'starting' });
  assert.is((await fetch(`${s.url}/metrics`)).status, 200);
  await s.close();
  await s.close(); // idempotent
  assert.ok(await refused(s.url));
  let calls = 0;
  const ready = storeReadiness(
    async () => {
      calls++;
      throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
    },
    { cacheMs: 60_000 },
  );
  const p = await ready();
  assert.is(p.ok, false);
  assert.match(p.reason!, /store ping failed: connect ECONNREFUSED/);
  await ready();
  assert.is(calls, 1, 'answers are cached');
  const slow = storeReadiness(() => new Promise<boolean>(() => undefined), { timeoutMs: 50 });
  assert.match((await slow()).reason!, /no answer in 50 ms/);
});

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('cli - verifier and auditor --help list --metrics-port and --metrics-host; a bad port exits 2', () => {
  for (const c of ['verifier', 'auditor']) {
    const r = cli(c, '--help');
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /--metrics-port <n>/);
    assert.match(r.out, /--metrics-host <host>/);
    const bad = cli(c, '--metrics-port', '70000');
    assert.is(bad.code, 2, bad.err);
    assert.match(bad.err, /--metrics-port must be/);
  }
});

test('cli - `agentbus verifier --metrics-port` serves /readyz and /metrics, and closes on SIGTERM', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, cliArgs(...verifierCliArgs(bus, '--log-level', 'error', '--metrics-port', String(port))), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined))?.status === 200,
      20_000,
      `cli verifier ready (${err})`,
    );
    assert.match(err, new RegExp(`metrics on ${url}/metrics`));
    const m = await scrape(url);
    assert.ok(m.has('agentbus_verifier_partitions_owned'));
    child.kill('SIGTERM');
    assert.is(
      await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running 30 s after SIGTERM'), 30_000).unref())]),
      0,
      err.slice(-800),
    );
    assert.ok(await refused(url));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

/** `agentbus dev --metrics-port P` on two consecutive free ports (the auditor takes P + 1), in its own state dir. */
async function devWithMetrics() {
  let port = await freePort();
  while (!(await portFree(port + 1))) port = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'agentbus-devm-'));
  const child = spawn(process.execPath, cliArgs('dev', '--port', '0', '--state-dir', state, '--metrics-port', String(port)), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return {
    port,
    state,
    out: () => out,
    /** Until http://127.0.0.1:p/readyz answers 200 (each try bounded: a listener that never answers fails the wait, not hangs it). */
    ready: (p: number, what: string) =>
      waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`agentbus dev exited ${child.exitCode}: ${out.slice(-800)}`);
          return (await fetch(`http://127.0.0.1:${p}/readyz`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined))?.status === 200;
        },
        120_000,
        `${what} (${out.slice(-500)}; log: ${devLog(state)})`,
      ),
    /** Ctrl-C; asserts the exit code 0 within 30 s. */
    async ctrlC() {
      child.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running 30 s after Ctrl-C'), 30_000).unref())]);
      assert.is(code, 0, `exit ${code} (signal ${child.signalCode}): ${out.slice(-800)}; log: ${devLog(state)}`);
    },
    async cleanup() {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      await reapOrphanNatsServers(state); // a dev bus killed here cannot stop its nats-server
      rmSync(state, { recursive: true, force: true });
    },
  };
}

test('cli - `agentbus dev --metrics-port P`: verifier on P, auditor on P + 1, both ready; Ctrl-C stops everything', async () => {
  const dev = await devWithMetrics();
  const { port } = dev;
  try {
    for (const p of [port, port + 1]) await dev.ready(p, `dev metrics on ${p} ready`);
    assert.ok((await scrape(`http://127.0.0.1:${port}`)).has('agentbus_verifier_partitions_owned'));
    assert.ok([...(await scrape(`http://127.0.0.1:${port + 1}`)).keys()].some((k) => k.startsWith('agentbus_auditor_')));
    await dev.ctrlC();
    assert.ok(await refused(`http://127.0.0.1:${port}`));
    assert.ok(await refused(`http://127.0.0.1:${port + 1}`));
  } finally {
    await dev.cleanup();
  }
});

test('cli - Ctrl-C while `agentbus dev` is still starting (verifier up, auditor not yet): it finishes starting, stops everything, exits 0', async () => {
  const dev = await devWithMetrics();
  const { port } = dev;
  try {
    await dev.ready(port, 'dev verifier metrics ready');
    await dev.ctrlC();
    assert.match(dev.out(), /stopped/);
    assert.ok(await refused(`http://127.0.0.1:${port}`));
    assert.ok(await refused(`http://127.0.0.1:${port + 1}`));
  } finally {
    await dev.cleanup();
  }
});

test.run();
