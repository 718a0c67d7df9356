// Confirmed delivery (docs/design.md §7): a direct message is forwarded with the reply subject
// agentbus.delivered.<this verifier>.<recipient>; the recipient's client publishes the msg_ids it
// now holds there (NATS permissions let it publish only under its own name), or one msg_id with
// its refusal (it could not verify or decode it). Until then the verifier re-forwards it; the
// sender's ack waits for the outcome, so an acknowledged message has reached its recipient even if
// a NATS node died with the first forward in flight. Its timer: the sweep that re-forwards and, at
// the delivery timeout, answers "unconfirmed".
import type { MsgHdrs, Subscription } from '@nats-io/transport-node';
import { Delivery, Reason, reasonName, toHex, MAX_CONFIRM_IDS } from '@agentbus/protocol';
import type { HeaderFields, Verdict } from '@agentbus/protocol';
import * as D from '@agentbus/protocol';
import type { VerifierContext } from './context.js';

/** Senders' requests (the first, then retries) waiting for an outcome. */
export type Waiters = { reply: string; verdict: Verdict /** Monitor mode: `would refuse: …`, answered with a delivered message. */; detail?: string }[];

/** What an outcome is recorded and answered for: a pending delivery, or a held call decided. */
export interface Outcome {
  recipient: string;
  msgId: Uint8Array;
  depth: number;
  waiters: Waiters;
}

interface PendingDelivery extends Outcome {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs;
  attempts: number;
  nextAt: number;
  /** When it was first forwarded (its confirmation time feeds the recipient's estimate). */
  firstAt: number;
  /** Past nextAt at the last sweep: re-forwarded at the next one if still unconfirmed. */
  overdue: boolean;
  deadline: number;
}

/** The recipient's refusal detail (or an approver's reason): valid UTF-8, at most MAX_REFUSAL_DETAIL_BYTES, no control characters. */
export function boundedDetail(s: string): string {
  // eslint-disable-next-line no-control-regex
  let out = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  while (Buffer.byteLength(out) > D.MAX_REFUSAL_DETAIL_BYTES) out = out.slice(0, -1);
  return out.replace(/[\ud800-\udbff]$/, '');
}

export class Deliveries {
  readonly #ctx: VerifierContext;
  /** Direct messages waiting for their recipient's confirmation, by msg_id (hex). */
  #pending = new Map<string, PendingDelivery>();
  #confirmPrefix = '';
  #confirmSub: Subscription | undefined;
  #sweep: NodeJS.Timeout | undefined;
  readonly #timeout: number;
  /** Per recipient: smoothed confirmation time and its variation (ms), as TCP's retransmission timer. */
  readonly #rtt = new Map<string, { srtt: number; rttvar: number }>();

  constructor(ctx: VerifierContext) {
    this.#ctx = ctx;
    this.#timeout = ctx.opts.deliveryTimeoutMs;
  }

  /** Direct messages forwarded and not yet confirmed. */
  get size(): number {
    return this.#pending.size;
  }

