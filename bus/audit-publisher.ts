// Group commit of audit events into JetStream (DESIGN §8): events that arrive while one
// publish round trip is in flight go out together in the next AuditBatch, one JetStream
// message per verdict subject. add() resolves only once the event is stored, so callers can
// deliver after it (DESIGN §6: no delivery before the audit event is stored).
import { randomBytes } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { AuditBatch, Verdict, verdictName } from '../sdk/proto.js';
import type { IAuditEvent } from '../sdk/proto.js';
import { SUBJECT_AUDIT_PREFIX, DEFAULT_AUDIT_BATCH_MAX } from './defaults.js';

/** Well under the 1 MiB max_payload we configure (and NATS's default). */
export const MAX_BATCH_BYTES = 256 * 1024;

interface Pending {
  event: IAuditEvent;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class AuditPublisher {
  #queue: Pending[] = [];
  #flushing = new Set<Promise<void>>();
  #scheduled = false;
  #closed = false;
  /** Round trips in flight at once: 2 halves the wait of an event that arrives mid-flight. */
  readonly maxInflight = 2;
  readonly max: number;
  stats = { events: 0, batches: 0, publishErrors: 0 };
  #idPrefix = `${randomBytes(9).toString('base64url')}.`;
  #batchSeq = 0;
  /** Called after each stored group commit with its round trip in seconds (metrics). */
  onCommit: ((seconds: number) => void) | undefined;

  constructor(private readonly js: JetStreamClient, private readonly log: Logger, max = DEFAULT_AUDIT_BATCH_MAX) {
    this.max = max;
  }

  add(event: IAuditEvent): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('audit publisher closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      this.#kick();
    });
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
    let backoff = 50;
    while (this.#queue.length) {
      const take = this.#takeBatch();
      try {
        const t0 = performance.now();
        await this.#publish(take);
        this.onCommit?.((performance.now() - t0) / 1000);
        for (const p of take) p.resolve();
        this.stats.events += take.length;
        backoff = 50;
      } catch (e) {
        this.stats.publishErrors++;
        this.log.error({ err: (e as Error).message, events: take.length }, 'audit publish failed; retrying');
        this.#queue.unshift(...take);
        if (this.#closed) {
          for (const p of this.#queue.splice(0)) p.reject(e as Error);
          break;
        }
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 2000);
        continue;
      }
      // let a second flusher take the next batch while this one was in flight
      if (this.#flushing.size > 1) break;
    }
  }

  /**
   * Up to `max` events and at most MAX_BATCH_BYTES (estimated) per batch: an audit batch must
   * fit nats-server's max_payload, or it could never be stored (and large headers, up to 16 KiB
   * each, are the sender's choice).
   */
  #takeBatch(): Pending[] {
    let bytes = 0;
    let n = 0;
    const q = this.#queue;
    while (n < q.length && n < this.max) {
      const e = q[n]!.event;
      const size = 96 + (e.header?.length ?? 0) + (e.signature?.length ?? 0) + (e.detail?.length ?? 0);
      if (n > 0 && bytes + size > MAX_BATCH_BYTES) break;
      bytes += size;
      n++;
    }
    return q.splice(0, n);
  }

  async #publish(items: Pending[]): Promise<void> {
    const byVerdict = new Map<number, IAuditEvent[]>();
    for (const p of items) {
      const v = p.event.verdict ?? Verdict.VERDICT_UNSPECIFIED;
      let list = byVerdict.get(v);
      if (!list) byVerdict.set(v, (list = []));
      list.push(p.event);
    }
    await Promise.all(
      [...byVerdict].map(([verdict, events]) => {
        const data = AuditBatch.encode({ events }).finish();
        // The batch id makes the client's own resends of this publish idempotent within the
        // stream's duplicate window (random per process, then a counter: no CSPRNG call per
        // batch). A batch we publish again after an error gets a new id and may be stored twice;
        // the auditor's table is keyed by event_id, so the second copy collapses.
        const msgID = `${this.#idPrefix}${(++this.#batchSeq).toString(36)}`;
        this.stats.batches++;
        return this.js.publish(SUBJECT_AUDIT_PREFIX + verdictName(verdict), data, { msgID, timeout: 5000 });
      }),
    );
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
