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

interface Pending {
  event: IAuditEvent;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class AuditPublisher {
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;
  readonly max: number;
  stats = { events: 0, batches: 0, publishErrors: 0 };

  constructor(private readonly js: JetStreamClient, private readonly log: Logger, max = DEFAULT_AUDIT_BATCH_MAX) {
    this.max = max;
  }

  add(event: IAuditEvent): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('audit publisher closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      if (!this.#flushing) this.#flushing = this.#run();
    });
  }

  async #run(): Promise<void> {
    let backoff = 50;
    while (this.#queue.length) {
      const take = this.#queue.splice(0, this.max);
      try {
        await this.#publish(take);
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
      }
    }
    this.#flushing = undefined;
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
        // The batch id makes a retried publish idempotent within the stream's duplicate window.
        const msgID = randomBytes(12).toString('hex');
        this.stats.batches++;
        return this.js.publish(SUBJECT_AUDIT_PREFIX + verdictName(verdict), data, { msgID, timeout: 5000 });
      }),
    );
  }

  /** Wait until everything queued is stored. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }
}
