// The audit consumer: a durable JetStream pull consumer on the AUDIT stream that moves audit
// events into the store with zero loss and zero duplicates (docs/design.md §6, §9, §10).
//
//   fetch ≤ batchMaxMessages, waiting ≤ batchMaxWaitMs   (size and time bounds)
//   open every message as a SignedAuditBatch; one that does not decode goes to the durable
//     dead-letter stream (AUDIT_DLQ) with a reason header, is counted, raises an alert, and only
//     then is acked. Nothing else is ever dead-lettered: each event maps to a row on its own
//     (rows.ts never throws), so one bad event cannot take its batch with it
//   skip batches the store already has (a redelivery, or a copy the stream kept twice)
//   insert rows, then delivery records, then the batch records (a stored batch record means its
//     rows are stored); retry with capped exponential backoff while the store is down, telling
//     JetStream we are still working (+WPI) so nothing is redelivered meanwhile. If the store is
//     up but refuses rows as data, bisect to the refused row and store its fallback row instead
//   ack only after everything is stored
//
// A crash between the inserts and the ack redelivers the messages; the batch records (and, for a
// batch that was stored half-way, its rows' event ids) say what is already there, so nothing is
// stored twice. Stopping while the store is down naks the held messages: the backlog stays in
// JetStream for the next auditor.
import { headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Consumer, ConsumerMessages, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { z } from 'zod';
import * as D from './defaults.js';
import { ensureAuditStreamWith } from '../common/audit-stream.js';
import { consumerConfigSchema } from './config.js';
import type { ConsumerConfig } from './config.js';
import { mapEvent, mapDelivery, fallbackRow, timeOrUndefined, cleanString, MAX_NAME_CHARS } from './rows.js';
import type { AuditRow, BatchRow, DeliveryRow } from './rows.js';
import { openSignedBatch } from '../common/audit-chain.js';
import { quarantineOfRow } from '../common/quarantine.js';
import type { OpenedBatch } from '../common/audit-chain.js';
import { toHex } from '@agentbus/protocol';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
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
  /** Undecodable messages sent to the dead-letter stream. */
  poison: number;
  /** Rows the store refused as data, stored as their fallback row instead. */
  fallbackRows: number;
  /** Batches skipped because the store had them already. */
  skippedBatches: number;
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
  /** Called once per dead-lettered message (the service raises an alert). */
  onDeadLetter?: (info: { subject: string; streamSeq: number; reason: string }) => void;
  /** Called for each stored row that reports a sender quarantined at NATS (common/quarantine.ts). */
  onQuarantine?: (q: { sender: string; until: string; coolDownS: number; level: number; shed: number; eventId: string; time: number }) => void;
}

/** The durable stream that keeps dead letters (docs/design.md §9: an event that reaches neither a row nor it is lost). */
export const DLQ_STREAM = 'AUDIT_DLQ';

export async function ensureDlqStream(jsm: JetStreamManager, subject: string): Promise<void> {
  try {
    await jsm.streams.info(DLQ_STREAM);
    return;
  } catch {
    // not found
  }
  await jsm.streams.add({ name: DLQ_STREAM, subjects: [subject], retention: RetentionPolicy.Limits, storage: StorageType.File }).catch(async (e) => {
    await jsm.streams.info(DLQ_STREAM).catch(() => {
      throw e;
    });
  });
}

/** Errors by which ClickHouse refuses the data of an insert (not an outage): bisect to the row. */
const DATA_ERROR =
  /CANNOT_PARSE|INCORRECT_DATA|TYPE_MISMATCH|ARGUMENT_OUT_OF_BOUND|CANNOT_CONVERT|CANNOT_READ|TOO_LARGE_STRING|Cannot parse|Cannot read|UTF-?8|surrogate|JSON/i;

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

