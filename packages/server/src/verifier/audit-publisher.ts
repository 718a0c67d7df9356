// Group commit of audit events into JetStream (docs/design.md §8): events that arrive while one
// publish round trip is in flight go out together in the next AuditBatch, one JetStream
// message per verdict subject. add() resolves only once the event is stored, so callers can
// deliver after it (docs/design.md §6: no delivery before the audit event is stored).
//
// Each batch is sealed once — a link of this verifier's signed hash chain (bus/audit-chain.ts,
// docs/design.md §10) — and a failed publish is retried with the same bytes and the same JetStream
// message id, so a resend is deduplicated by the stream and the chain has no holes or forks.
// Delivery records (DeliveryRecord) ride in the batches of the `accepted` subject, the one a
// verifier reads when it takes a partition over.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { Verdict, verdictName } from '@agentbus/protocol';
import type { IAuditEvent, IDeliveryRecord } from '@agentbus/protocol';
import { SUBJECT_AUDIT_PREFIX, DEFAULT_AUDIT_BATCH_MAX } from '@agentbus/protocol';
import type { ChainSealer } from '../common/audit-chain.js';

/** Well under the 1 MiB max_payload we configure (and NATS's default). */
export const MAX_BATCH_BYTES = 256 * 1024;

/** One shape for every queued item (both fields always present): the queue stays monomorphic. */
class Pending {
  resolve!: () => void;
  reject!: (e: Error) => void;
  constructor(
    readonly event: IAuditEvent | undefined,
    readonly delivery: IDeliveryRecord | undefined,
  ) {}
}

export class AuditPublisher {
  #queue: Pending[] = [];
  #flushing = new Set<Promise<void>>();
  #scheduled = false;
  #closed = false;
  /** Round trips in flight at once: 2 halves the wait of an event that arrives mid-flight. */
  readonly maxInflight = 2;
  readonly max: number;
  stats = { events: 0, deliveries: 0, batches: 0, publishErrors: 0 };
  /** Called after each stored group commit with its round trip in seconds (metrics). */
  onCommit: ((seconds: number) => void) | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly log: Logger,
    readonly sealer: ChainSealer,
    max = DEFAULT_AUDIT_BATCH_MAX,
  ) {
    this.max = max;
  }

  add(event: IAuditEvent): Promise<void> {
    return this.#push(new Pending(event, undefined));
  }

  /** Record a delivery outcome; resolves once it is stored. */
  addDelivery(delivery: IDeliveryRecord): Promise<void> {
    return this.#push(new Pending(undefined, delivery));
  }

  #push(item: Pending): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('audit publisher closed'));
    const done = new Promise<void>((resolve, reject) => {
      item.resolve = resolve;
      item.reject = reject;
    });
    this.#queue.push(item);
    this.#kick();
    return done;
  }

  #kick(): void {
    if (this.#scheduled || this.#flushing.size >= this.maxInflight || !this.#queue.length) return;
    // gather what arrives in this turn of the event loop into one batch
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#flushing.size >= this.maxInflight || !this.#queue.length) return;
      const f = this.#run().finally(() => {
        this.#flushing.delete(f);
        this.#kick();
      });
      this.#flushing.add(f);
    });
  }

  async #run(): Promise<void> {
    while (this.#queue.length) {
      const take = this.#takeBatch();
      const t0 = performance.now();
      try {
        await Promise.all(this.#seal(take).map((b) => this.#publishUntilStored(b.subject, b.data, b.msgId)));
      } catch (e) {
        for (const p of take) p.reject(e as Error);
        for (const p of this.#queue.splice(0)) p.reject(e as Error);
        break;
      }
      this.onCommit?.((performance.now() - t0) / 1000);
      for (const p of take) p.resolve();
      // let a second flusher take the next batch while this one was in flight
      if (this.#flushing.size > 1) break;
    }
  }

  /** One sealed batch per verdict subject; deliveries go with the accepted events. */
  #seal(items: Pending[]): { subject: string; data: Uint8Array; msgId: string }[] {
    const byVerdict = new Map<number, IAuditEvent[]>();
    const deliveries: IDeliveryRecord[] = [];
    for (const p of items) {
      if (p.delivery) {
        deliveries.push(p.delivery);
        continue;
      }
      const v = p.event!.verdict ?? Verdict.VERDICT_UNSPECIFIED;
      let list = byVerdict.get(v);
      if (!list) byVerdict.set(v, (list = []));
      list.push(p.event!);
    }
    if (deliveries.length && !byVerdict.has(Verdict.VERDICT_ACCEPTED)) byVerdict.set(Verdict.VERDICT_ACCEPTED, []);
    this.stats.events += items.length - deliveries.length;
    this.stats.deliveries += deliveries.length;
    return [...byVerdict].map(([verdict, events]) => {
      const sealed = this.sealer.seal(events, verdict === Verdict.VERDICT_ACCEPTED ? deliveries : []);
      this.stats.batches++;
      return { subject: SUBJECT_AUDIT_PREFIX + verdictName(verdict), data: sealed.data, msgId: sealed.msgId };
    });
  }

  /**
   * Publish one sealed batch until JetStream stores it: the same bytes and message id every
   * time (the stream's duplicate window drops a resend whose first attempt was stored after all).
   * Gives up only when the publisher is closed.
   */
  async #publishUntilStored(subject: string, data: Uint8Array, msgID: string): Promise<void> {
    let backoff = 50;
    for (;;) {
      try {
        await this.js.publish(subject, data, { msgID, timeout: 5000 });
        return;
      } catch (e) {
        this.stats.publishErrors++;
        this.log.error({ err: (e as Error).message, batch: msgID }, 'audit publish failed; retrying');
        if (this.#closed) throw e;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }

  /**
   * Up to `max` items and at most MAX_BATCH_BYTES (estimated) per batch: an audit batch must
   * fit nats-server's max_payload, or it could never be stored (and large headers, up to 16 KiB
   * each, are the sender's choice).
   */
  #takeBatch(): Pending[] {
    let bytes = 0;
    let n = 0;
    const q = this.#queue;
    while (n < q.length && n < this.max) {
      const e = q[n]!.event;
      const size = e ? 96 + (e.header?.length ?? 0) + (e.signature?.length ?? 0) + (e.detail?.length ?? 0) : 112;
      if (n > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      n++;
    }
    return q.splice(0, n);
  }

  /** Wait until everything queued is stored. */
  async flush(): Promise<void> {
    while (this.#flushing.size || this.#scheduled || this.#queue.length) {
      if (this.#flushing.size) await Promise.allSettled([...this.#flushing]);
      else await new Promise((r) => setImmediate(r));
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }
}
