// A request → answer round trip between two agents broken down by hop (issue 30 item 4).
//
// Method. Taps on the subjects the operation crosses stamp its four middle points: the request
// as the verifier sees it (agentbus.part.>, after the partition mapping: `req`), delivered to the
// service (agentbus.to.<service>.>: `fwdReq`), the answer as the verifier sees it (`res`), and
// delivered to the caller (the asking worker's answer subject, PROTOCOL.md §11.1: `fwdRes`). The
// caller stamps the start `t` and the end `end` (its client has verified and decoded the answer).
// The taps run in a process of their own (bench/hops-tap-proc.ts) whose event loop does nothing
// else. Measured with the earlier in-process taps (200 gets, memory bench): the answer tap on
// agentbus.to.<caller>.> never fired, since answers come on the worker's answer subject, so
// `res <= fwdRes` failed for every get (that null); tapping the right subject, 164 of 200 still
// failed it: in the bench's process (bus, verifier, service and client share its event loop) the
// tap's callback ran when that loop got round to its socket, after `end`, during the next get, so
// the latest stamp was the previous get's. The taps here key every message by the request's
// msg_id (the answer's causation_id), so a late or re-forwarded message is never taken for
// another operation's. One operation at a time: after `op()` resolves the caller waits (at most
// 1 s) for the tap process's four stamps of it, then counts it when
// t < req <= fwdReq <= res <= fwdRes <= end.
//
// Time base: epoch ms with sub-ms precision, performance.timeOrigin + performance.now(), in both
// processes. Before and after the run an IPC ping checks the two processes' clocks: the offset
// estimate from the fastest of 30 round trips is applied only when it exceeds that round trip's
// half (otherwise the clocks agree within what the check can see).
//
// Residual error. (1) Each tap stamp is late by the tap process's wake-up (loopback delivery,
// epoll, the callback: tens of µs when it is scheduled at once, more when the cores are busy; the
// tap process asks for nice -10 where allowed, which took the gets dropped for `fwdRes > end`, a
// tap later than the caller's own check of the answer, from 7–25 % to 1–7 % on a loaded 2-core
// machine). A constant lateness cancels in the three middle hops and moves time from `client` to
// `send`; a varying one shifts time between neighbouring hops, and the operations it pushes out
// of order are dropped (counted on stderr; as a drop needs a tap later than the client hop, the
// counted ones lean a little towards longer `client` times). (2) The two edge hops (`send`,
// `client`) compare the two processes' clocks: the ping's half round trip bounds that error
// (reported on stderr). (3) nats-server hands a message to the tap and to the
// real subscriber at about the same time, so a hop includes the time its consumer's process took
// to get round to it: the bus, verifier, service and client still share the bench's one event
// loop (as in every bench here), so each hop holds whatever else that loop ran. (4) The tap
// process takes some CPU and each operation is followed by the wait for its stamps (a short
// pause the plain round-trip figures do not have); the per-hop medians need not add up to the
// median total.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestBus } from '../test/helpers/bus.js';

export interface HopTimes {
  /** The caller signs and publishes its request (→ the server). */
  send: number[];
  /** The verifier checks the request, commits its audit event, forwards. */
  verifierRequest: number[];
  /** The service: its client's inbound check and decode, its work, sealing and publishing the answer. */
  service: number[];
  /** The verifier checks the answer, commits, forwards. */
  verifierAnswer: number[];
  /** The caller's client verifies and decodes the answer. */
  client: number[];
  total: number[];
  /** Operations timed; those not counted, by the first condition that failed (or `no stamps`). */
  ops: number;
  dropped: Record<string, number>;
  /** The clock check: offset applied to the tap process's stamps, and the half round trip bounding it (ms). */
  clock: { offset: number; bound: number };
}

interface Stamps {
  req: number;
  fwdReq: number;
  res: number;
  fwdRes: number;
}

const now = () => performance.timeOrigin + performance.now();
const TAP_WAIT_MS = 1000;