/** A sleep that stop() cuts short (every pipeline's). */
const sleep = (ms: number, signal: { stopped: boolean; wake: Set<() => void> }) =>
  new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(t);
      signal.wake.delete(wake);
      resolve();
    };
    const t = setTimeout(wake, ms);
    signal.wake.add(wake);
  });

/** chain_id as its FixedString(32) column holds it (a malformed id padded or cut to fit). */
const chainColumn = (b: OpenedBatch): string => b.chainHex.padEnd(32, '0').slice(0, 32);

/** The batch record: what was signed, as received. Every value fits its column by construction. */
export function batchRow(b: OpenedBatch, subject: string): BatchRow {
  return {
    batch_id: b.batchId,
    chain_id: chainColumn(b),
    seq: Math.max(0, b.seq),
    verifier_id: cleanString(b.batch.verifierId, MAX_NAME_CHARS),
    key_id: cleanString(b.batch.keyId, MAX_NAME_CHARS),
    created_at: timeOrUndefined(b.batch.createdAtMs) ?? 0,
    prev_hash: toHex(b.batch.prevHash.subarray(0, 64)),
    batch_hash: b.hashHex,
    events: b.batch.events.length,
    deliveries: b.batch.deliveries.length,
    subject: cleanString(subject, MAX_NAME_CHARS),
    batch_hex: toHex(b.batchBytes),
    signature_hex: toHex(b.signature.subarray(0, 128)),
  };
}

