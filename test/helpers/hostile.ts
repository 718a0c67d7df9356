// Tools for tests in which an agent is compromised: raw NATS connections that seal envelopes
// themselves, capture what the verifier delivers (with its depth tokens), and flood.
import type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';
import { sealEnvelope, parseEnvelope, decodeHeader, toHex } from '../../packages/protocol/src/envelope.js';
import type { SealInput, Sealed } from '../../packages/protocol/src/envelope.js';
import { Ack, Verdict } from '../../packages/protocol/src/proto.js';
import type { IAuditEvent } from '../../packages/protocol/src/proto.js';
import { DeliveryConfirmer } from '../../packages/sdk/src/delivery.js';
import { DEPTH_TOKEN_HEADER } from '../../packages/protocol/src/constants.js';
import type { TestBus } from './bus.js';
import { waitFor } from './bus.js';

export const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

/** What `agent` would seal with its current key (defaults: to coder, task.assign, a valid payload). */
export function sealInputAs(bus: TestBus, agent: string, over: Partial<SealInput> = {}): SealInput {
  const k = bus.ids.get(agent)!.currentKey();
  return {
    sender: agent,
    keyId: k.keyId,
    sign: k.sign,
    recipient: 'coder',
    type: 'task.assign',
    payload: enc({ title: 't', priority: 1 }),
    contentType: 'application/json',
    ...over,
  };
}

/** Seal as `agent` with its current key (the defaults of sealInputAs). */
export function sealAs(bus: TestBus, agent: string, over: Partial<SealInput> = {}): Sealed {
  return sealEnvelope(sealInputAs(bus, agent, over));
}

/** The same envelope with one signature bit flipped (everything before the signature check passes). */
export function badSignature(s: Sealed): Uint8Array {
  const out = Uint8Array.from(s.bytes);
  out[out.length - 7]! ^= 0x20; // the signature is the last field
  return out;
}

export async function request(nc: NatsConnection, sender: string, bytes: Uint8Array, timeout = 5000): Promise<Ack> {
  return Ack.decode((await nc.request(`agentbus.in.${sender}`, bytes, { timeout })).data);
}

/**
 * A raw recipient: every delivery to `agent` on `nc` confirmed, as the SDK does, and each copy
 * that came over the wire pushed to `wire` when given. Resolves once the subscription is in place.
 */
export async function confirmDeliveries(nc: NatsConnection, agent: string, wire?: Msg[]): Promise<Subscription> {
  const confirmer = new DeliveryConfirmer(nc, agent);
  const sub = nc.subscribe(`agentbus.to.${agent}.>`, {
    callback: (_e, m) => {
      wire?.push(m);
      confirmer.confirmRaw(m);
    },
  });
  await nc.flush();
  return sub;
}

/** Subscribe to an agent's deliveries (confirming them, as the SDK does), keyed by msg_id. */
export async function captureDeliveries(
  nc: NatsConnection,
  agent: string,
  subject = `agentbus.to.${agent}.>`,
): Promise<{ got: Map<string, Msg>; tokenOf(msgId: Uint8Array, ms?: number): Promise<string> }> {
  const got = new Map<string, Msg>();
  const confirmer = new DeliveryConfirmer(nc, agent);
  nc.subscribe(subject, {
    callback: (_e, m) => {
      const p = parseEnvelope(m.data);
      const h = p.ok ? decodeHeader(p.value.headerBytes) : undefined;
      if (h?.ok) got.set(toHex(h.value.msgId), m);
      if (m.reply) confirmer.confirmRaw(m);
    },
  });
  await nc.flush();
  return {
    got,
    async tokenOf(msgId, ms = 5000) {
      const id = toHex(msgId);
      await waitFor(() => got.has(id), ms, `delivery of ${id}`);
      return got.get(id)!.headers?.get(DEPTH_TOKEN_HEADER) ?? '';
    },
  };
}

/**
 * Pipelined sends as fast as the connection takes them, at most `window` unanswered: every
 * message gets an answer (verdict or shed), so the count of what the verifier saw is exact.
 */
