// End-to-end throughput and hop latency through a real nats-server on loopback: the verifier
// (a child process, one core) against the pass-through relay (same shape, no checks).
import { DeliveryConfirmer } from '../packages/sdk/src/delivery.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { NatsConnection } from '@nats-io/transport-node';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { CompactSign } from 'jose';
import { sealEnvelope } from '../packages/protocol/src/envelope.js';
import { partitionOf } from '../packages/server/src/common/partitions.js';
import { Ack, Delivery, Verdict } from '../packages/protocol/src/proto.js';
import { startBus, verifierCliArgs } from '../test/helpers/bus.js';
import type { TestBus } from '../test/helpers/bus.js';
import { untilReady } from '../test/helpers/cli-bin.js';

export interface BusBench {
  bus: TestBus;
  stop(): Promise<void>;
}

/** Sender names that land on partitions 0..7, one each (for the 1 → 2 verifier scaling run). */
export function laneSenders(partitions = 8): string[] {
  const byPart = new Map<number, string>();
  for (let i = 0; byPart.size < partitions; i++) {
    const name = `w${i}`;
    const p = partitionOf(name, partitions);
    if (!byPart.has(p)) byPart.set(p, name);
  }
  return [...byPart.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
}

export async function startBenchBus(): Promise<TestBus> {
  const fast = { send: [{ to: 'coder', types: ['task.assign', 'note.post'] }], rate: { per_second: 1e6, burst: 1e6 }, max_payload_bytes: 1024 * 1024 - 4096 };
  return startBus({
    verifiers: 0,
    // the quarantine follower (common/quarantine.ts): a flooder past its budget loses its publish permission at NATS
    quarantine: true,
    // mallory: the compromised agent of the junk-flood run (default rate and rejection budget)
    agents: {
      planner: fast,
      coder: {},
      mallory: { send: [{ to: 'coder', types: ['task.assign'] }] },
      ...Object.fromEntries(laneSenders().map((n) => [n, fast])),
    },
  });
}

export function presignAs(bus: TestBus, sender: string, n: number, payloadBytes: number): Uint8Array[] {
  const k = bus.ids.get(sender)!.currentKey();
  const payload = new TextEncoder().encode(JSON.stringify({ text: 'x'.repeat(Math.max(0, payloadBytes - 12)) }));
  return Array.from(
    { length: n },
    () => sealEnvelope({ sender, keyId: k.keyId, sign: k.sign, recipient: 'coder', type: 'note.post', payload, contentType: 'application/json' }).bytes,
  );
}

/**
 * Wait until every lane's partition has an owner that answers (a verifier that just started,
 * or one that took over from a stopped one, owns all partitions only after its lease ticks).
 */
export async function waitServed(bus: TestBus, senders: string[], timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  for (const sender of senders) {
    const nc = await bus.rawAgent(sender);
    for (;;) {
      const [env] = presignAs(bus, sender, 1, 64);
      const ok = await nc.request(`agentbus.in.${sender}`, env!, { timeout: 2000 }).then(
        (m) => Ack.decode(m.data).verdict !== Verdict.VERDICT_UNSPECIFIED,
        () => false,
      );
      if (ok) break;
      if (Date.now() - t0 > timeoutMs) throw new Error(`partition of ${sender} not served after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await nc.close();
  }
}

/**
 * The receiving agent "coder" as a raw NATS subscriber that confirms every delivery (what the
 * SDK client does), so the verifier's acks carry DELIVERY_CONFIRMED. The confirmation traffic
 * is part of what the verifier's figures pay for.
 */
export async function confirmingReceiver(bus: TestBus, agent = 'coder'): Promise<NatsConnection> {
  const nc = await bus.rawAgent(agent);
  const confirmer = new DeliveryConfirmer(nc, agent);
  nc.subscribe(`agentbus.to.${agent}.>`, { callback: (_e, m) => confirmer.confirmRaw(m) });
  await nc.flush();
  return nc;
}

/** An ack that counts: accepted, and not "unconfirmed" (the relay and JWS services leave delivery unset). */
const delivered = (a: Ack) => a.verdict === Verdict.VERDICT_ACCEPTED && a.delivery !== Delivery.DELIVERY_UNCONFIRMED;

/** Pipelined sends from several senders (one connection each), `window` outstanding in all. */
export async function laneThroughput(
  lanes: { nc: NatsConnection; sender: string; envs: Uint8Array[] }[],
  window = 1000,
): Promise<{ perSec: number; accepted: number; reasons: Record<string, number> }> {
  const reasons: Record<string, number> = {};
  const total = lanes.reduce((a, l) => a + l.envs.length, 0);
  let done = 0;
  let accepted = 0;
  const sent = lanes.map(() => 0);
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  let next = 0;
  const pump = () => {
    let guard = lanes.length;
    while (sent.reduce((a, b) => a + b, 0) - done < window && guard > 0) {
      const i = next++ % lanes.length;
      const l = lanes[i]!;
      if (sent[i]! >= l.envs.length) {
        guard--;
        continue;
      }
      guard = lanes.length;
      l.nc.publish(`agentbus.in.${l.sender}`, l.envs[sent[i]!++]!, { reply: `agentbus.inbox.${l.sender}.bench` });
    }
  };
  const subs = lanes.map((l) =>
    l.nc.subscribe(`agentbus.inbox.${l.sender}.bench`, {
      callback: (_e, m) => {
        const a = Ack.decode(m.data);
        if (delivered(a)) accepted++;
        else reasons[`${a.verdict}:${a.reason}`] = (reasons[`${a.verdict}:${a.reason}`] ?? 0) + 1;
        if (++done === total) resolveDone();
        else pump();
      },
    }),
  );
  await Promise.all(lanes.map((l) => l.nc.flush()));
  const t0 = process.hrtime.bigint();
  pump();
  await finished;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of subs) s.unsubscribe();
  return { perSec: total / secs, accepted, reasons };
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * A service as a child process. `cwd`: run it from another checkout of the repository (the A/B
 * bench, bench/ab-verifier.ts: the same bus, the verifier of a base commit beside this one).
 */
export async function spawnService(bus: TestBus, kind: 'verifier' | 'relay' | 'jws', extra: string[] = [], cwd?: string): Promise<ChildProcess> {
  const args =
    kind === 'verifier'
      ? [
          '--import',
          'tsx',
          'packages/server/src/cli/index.ts',
          ...verifierCliArgs(bus, '--log-level', 'error', '--depth-key-file', `${bus.dir}/creds/depth.key`, ...extra),
        ]
      : kind === 'jws'
        ? ['--import', 'tsx', 'bench/jws-service.ts', bus.url, `${bus.dir}/creds/verifier.json`, bus.manifestsDir]
        : ['--import', 'tsx', 'bench/relay.ts', bus.url, `${bus.dir}/creds/verifier.json`];
  // BENCH_PROFILE_DIR=dir: write a V8 CPU profile of the service (node --cpu-prof) there
  const prof = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  // BENCH_VERIFIER_NODE_FLAGS="--flag ...": node flags for the verifier only (experiments)
  const flags = kind === 'verifier' && process.env.BENCH_VERIFIER_NODE_FLAGS ? process.env.BENCH_VERIFIER_NODE_FLAGS.split(' ').filter(Boolean) : [];
  // BENCH_VERIFIER_ARGS="--verify-threads 0": extra options of `agentbus verifier` (experiments)
  if (kind === 'verifier' && process.env.BENCH_VERIFIER_ARGS) args.push(...process.env.BENCH_VERIFIER_ARGS.split(' ').filter(Boolean));
  // BENCH_VERIFIER_STDOUT=file: the verifier's stdout there (e.g. with --trace-gc)
  const out = kind === 'verifier' && process.env.BENCH_VERIFIER_STDOUT ? openSync(process.env.BENCH_VERIFIER_STDOUT, 'w') : 'ignore';
  const child = spawn(process.execPath, [...flags, ...prof, ...args], { stdio: ['ignore', out, 'pipe'], ...(cwd ? { cwd } : {}) });
  // a bench that throws must not leave its services running (they would load the next run)
  children.add(child);
  child.once('exit', () => children.delete(child));
  await untilReady(child);
  return child;
}

/** SIGTERM (a graceful drain), then SIGKILL after `graceMs`. */
export async function stopChild(c: ChildProcess, graceMs = 5000): Promise<void> {
  if (c.exitCode !== null) return;
  const done = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(t);
}

export function presign(bus: TestBus, n: number, payloadBytes: number): Uint8Array[] {
  const k = bus.ids.get('planner')!.currentKey();
  const text = 'x'.repeat(Math.max(0, payloadBytes - 12));
  const payload = new TextEncoder().encode(JSON.stringify({ text }));
  return Array.from(
    { length: n },
    () =>
      sealEnvelope({ sender: 'planner', keyId: k.keyId, sign: k.sign, recipient: 'coder', type: 'note.post', payload, contentType: 'application/json' }).bytes,
  );
}

/** The same message as compact JWS (jose, EdDSA), signed with the same key. */
export async function presignJws(bus: TestBus, n: number, payloadBytes: number): Promise<Uint8Array[]> {
  const k = bus.ids.get('planner')!.currentKey();
  const seed = k.exportSeed();
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(seed).toString('base64url'), x: Buffer.from(k.publicKey).toString('base64url') },
    format: 'jwk',
  });
  seed.fill(0);
  const text = 'x'.repeat(Math.max(0, payloadBytes - 12));
  const enc = new TextEncoder();
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const claims = {
      sender: 'planner',
      recipient: 'coder',
      type: 'note.post',
      msg_id: randomBytes(16).toString('hex'),
      sent_at: Date.now(),
      payload: { text },
      metadata: {},
    };
    const jws = await new CompactSign(enc.encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'EdDSA', kid: k.keyId }).sign(key);
    out.push(enc.encode(jws));
  }
  return out;
}

/** Pipelined sends with at most `window` outstanding; returns accepted acks per second. */
/**
 * Outstanding messages of a throughput run: 1,000, but at most 16 MiB in flight (256 at 64 KiB).
 * With 1,000 × 64 KiB queued, a confirming receiver fell more than the verifier's delivery
 * timeout (1 s) behind and deliveries came back unconfirmed; the full bench gives each service the same window for a payload size (windowFor(size)).
 */
export const windowFor = (bytes: number) => Math.max(32, Math.min(1000, Math.floor((16 << 20) / Math.max(1, bytes))));

export async function throughput(
  sender: NatsConnection,
  envs: Uint8Array[],
  window = windowFor(envs[0]?.length ?? 0),
): Promise<{ perSec: number; accepted: number; rejected: number; reasons: Record<string, number> }> {
  const reasons: Record<string, number> = {};
  let sent = 0;
  let done = 0;
  let accepted = 0;
  let rejected = 0;
  const inbox = 'agentbus.inbox.planner.bench';
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  const pump = () => {
    while (sent < envs.length && sent - done < window) sender.publish('agentbus.in.planner', envs[sent++]!, { reply: inbox });
  };
  const sub = sender.subscribe(inbox, {
    callback: (_e, m) => {
      const a = Ack.decode(m.data);
      if (delivered(a)) accepted++;
      else {
        rejected++;
        reasons[`${a.verdict}:${a.reason}:${a.detail}`] = (reasons[`${a.verdict}:${a.reason}:${a.detail}`] ?? 0) + 1;
      }
      done++;
      if (done === envs.length) resolveDone();
      else pump();
    },
  });
  await sender.flush();
  const t0 = process.hrtime.bigint();
  pump();
  await finished;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  sub.unsubscribe();
  return { perSec: envs.length / secs, accepted, rejected, reasons };
}

/** Cumulative bucket counts (le → count) of a Prometheus histogram at `url`/metrics. */
export async function scrapeHistogram(url: string, name: string): Promise<Map<number, number>> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const out = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm')))
    out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  return out;
}

/** Gauges' values from one Prometheus scrape at `url`/metrics (one scrape: each resets prom-client's event-loop gauges). */
export async function gauges(url: string, names: string[]): Promise<number[]> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  return names.map((name) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  });
}

/** Quantile q of the observations between two scrapes: the upper bound of the bucket it falls in. */
export function histogramQuantile(before: Map<number, number>, after: Map<number, number>, q: number): { value: number; count: number } {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const le of les) if (after.get(le)! - (before.get(le) ?? 0) >= q * total) return { value: le, count: total };
  return { value: Infinity, count: total };
}

/**
 * Send→deliver latency at a fixed rate (messages/s), measured at the receiver, with the load
 * generator in its own process (bench/latency-gen.ts): in the measuring process its sends
 * bunched into bursts behind that process's own pauses. Send and receive times are both epoch
 * clocks (performance.timeOrigin + now) of the same machine. The first `warmup` are not counted.
 */
export async function hopLatency(
  bus: TestBus,
  receiver: NatsConnection,
  envs: Uint8Array[],
  rate: number,
  warmup = 0,
): Promise<{ p50: number; p99: number; p999: number; samples: number }> {
  const n = envs.length;
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-lat-'));
  const file = join(dir, 'envs.bin');
  const parts: Buffer[] = [];
  for (const e of envs) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(e.length);
    parts.push(len, Buffer.from(e));
  }
  writeFileSync(file, Buffer.concat(parts));
  const recvAt = new Float64Array(n).fill(NaN);
  let got = 0;
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  const key = (b: Uint8Array) => b[b.length - 1]! | (b[b.length - 2]! << 8) | (b[b.length - 3]! << 16) | ((b[b.length - 4]! & 0x3f) << 24);
  const index = new Map<number, number>();
  const ambiguous = new Set<number>();
  envs.forEach((e, i) => {
    const k = key(e);
    if (index.has(k)) ambiguous.add(k);
    index.set(k, i);
  });
  const sub = receiver.subscribe('agentbus.to.coder.>', {
    callback: (_e, m) => {
      const now = performance.timeOrigin + performance.now();
      const k = key(m.data);
      const i = ambiguous.has(k) ? undefined : index.get(k);
      if (i !== undefined && Number.isNaN(recvAt[i])) recvAt[i] = now;
      if (++got === n) resolveDone();
    },
  });
  await receiver.flush();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/latency-gen.ts', bus.url, bus.credsPath('planner'), file, String(rate), 'planner'], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    await new Promise<void>((res, rej) => {
      child.once('message', () => res());
      child.once('exit', (c) => rej(new Error(`latency generator exited ${c}`)));
    });
    const sent = new Promise<number[]>((res) => child.on('message', (m: { sentAt?: number[] }) => m.sentAt && res(m.sentAt)));
    child.send('go');
    const sentAt = await sent;
    await Promise.race([finished, new Promise((r) => setTimeout(r, 10_000))]);
    const lat: number[] = [];
    for (let i = warmup; i < n; i++) if (!Number.isNaN(recvAt[i])) lat.push(recvAt[i]! - sentAt[i]!);
    const sorted = Float64Array.from(lat).sort();
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
    return { p50: q(0.5), p99: q(0.99), p999: q(0.999), samples: sorted.length };
  } finally {
    sub.unsubscribe();
    if (child.exitCode === null) child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