export async function startAuditConsumer(opts: AuditConsumerOptions): Promise<AuditConsumer> {
  const cfg = consumerConfigSchema.parse(opts.config ?? {});
  const { nc, sink, logger } = opts;
  const jsm = await jetstreamManager(nc);
  await ensureAuditStream(jsm, cfg.stream);
  await ensureAuditConsumer(jsm, cfg);
  await ensureDlqStream(jsm, cfg.dlqSubject);
  const js = jetstream(nc);
  const consumer: Consumer = await js.consumers.get(cfg.stream, cfg.durable);

  const stats: ConsumerStats = {
    messages: 0,
    events: 0,
    batches: 0,
    redelivered: 0,
    poison: 0,
    fallbackRows: 0,
    skippedBatches: 0,
    insertFailures: 0,
    backingOff: false,
    lag: 0,
    lastError: undefined,
  };
  const ctl: { stopped: boolean; wake: Set<() => void> } = { stopped: false, wake: new Set() };
  /** Batch ids a pipeline is storing now: a second copy of one (the stream kept it twice) in another pipeline's fetch is skipped. */
  const inFlight = new Set<string>();
  /** The fetches in flight (one per pipeline at most). */
  const current = new Set<ConsumerMessages>();
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
    // stored (and confirmed) by the AUDIT_DLQ stream; a failure leaves the message unacked
    await js.publish(cfg.dlqSubject, m.data, { headers: h, msgID: `${m.info.stream}.${m.seq}` });
    stats.poison++;
    logger?.error({ seq: m.seq, subject: m.subject, reason }, 'audit message dead-lettered');
    opts.onDeadLetter?.({ subject: m.subject, streamSeq: m.seq, reason });
  }

  /** Run `op` until it succeeds, backing off while it fails; false when stopped meanwhile (the held messages are naked). */
  async function persist(held: JsMsg[], what: string, op: () => Promise<void>): Promise<boolean> {
    let delay = cfg.backoffInitialMs;
    for (;;) {
      try {
        await op();
        stats.backingOff = false;
        return true;
      } catch (e) {
        stats.insertFailures++;
        stats.backingOff = true;
        stats.lastError = (e as Error).message;
        logger?.warn({ err: stats.lastError, what, retryInMs: delay }, 'audit insert failed; backing off');
        if (ctl.stopped) {
          // Leave the backlog in JetStream for the next run.
          held.forEach((m) => m.nak());
          await nc.flush().catch(() => {});
          return false;
        }
        held.forEach((m) => m.working());
        await sleep(delay, ctl);
        delay = Math.min(delay * 2, cfg.backoffMaxMs);
      }
    }
  }

  /**
   * Insert rows; when the store refuses a chunk as data (and answers a ping), split it until the
   * refused row is alone and store its fallback row instead. Chunks already stored are not
   * retried, so a retry after an outage stores nothing twice.
   */
  function rowInserter(rows: AuditRow[]): () => Promise<void> {
    const pending: AuditRow[][] = rows.length ? [rows] : [];
    return async () => {
      while (pending.length) {
        const chunk = pending[0]!;
        try {
          await sink.insertRows(chunk);
          pending.shift();
        } catch (e) {
          const msg = (e as Error).message ?? String(e);
          const isData = DATA_ERROR.test(msg) && sink.ping !== undefined && (await sink.ping().catch(() => false));
          if (!isData) throw e;
          if (chunk.length > 1) {
            const mid = chunk.length >> 1;
            pending.splice(0, 1, chunk.slice(0, mid), chunk.slice(mid));
          } else if (!chunk[0]!.malformed.includes('store:')) {
            pending[0] = [fallbackRow(chunk[0]!, msg.split('\n')[0]!)];
            stats.fallbackRows++;
            logger?.error({ event_id: chunk[0]!.event_id, err: msg.split('\n')[0] }, 'store refused an audit row; storing its fallback row');
          } else throw e;
        }
      }
    };
  }

  async function processBatch(msgs: JsMsg[]): Promise<void> {
    const held: JsMsg[] = [];
    const opened: { m: JsMsg; b: OpenedBatch }[] = [];
    for (const m of msgs) {
      if (m.redelivered) stats.redelivered++;
      const o = openSignedBatch(m.data);
      if (o.ok) {
        opened.push({ m, b: o.value });
        held.push(m);
        continue;
      }
      try {
        await deadLetter(m, o.detail);
        m.ack();
      } catch (err) {
        logger?.error({ err: (err as Error).message, seq: m.seq }, 'dead-letter publish failed; leaving message unacked');
        m.nak(cfg.backoffMaxMs);
      }
    }
    // Keep the held messages from being redelivered while we work on them.
    const keepAlive = setInterval(() => held.forEach((m) => m.working()), Math.max(500, Math.floor(cfg.ackWaitMs / 3)));
    let storedRows = 0;
    let quarantineRows: AuditRow[] = [];
    const claimed = new Set<string>();
    try {
      // a copy another pipeline is storing now (the stream kept the batch twice) is skipped: that
      // pipeline acks its copy only once stored, and a crash redelivers it. Claimed before the
      // lookup, so a batch stored meanwhile is seen by the lookup.
      const mine: { m: JsMsg; b: OpenedBatch }[] = [];
      for (const o of opened) {
        const id = o.b.batchId;
        if (!claimed.has(id)) {
          if (inFlight.has(id)) {
            stats.skippedBatches++;
            continue;
          }
          inFlight.add(id);
          claimed.add(id);
        }
        mine.push(o);
      }
      // batches the store has already, and copies within this fetch
      let stored = new Set<string>();
      const ids = mine.filter((o) => o.b.seq >= 0).map((o) => ({ chain_id: chainColumn(o.b), seq: o.b.seq }));
      if (sink.storedBatches && ids.length && !(await persist(held, 'lookup', async () => void (stored = await sink.storedBatches!(ids))))) return;
      const fresh: { m: JsMsg; b: OpenedBatch }[] = [];
      for (const o of mine) {
        if (stored.has(o.b.batchId)) {
          stats.skippedBatches++;
          continue;
        }
        stored.add(o.b.batchId);
        fresh.push(o);
      }
      // a batch redelivered after a crash between its rows and its batch record: skip what is there
      let places = new Set<string>();
      const again = fresh.filter((o) => o.m.redelivered).map((o) => o.b.batchId);
      if (sink.storedPlaces && again.length && !(await persist(held, 'lookup', async () => void (places = await sink.storedPlaces!(again))))) return;
      const rows: AuditRow[] = [];
      const deliveries: DeliveryRow[] = [];
      const batches: BatchRow[] = [];
      for (const { m, b } of fresh) {
        const verifierId = cleanString(b.batch.verifierId, MAX_NAME_CHARS);
        const createdAt = timeOrUndefined(b.batch.createdAtMs) ?? 0;
        b.batch.events.forEach((ev, pos) => {
          const row = mapEvent(ev, { batchId: b.batchId, pos, createdAt });
          if (!places.has(`e:${row.event_id}`)) rows.push(row);
        });
        b.batch.deliveries.forEach((d, pos) => {
          if (!places.has(`d:${b.batchId}:${pos}`)) deliveries.push(mapDelivery(d, verifierId, { batchId: b.batchId, pos, createdAt }));
        });
        batches.push(batchRow(b, m.subject));
      }
      if (!(await persist(held, 'rows', rowInserter(rows)))) return;
      if (sink.insertDeliveries && !(await persist(held, 'deliveries', () => sink.insertDeliveries!(deliveries)))) return;
      if (sink.insertBatches && !(await persist(held, 'batches', () => sink.insertBatches!(batches)))) return;
      storedRows = rows.length;
      quarantineRows = rows.filter((r) => quarantineOfRow(r) !== undefined);
    } finally {
      clearInterval(keepAlive);
      for (const id of claimed) inFlight.delete(id);
    }
    for (const m of held) m.ack();
    await nc.flush().catch(() => {});
    if (opts.onQuarantine) {
      for (const r of quarantineRows) {
        const q = quarantineOfRow(r)!;
        opts.onQuarantine({ sender: r.sender, until: q.until, coolDownS: q.coolDownS, level: q.level, shed: r.shed_count, eventId: r.event_id, time: r.time });
      }
    }
    stats.events += storedRows;
    stats.messages += held.length;
    stats.batches++;
    logger?.debug({ messages: held.length }, 'audit batch stored');
  }

  async function loop(): Promise<void> {
    let fetchDelay = cfg.backoffInitialMs;
    while (!ctl.stopped) {
      const msgs: JsMsg[] = [];
      let fetch: ConsumerMessages | undefined;
      try {
        fetch = await consumer.fetch({ max_messages: cfg.batchMaxMessages, expires: cfg.batchMaxWaitMs });
        current.add(fetch);
        if (ctl.stopped) fetch.stop();
        for await (const m of fetch) msgs.push(m);
        fetchDelay = cfg.backoffInitialMs;
      } catch (e) {
        stats.lastError = (e as Error).message;
        if (ctl.stopped || nc.isClosed()) break;
        logger?.warn({ err: stats.lastError }, 'audit fetch failed; retrying');
        await sleep(fetchDelay, ctl);
        fetchDelay = Math.min(fetchDelay * 2, cfg.backoffMaxMs);
      } finally {
        if (fetch) current.delete(fetch);
      }
      if (msgs.length) await processBatch(msgs);
      if (Date.now() - lastLagAt > 2000 && !nc.isClosed()) {
        lastLagAt = Date.now();
        await lag().catch(() => {});
      }
    }
  }

  // cfg.pipelines loops on the one durable consumer: JetStream hands each fetch different
  // messages; a batch delivered twice (a redelivery, a copy the stream kept) may meet itself in
  // two pipelines, where the store keeps one row per event_id as it does for two auditors
  const done = Promise.all(
    Array.from({ length: cfg.pipelines }, () =>
      loop().catch((e) => {
        stats.lastError = (e as Error).message;
        logger?.error({ err: stats.lastError }, 'audit consumer stopped on error');
      }),
    ),
  ).then(() => undefined);

  return {
    stats: () => ({ ...stats }),
    lag,
    done,
    async stop() {
      ctl.stopped = true;
      for (const f of current) f.stop();
      for (const w of [...ctl.wake]) w();
      await done;
    },
  };
}