export async function flood(
  nc: NatsConnection,
  sender: string,
  envs: Uint8Array[],
  window = 500,
  inbox = `agentbus.inbox.${sender}.flood`,
): Promise<{ acks: Ack[]; ms: number }> {
  const acks: Ack[] = [];
  let sent = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const pump = () => {
    while (sent < envs.length && sent - acks.length < window) nc.publish(`agentbus.in.${sender}`, envs[sent++]!, { reply: inbox });
  };
  const sub = nc.subscribe(inbox, {
    callback: (_e, m) => {
      acks.push(Ack.decode(m.data));
      if (acks.length === envs.length) resolveDone();
      else pump();
    },
  });
  await nc.flush();
  const t0 = performance.now();
  pump();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      done,
      new Promise((_r, rej) => (timer = setTimeout(() => rej(new Error(`flood: ${acks.length} of ${envs.length} answered`)), 60_000))),
    ]);
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  return { acks, ms: performance.now() - t0 };
}

/** Messages of `sender` the audit events account for: Σ (shed_count || 1). */
export function auditedCount(events: IAuditEvent[], sender: string): number {
  return events.filter((e) => e.subjectSender === sender).reduce((a, e) => a + (e.shedCount || 1), 0);
}

export interface FloodResult {
  sent: number;
  answered: number;
  byReason: Record<string, number>;
  /** The flooder's own CPU while it flooded, in cores (CPU time ÷ wall time). */
  cores?: number;
}

/**
 * test/helpers/flooder.ts in its own process, flooding as `sender` once `go()` is called: closed
 * loop (at most `window` unanswered), or open loop at `rate` msgs/s when a rate is given.
 */
export async function startFlooder(
  bus: TestBus,
  sender: string,
  o: { recipient?: string; window?: number; ms?: number; rate?: number; nice?: number } = {},
): Promise<{ go(): void; stop(): Promise<FloodResult> }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/helpers/flooder.ts',
      bus.url,
      bus.credsPath(sender),
      sender,
      o.recipient ?? 'coder',
      String(o.window ?? 256),
      String(o.ms ?? 30_000),
      String(o.rate ?? 0),
    ],
    { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
  );
  // a lower CPU priority: the attacker's own CPU is not the bus's (bench/junk-flood.ts)
  if (o.nice) (await import('node:os')).setPriority(child.pid!, o.nice);
  await new Promise<void>((res, rej) => {
    child.once('message', () => res());
    child.once('exit', (c) => rej(new Error(`flooder exited ${c}`)));
  });
  const result = new Promise<FloodResult>((res, rej) => {
    child.on('message', (m: Partial<FloodResult>) => {
      if (typeof m.sent === 'number') res(m as FloodResult);
    });
    child.once('exit', (c) => rej(new Error(`flooder exited ${c} without a result`)));
  });
  result.catch(() => undefined);
  return {
    go: () => void child.send('go'),
    async stop() {
      if (child.connected) child.send('stop');
      return result;
    },
  };
}

/**
 * Request → ack latency (ms) of `n` messages sent at `rate` per second, each one fresh from
 * `seal()`; the ack of a direct message comes once the recipient confirmed it. Returns p50, p99.
 */
export async function pacedLatency(
  nc: NatsConnection,
  sender: string,
  seal: () => Uint8Array,
  rate: number,
  n: number,
): Promise<{ p50: number; p99: number; max: number; accepted: number }> {
  const envs = Array.from({ length: n }, seal);
  const lat: number[] = [];
  let accepted = 0;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const start = performance.now();
    pending.push(
      request(nc, sender, envs[i]!, 10_000).then((a) => {
        lat.push(performance.now() - start);
        if (a.verdict === Verdict.VERDICT_ACCEPTED) accepted++;
      }),
    );
  }
  await Promise.all(pending);
  const sorted = Float64Array.from(lat).sort();
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return { p50: q(0.5), p99: q(0.99), max: sorted[sorted.length - 1]!, accepted };
}
