// The audit consumer: a durable JetStream pull consumer on the AUDIT stream that moves audit
// events into the store with zero loss and zero duplicates (DESIGN §6).
//
//   fetch ≤ batchMaxMessages, waiting ≤ batchMaxWaitMs   (size and time bounds)
//   decode every message → rows; a message that cannot be decoded goes to the dead-letter
//     subject with a reason header, is counted, and only then acked
//   insert all rows in one INSERT; retry with capped exponential backoff until it succeeds,
//     telling JetStream we are still working (+WPI) so nothing is redelivered meanwhile
//   ack only after the insert succeeded
//
// A crash between insert and ack redelivers the batch; rows are keyed by the verifier's
// event_id in a ReplacingMergeTree and aggregates count uniqExact(event_id), so the second
// insert changes no answer. Stopping while the store is down naks the held messages: the
// backlog stays in JetStream for the next auditor.
import { headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Consumer, ConsumerMessages, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { z } from 'zod';
import * as D from './defaults.js';
import { ensureAuditStreamWith } from '../bus/audit-stream.js';
import { consumerConfigSchema } from './config.js';
import type { ConsumerConfig } from './config.js';
import { decodeBatch, eventToRow, PoisonError } from './rows.js';
import type { AuditRow } from './rows.js';
import type { RowSink } from './store.js';

const NS = 1_000_000;

export interface ConsumerStats {
  /** JetStream messages acked after their rows were stored. */
  messages: number;
  /** Audit events stored (a redelivered event counts again; the store keeps one row). */
  events: number;
  batches: number;
  /** Messages that arrived again (redelivered by JetStream). */
  redelivered: number;
  /** Undecodable messages sent to the dead-letter subject. */
  poison: number;
  /** Failed insert attempts. */
  insertFailures: number;
  /** True while an insert is being retried. */
  backingOff: boolean;
  /** Messages in the stream not yet acked by this consumer (num_pending + num_ack_pending). */
  lag: number;
  lastError: string | undefined;
}

export interface AuditConsumer {
  stats(): ConsumerStats;
  /** Ask JetStream how far behind the consumer is (and update stats().lag). */
  lag(): Promise<number>;
  /** Finish the batch in hand (or nak it if the store is down), then stop fetching. */
  stop(): Promise<void>;
  /** Resolves when the loop has ended. */
  readonly done: Promise<void>;
}

export interface AuditConsumerOptions {
  nc: NatsConnection;
  sink: RowSink;
  config?: z.input<typeof consumerConfigSchema>;
  logger?: Logger;
}

/** Create the AUDIT stream if missing, with the config the verifier uses (bus/audit-stream.ts). */
export async function ensureAuditStream(jsm: JetStreamManager, stream: string = D.AUDIT_STREAM): Promise<void> {
  await ensureAuditStreamWith(jsm, { name: stream });
}

/** Create the durable pull consumer if missing. */
export async function ensureAuditConsumer(jsm: JetStreamManager, cfg: ConsumerConfig): Promise<void> {
  try {
    await jsm.consumers.info(cfg.stream, cfg.durable);
    return;
  } catch {
    // not found
  }
  await jsm.consumers.add(cfg.stream, {
    durable_name: cfg.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: cfg.ackWaitMs * NS,
    max_ack_pending: cfg.maxAckPending,
  });
}

const sleep = (ms: number, signal: { stopped: boolean; wake?: () => void }) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.wake = () => {
      clearTimeout(t);
      resolve();
    };
  });