export async function hopTaps(bus: TestBus, caller: string, service: string) {
  const dec = new TextDecoder();
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./hops-tap-proc.ts', import.meta.url)), bus.url, caller, service], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const queue: Stamps[] = [];
  let wake: (() => void) | undefined;
  let pong: ((at: number) => void) | undefined;
  const exited = new Promise<never>((_r, rej) => child.once('exit', (c) => rej(new Error(`bench/hops-tap-proc.ts exited with ${c}`))));
  exited.catch(() => undefined);
  const ready = new Promise<void>((res) =>
    child.on('message', (m: Partial<Stamps> & { ready?: boolean; pong?: boolean; at?: number }) => {
      if (m.ready) res();
      else if (m.pong) pong?.(m.at!);
      else if (m.req !== undefined) {
        queue.push(m as Stamps);
        wake?.();
      }
    }),
  );
  child.send({
    seeds: {
      admin: dec.decode(bus.verifierCreds.natsSeed()),
      service: dec.decode(bus.ids.get(service)!.natsSeed()),
      caller: dec.decode(bus.ids.get(caller)!.natsSeed()),
    },
  });
  await Promise.race([ready, exited]);

  /** Offset of the tap process's clock (its stamp minus the midpoint) from the fastest of n pings. */
  async function clockCheck(n = 30): Promise<{ offset: number; rtt: number }> {
    let best = { offset: 0, rtt: Infinity };
    for (let i = 0; i < n; i++) {
      const t0 = now();
      const at = await new Promise<number>((r) => {
        pong = r;
        child.send({ ping: true });
      });
      const t1 = now();
      if (t1 - t0 < best.rtt) best = { offset: at - (t0 + t1) / 2, rtt: t1 - t0 };
    }
    return best;
  }
  const before = await clockCheck();
  const offset = Math.abs(before.offset) > before.rtt / 2 ? before.offset : 0;
  const hops: HopTimes = {
    send: [],
    verifierRequest: [],
    service: [],
    verifierAnswer: [],
    client: [],
    total: [],
    ops: 0,
    dropped: {},
    clock: { offset, bound: before.rtt / 2 },
  };
  const drop = (why: string) => void (hops.dropped[why] = (hops.dropped[why] ?? 0) + 1);

  /**
   * The stamps of the request published after t (waits up to TAP_WAIT_MS). An earlier operation's
   * request (one not timed, or whose stamps came late) reached the server before that operation
   * ended, so before t; this one's after t, within the clock bound.
   */
  async function stampsOfThisOp(t: number): Promise<Stamps | undefined> {
    const deadline = now() + TAP_WAIT_MS;
    for (;;) {
      while (queue.length > 0 && queue[0]!.req - offset < t - hops.clock.bound) queue.shift();
      if (queue.length > 0) return queue.shift();
      const left = deadline - now();
      if (left <= 0 || child.exitCode !== null) return undefined;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      wake = undefined;
    }
  }

  return {
    hops,
    /** Time one operation; counted when its four tap stamps came and lie in order between its start and end. */
    async measure(op: () => Promise<unknown>): Promise<void> {
      hops.ops++;
      const t = now();
      await op();
      const end = now();
      const s = await stampsOfThisOp(t);
      if (!s) return drop('no stamps');
      const req = s.req - offset;
      const fwdReq = s.fwdReq - offset;
      const res = s.res - offset;
      const fwdRes = s.fwdRes - offset;
      if (!(t < req)) return drop('req before t');
      if (!(req <= fwdReq)) return drop('fwdReq before req');
      if (!(fwdReq <= res)) return drop('res before fwdReq');
      if (!(res <= fwdRes)) return drop('fwdRes before res');
      if (!(fwdRes <= end)) return drop('fwdRes after end');
      hops.send.push(req - t);
      hops.verifierRequest.push(fwdReq - req);
      hops.service.push(res - fwdReq);
      hops.verifierAnswer.push(fwdRes - res);
      hops.client.push(end - fwdRes);
      hops.total.push(end - t);
    },
    async close(): Promise<void> {
      const after = await clockCheck().catch(() => undefined);
      if (after) hops.clock.bound = Math.max(hops.clock.bound, after.rtt / 2, Math.abs(after.offset - offset));
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      if (child.exitCode === null) child.send({ stop: true });
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null) child.kill();
    },
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The medians as figures `<prefix>_hop_<name>_ms` (they need not add up to the median total). With
 * no operation counted the figures are left out and one line on stderr says why (never NaN/null).
 */
export function hopFigures(prefix: string, what: string, h: HopTimes): { name: string; value: number; unit: string }[] {
  const n = h.total.length;
  const dropped = Object.entries(h.dropped)
    .map(([why, k]) => `${k} ${why}`)
    .join(', ');
  const clock = `tap clock ±${h.clock.bound.toFixed(3)} ms${h.clock.offset ? `, offset ${h.clock.offset.toFixed(3)} ms applied` : ''}`;
  const total = n ? `, median total ${median(h.total).toFixed(2)} ms` : '';
  process.stderr.write(`bench: ${prefix} by hop: ${n} of ${h.ops} ${what} counted${total}${dropped ? ` (not counted: ${dropped})` : ''}; ${clock}\n`);
  if (n === 0) {
    process.stderr.write(`bench: ${prefix}_hop_*_ms left out: no ${what} with its four tap stamps in order\n`);
    return [];
  }
  const unit = `ms, median over ${n} of ${h.ops} ${what} with every tap in order`;
  return [
    { name: `${prefix}_hop_send_ms`, value: median(h.send), unit: `${unit}: the caller signs and publishes` },
    { name: `${prefix}_hop_verifier_request_ms`, value: median(h.verifierRequest), unit: `${unit}: the verifier checks the request, commits, forwards` },
    { name: `${prefix}_hop_service_ms`, value: median(h.service), unit: `${unit}: the service checks, does the work, seals and publishes the answer` },
    { name: `${prefix}_hop_verifier_answer_ms`, value: median(h.verifierAnswer), unit: `${unit}: the verifier checks the answer, commits, forwards` },
    { name: `${prefix}_hop_client_ms`, value: median(h.client), unit: `${unit}: the caller's client verifies and decodes the answer` },
  ];
}