  /** Listen for confirmations and refusals; sweep every 50 ms. */
  start(): void {
    const ctx = this.#ctx;
    const token = ctx.id.replace(/[^A-Za-z0-9_-]/g, '_');
    this.#confirmPrefix = `${D.SUBJECT_DELIVERED_PREFIX}${token}.`;
    const skip = this.#confirmPrefix.length;
    this.#confirmSub = ctx.nc.subscribe(`${this.#confirmPrefix}*`, {
      callback: (_err, m) => {
        const data = m.data;
        // "no responders" status, junk, or more ids than a client sends at once (a cap on the work
        // one message can cause: an agent could otherwise flood the verifier with huge lists)
        if (data.length === 0 || data.length % 16 !== 0 || data.length > MAX_CONFIRM_IDS * 16 || this.#pending.size === 0) return;
        const recipient = m.subject.slice(skip);
        const refusal = m.headers?.get(D.REFUSAL_HEADER);
        if (refusal) {
          // the recipient could not verify or decode it: one msg_id, the recipient's reason
          if (data.length !== 16) return;
          const id = toHex(data);
          const p = this.#pending.get(id);
          if (!p || p.recipient !== recipient) return;
          this.#pending.delete(id);
          const n = Number(refusal);
          const reason = Number.isInteger(n) && n > 0 && reasonName(n as Reason) !== `reason_${n}` ? (n as Reason) : Reason.REASON_MALFORMED;
          const detail = boundedDetail(m.headers?.get(D.REFUSAL_DETAIL_HEADER) ?? '');
          ctx.log.warn({ msg_id: id, recipient, reason: reasonName(reason), detail }, 'delivery refused by the recipient');
          ctx.stats.refused++;
          this.record(p, Delivery.DELIVERY_REFUSED, { reason, detail });
          return;
        }
        for (let i = 0; i < data.length; i += 16) {
          const id = toHex(data.subarray(i, i + 16));
          const p = this.#pending.get(id);
          if (!p || p.recipient !== recipient) continue;
          this.#pending.delete(id);
          this.#sample(p, Date.now());
          ctx.state.replay.markDelivered(p.msgId);
          this.record(p, Delivery.DELIVERY_CONFIRMED);
        }
      },
    });
    // the sweep runs in the check phase (setImmediate), after the poll phase has read what arrived:
    // on a busy event loop the timer fires late, and re-forwarding before reading the confirmations
    // waiting on the socket would send a second copy — to another worker of the recipient (§18)
    this.#sweep = setInterval(() => setImmediate(() => this.#sweepDeliveries(Date.now())), 50);
    this.#sweep.unref();
  }

  /** Wait (at most the delivery timeout and a little) for the deliveries in flight to settle: confirmed, or unconfirmed at their timeout. */
  async settle(): Promise<void> {
    const until = Date.now() + this.#timeout + 200;
    while (this.#pending.size && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  /** Stop the sweep (close: like a crash, the subscription goes with the connection). */
  stopTimer(): void {
    if (this.#sweep) clearInterval(this.#sweep);
  }

  /** Stop the sweep and stop listening for confirmations. */
  stop(): void {
    this.stopTimer();
    this.#confirmSub?.unsubscribe();
  }

  /** Forward a direct message until its recipient confirms it; `reply` (if any) hears the outcome. */
  deliver(h: HeaderFields, subject: string, data: Uint8Array, headers: MsgHdrs, reply: string, verdict: Verdict, depth: number, detail = ''): void {
    const id = toHex(h.msgId);
    const now = Date.now();
    let p = this.#pending.get(id);
    if (!p) {
      p = {
        recipient: h.recipient,
        subject,
        data,
        headers,
        depth,
        msgId: h.msgId,
        waiters: [],
        attempts: 0,
        nextAt: 0,
        deadline: 0,
        firstAt: now,
        overdue: false,
      };
      this.#pending.set(id, p);
    }
    if (reply) p.waiters.push(detail ? { reply, verdict, detail } : { reply, verdict });
    p.deadline = now + this.#timeout;
    this.#forward(p, now);
  }

  /** More senders' requests waiting for the outcome of a pending delivery (msg_id in hex), if it is pending. */
  addWaiters(id: string, waiters: Waiters): void {
    const p = this.#pending.get(id);
    if (p) p.waiters.push(...waiters);
  }

  #forward(p: PendingDelivery, now: number): void {
    if (p.attempts++ > 0) this.#ctx.stats.redeliveries++;
    // again after 150, 300, 450, 600 ms… or later when this recipient's confirmations have been
    // slow: a re-forward of a message that did arrive reaches another worker of the recipient
    // (docs/design.md §18), which would deliver it a second time
    const rtt = this.#rtt.get(p.recipient);
    p.nextAt = now + Math.max(150 * Math.min(p.attempts, 4), rtt ? Math.min(rtt.srtt + 4 * rtt.rttvar, this.#timeout) : 0);
    p.overdue = false;
    this.#ctx.nc.publish(p.subject, p.data, { headers: p.headers, reply: this.#confirmPrefix + p.recipient });
  }

  #sweepDeliveries(now: number): void {
    const ctx = this.#ctx;
    for (const [id, p] of this.#pending) {
      if (now >= p.deadline) {
        this.#pending.delete(id);
        ctx.stats.unconfirmed++;
        ctx.log.warn({ msg_id: id, recipient: p.recipient, attempts: p.attempts }, 'delivery not confirmed: is the recipient connected?');
        this.record(p, Delivery.DELIVERY_UNCONFIRMED);
      } else if (now >= p.nextAt) {
        // due: re-forwarded at the next sweep if still unconfirmed, so a confirmation that was
        // already on its way has a full turn of the event loop to be read first
        if (p.overdue) this.#forward(p, now);
        else p.overdue = true;
      }
    }
    ctx.stats.pendingDeliveries = this.#pending.size;
  }

  /** A confirmation came: how long it took since the first forward (an upper bound when re-forwarded) updates the recipient's estimate. */
  #sample(p: PendingDelivery, now: number): void {
    const t = Math.max(0, now - p.firstAt);
    const e = this.#rtt.get(p.recipient);
    if (!e) this.#rtt.set(p.recipient, { srtt: t, rttvar: t / 2 });
    else {
      e.rttvar = 0.75 * e.rttvar + 0.25 * Math.abs(e.srtt - t);
      e.srtt = 0.875 * e.srtt + 0.125 * t;
    }
  }

  /**
   * The delivery outcome goes into the audit stream before the sender hears it (docs/design.md §9): a
   * verifier that takes this sender's partition over then knows the message was delivered and
   * answers a retry without forwarding it again.
   */
  record(p: Outcome, delivery: Delivery, refusal?: { reason: Reason; detail: string }): void {
    const ctx = this.#ctx;
    ctx.inflight.add();
    ctx.audit.addDelivery({ msgId: p.msgId, recipient: p.recipient, delivery, atMs: Date.now(), ...(refusal ?? {}) }).then(
      () => {
        this.#settle(p, delivery, refusal);
        ctx.inflight.done();
      },
      (e: unknown) => {
        // not stored (the publisher is closing): the sender's retry will be delivered again, never lost
        ctx.log.error({ err: (e as Error).message }, 'delivery record not stored');
        ctx.inflight.done();
      },
    );
  }

  #settle(p: Outcome, delivery: Delivery, refusal?: { reason: Reason; detail: string }): void {
    const reason = refusal?.reason ?? Reason.REASON_UNSPECIFIED;
    const detail = !refusal ? '' : delivery === Delivery.DELIVERY_REFUSED ? `refused by ${p.recipient}: ${refusal.detail}` : refusal.detail;
    // a message monitor mode delivered keeps its `would refuse: …` in the answer (docs/design.md §18)
    for (const w of p.waiters)
      this.#ctx.answer(w.reply, w.verdict, reason, p.msgId, w.detail ? (detail ? `${w.detail}; ${detail}` : w.detail) : detail, p.depth, delivery);
  }
}