export async function startAuditConsumer(opts: AuditConsumerOptions): Promise<AuditConsumer> {
  const cfg = consumerConfigSchema.parse(opts.config ?? {});
  const { nc, sink, logger } = opts;
  const jsm = await jetstreamManager(nc);
  await ensureAuditStream(jsm, cfg.stream);
  await ensureAuditConsumer(jsm, cfg);
  const js = jetstream(nc);
  const consumer: Consumer = await js.consumers.get(cfg.stream, cfg.durable);

  const stats: ConsumerStats = {
    messages: 0, events: 0, batches: 0, redelivered: 0, poison: 0, insertFailures: 0, backingOff: false, lag: 0, lastError: undefined,
  };
  const ctl: { stopped: boolean; wake?: () => void } = { stopped: false };
  let current: ConsumerMessages | undefined;
  let lastLagAt = 0;

  const lag = async () => {
    const info = await consumer.info();
    stats.lag = info.num_pending + info.num_ack_pending;
    return stats.lag;
  };

  async function deadLetter(m: JsMsg, reason: string): Promise<void> {
    const h = headers();
    h.set('Agentbus-Dlq-Reason', reason.slice(0, 200).replace(/[\r\n]/g, ' '));
    h.set('Agentbus-Dlq-Subject', m.subject);
    h.set('Agentbus-Dlq-Stream', m.info.stream);
    h.set('Agentbus-Dlq-Stream-Seq', String(m.seq));
    // Stored (and confirmed) when a stream covers the DLQ subject; otherwise published on
    // core NATS for whoever listens. (js.publish without a stream would also reach core
    // subscribers, and then time out: so ask first. Poison is rare; the lookup is cheap.)
    const stored = await jsm.streams.find(cfg.dlqSubject).then(
      () => true,
      () => false,
    );
    if (stored) await js.publish(cfg.dlqSubject, m.data, { headers: h });
    else {
      nc.publish(cfg.dlqSubject, m.data, { headers: h });
      await nc.flush();
    }
    stats.poison++;
    logger?.warn({ seq: m.seq, subject: m.subject, reason }, 'audit message dead-lettered');
  }

  async function processBatch(msgs: JsMsg[]): Promise<void> {
    const good: JsMsg[] = [];
    const rows: AuditRow[] = [];
    for (const m of msgs) {
      if (m.redelivered) stats.redelivered++;
      try {
        for (const ev of decodeBatch(m.data)) rows.push(eventToRow(ev));
        good.push(m);
      } catch (e) {
        const reason = e instanceof PoisonError ? e.message : `cannot map event: ${(e as Error).message}`;
        try {
          await deadLetter(m, reason);
          m.ack();
        } catch (err) {
          logger?.error({ err: (err as Error).message, seq: m.seq }, 'dead-letter publish failed; leaving message unacked');
          m.nak(cfg.backoffMaxMs);
        }
      }
    }
    // Keep the held messages from being redelivered while we work on them.
    const keepAlive = setInterval(() => good.forEach((m) => m.working()), Math.max(500, Math.floor(cfg.ackWaitMs / 3)));
    try {
      let delay = cfg.backoffInitialMs;
      for (;;) {
        try {
          await sink.insertRows(rows);
          break;
        } catch (e) {
          stats.insertFailures++;
          stats.backingOff = true;
          stats.lastError = (e as Error).message;
          logger?.warn({ err: stats.lastError, rows: rows.length, retryInMs: delay }, 'audit insert failed; backing off');
          if (ctl.stopped) {
            // Leave the backlog in JetStream for the next run.
            good.forEach((m) => m.nak());
            await nc.flush().catch(() => {});
            return;
          }
          good.forEach((m) => m.working());
          await sleep(delay, ctl);
          delay = Math.min(delay * 2, cfg.backoffMaxMs);
        }
      }
    } finally {
      clearInterval(keepAlive);
    }
    stats.backingOff = false;
    for (const m of good) m.ack();
    await nc.flush().catch(() => {});
    stats.messages += good.length;
    stats.events += rows.length;
    stats.batches++;
    logger?.debug({ messages: good.length, events: rows.length }, 'audit batch stored');
  }

  async function loop(): Promise<void> {
    let fetchDelay = cfg.backoffInitialMs;
    while (!ctl.stopped) {
      const msgs: JsMsg[] = [];
      try {
        current = await consumer.fetch({ max_messages: cfg.batchMaxMessages, expires: cfg.batchMaxWaitMs });
        for await (const m of current) msgs.push(m);
        fetchDelay = cfg.backoffInitialMs;
      } catch (e) {
        stats.lastError = (e as Error).message;
        if (ctl.stopped || nc.isClosed()) break;
        logger?.warn({ err: stats.lastError }, 'audit fetch failed; retrying');
        await sleep(fetchDelay, ctl);
        fetchDelay = Math.min(fetchDelay * 2, cfg.backoffMaxMs);
      } finally {
        current = undefined;
      }
      if (msgs.length) await processBatch(msgs);
      if (Date.now() - lastLagAt > 2000 && !nc.isClosed()) {
        lastLagAt = Date.now();
        await lag().catch(() => {});
      }
    }
  }

  const done = loop().catch((e) => {
    stats.lastError = (e as Error).message;
    logger?.error({ err: stats.lastError }, 'audit consumer stopped on error');
  });

  return {
    stats: () => ({ ...stats }),
    lag,
    done,
    async stop() {
      ctl.stopped = true;
      current?.stop();
      ctl.wake?.();
      await done;
    },
  };
}
