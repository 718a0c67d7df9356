// Auditor ingest: events/s from the JetStream stream AUDIT into ClickHouse (embedded chDB),
// through the real durable consumer (auditor/consumer.ts) and the real store, against a real
// nats-server on loopback. The backlog is published first (realistic events signed with the SDK,
// grouped per verdict into AuditBatch messages like the verifier's group commit), then the
// consumer starts and the clock runs until `count() FINAL` reaches exactly N; loss and
// duplicates are checked against uniqExact(event_id).
//   node --import tsx bench/auditor.ts [--json] [--events N] [--batch-size N] [--pipelines 1,2,4] [--no-verify] [--batch-max-messages N]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { PubAck } from '@nats-io/jetstream';
import { startNatsServer } from '../test/helpers/nats-server.js';
import { agent, auditEvent, ensureAuditStream, fixtureVerifierKey, Reason, Verdict } from '../test/helpers/audit-fixtures.js';
import { ChainSealer } from '../packages/server/src/common/audit-chain.js';
import { verifyStore } from '../packages/server/src/auditor/verify.js';
import type { EventSpec } from '../test/helpers/audit-fixtures.js';
import { verdictName } from '../packages/protocol/src/proto.js';
import type { AuditEvent } from '../packages/protocol/src/proto.js';
import { toHex } from '../packages/protocol/src/envelope.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AuditStore, RowSink } from '../packages/server/src/auditor/store.js';
import { startAuditConsumer } from '../packages/server/src/auditor/consumer.js';
import type { AuditConsumer } from '../packages/server/src/auditor/consumer.js';
import * as D from '../packages/server/src/auditor/defaults.js';
import { report } from './util.js';
import type { Figure } from './util.js';

export interface AuditorIngestOptions {
  /** Audit events in the backlog (default 100 000). */
  events: number;
  /** Events per AuditBatch message (default 64). */
  batchSize?: number;
  /** JetStream messages per insert (the consumer's batchMaxMessages; default the auditor's). */
  batchMaxMessages?: number;
  /** Fetch → map → insert loops in the one consumer (its `pipelines`; default the auditor's). */
  pipelines?: number;
  /** Run `audit verify` over the stored rows after (default true; off for quick comparisons). */
  verify?: boolean;
  /** Give up waiting for the table after this long (default 180 s); loss is then reported. */
  timeoutMs?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (s: string) => void;
}

const AGENTS = ['planner', 'researcher', 'coder', 'reviewer', 'tester', 'writer', 'ops', 'librarian'];

/**
 * A verifier's day in miniature: mostly accepted messages along a fixed graph, ~3 % rejected
 * (with the reasons a verifier gives), ~1 % duplicates (client retries), spread over the last hour.
 */
export function ingestEvents(n: number): AuditEvent[] {
  const t0 = Date.now() - 3600_000;
  const step = 3600_000 / Math.max(1, n);
  const rejectReasons = [Reason.REASON_SCHEMA_INVALID, Reason.REASON_DESTINATION_NOT_ALLOWED, Reason.REASON_RATE_LIMITED, Reason.REASON_STALE_TIMESTAMP];
  const out: AuditEvent[] = [];
  for (let i = 0; i < n; i++) {
    const from = AGENTS[i % AGENTS.length]!;
    const to = AGENTS[(i * 7 + 3) % AGENTS.length]!;
    const r = i % 100;
    const spec: EventSpec = {
      from,
      ...(i % 13 === 0 ? { topic: 'status' } : { to: to === from ? 'planner' : to }),
      type: i % 13 === 0 ? 'status.heartbeat' : i % 2 ? 'task.result' : 'task.assign',
      at: Math.floor(t0 + i * step),
      payload: `{"task":"t-${i}","body":"${'x'.repeat(120 + (i % 200))}"}`,
      metadata: { prompt_version: `v${1 + (i % 3)}`, rationale: 'bench' },
    };
    if (r < 3) Object.assign(spec, { verdict: Verdict.VERDICT_REJECTED, reason: rejectReasons[i % rejectReasons.length]!, detail: 'bench' });
    else if (r === 3) spec.verdict = Verdict.VERDICT_DUPLICATE;
    out.push(auditEvent(spec));
  }
  return out;
}

/**
 * Group per verdict into AuditBatch messages of `batchSize` events, like the verifier's publisher:
 * one chain of the fixtures' verifier key per call (each run's store holds its whole chain).
 */
export function batchesOf(events: AuditEvent[], batchSize: number): { subject: string; data: Uint8Array }[] {
  const open = new Map<Verdict, AuditEvent[]>();
  const out: { subject: string; data: Uint8Array }[] = [];
  const chain = new ChainSealer('v1', fixtureVerifierKey);
  const emit = (verdict: Verdict, list: AuditEvent[]) => out.push({ subject: `agentbus.audit.${verdictName(verdict)}`, data: chain.seal(list).data });
  for (const e of events) {
    let list = open.get(e.verdict);
    if (!list) open.set(e.verdict, (list = []));
    list.push(e);
    if (list.length === batchSize) {
      emit(e.verdict, list);
      open.set(e.verdict, []);
    }
  }
  for (const [v, list] of open) if (list.length) emit(v, list);
  return out;
}

/** Confirmed JetStream publishes, `window` in flight at a time. */
async function publishAll(nc: NatsConnection, msgs: { subject: string; data: Uint8Array }[], window = 256): Promise<void> {
  const js = jetstream(nc);
  for (let i = 0; i < msgs.length; i += window) {
    const acks: Promise<PubAck>[] = [];
    for (const m of msgs.slice(i, i + window)) acks.push(js.publish(m.subject, m.data, { msgID: toHex(randomBytes(12)), timeout: 30_000 }));
    const done = await Promise.all(acks);
    if (done.some((a) => a.duplicate)) throw new Error('a batch was taken as a JetStream duplicate');
  }
}

/** The sink with the time any of its calls is in flight (the union of their intervals), in ms. */
function timedSink(s: AuditStore): { sink: RowSink; busyMs: () => number } {
  let active = 0;
  let since = 0;
  let busy = 0;
  const wrap =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      if (active++ === 0) since = performance.now();
      try {
        return await f(...a);
      } finally {
        if (--active === 0) busy += performance.now() - since;
      }
    };
  return {
    sink: {
      insertRows: wrap((r) => s.insertRows(r)),
      insertBatches: wrap((r) => s.insertBatches(r)),
      insertDeliveries: wrap((r) => s.insertDeliveries(r)),
      storedBatches: wrap((ids) => s.storedBatches(ids)),
      storedPlaces: wrap((ids) => s.storedPlaces(ids)),
      ping: () => s.ping(),
    },
    busyMs: () => busy,
  };
}

export async function countRows(store: AuditStore): Promise<{ final: number; raw: number; distinct: number }> {
  const t = store.table('audit_events');
  const [f] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${t} FINAL`);
  const [r] = await store.query<{ n: number; d: number }>(`SELECT count() AS n, uniqExact(event_id) AS d FROM ${t}`);
  return { final: Number(f!.n), raw: Number(r!.n), distinct: Number(r!.d) };
}

export async function auditorIngest(opts: AuditorIngestOptions): Promise<Figure[]> {
  const n = opts.events;
  const batchSize = opts.batchSize ?? 64;
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-auditor-'));
  const server = await startNatsServer();
  let nc: NatsConnection | undefined;
  let store: AuditStore | undefined;
  let consumer: AuditConsumer | undefined;
  try {
    nc = await connect({ servers: server.url });
    await ensureAuditStream(nc);
    let t = Date.now();
    const events = ingestEvents(n);
    const msgs = batchesOf(events, batchSize);
    log(`  signed ${n} events in ${((Date.now() - t) / 1000).toFixed(1)} s; publishing ${msgs.length} AuditBatch messages ...`);
    t = Date.now();
    await publishAll(nc, msgs);
    const info = await (await jetstreamManager(nc)).streams.info(D.AUDIT_STREAM);
    if (info.state.messages !== msgs.length) throw new Error(`stream holds ${info.state.messages} messages, published ${msgs.length}`);
    log(`  backlog in AUDIT: ${info.state.messages} messages, ${(info.state.bytes / 1e6).toFixed(1)} MB (${((Date.now() - t) / 1000).toFixed(1)} s)`);

    store = await openStore(storeConfigSchema.parse({ url: join(dir, 'db'), database: 'bench' }));
    await store.migrate();
    const s = store;
    // Clock starts at the consumer's start: creating the durable, fetching, decoding, inserting, acking.
    const t0 = process.hrtime.bigint();
    const timed = timedSink(s);
    consumer = await startAuditConsumer({
      nc,
      sink: timed.sink,
      config: { ...(opts.batchMaxMessages ? { batchMaxMessages: opts.batchMaxMessages } : {}), ...(opts.pipelines ? { pipelines: opts.pipelines } : {}) },
    });
    const c = consumer;
    const deadline = Date.now() + timeoutMs;
    let counts = { final: 0, raw: 0, distinct: 0 };
    for (;;) {
      // Cheap in-memory check first (acks follow successful inserts), then the table itself.
      if (c.stats().events >= n) {
        counts = await countRows(s);
        if (counts.final >= n) break;
      }
      if (Date.now() > deadline) {
        counts = await countRows(s);
        log(`  timed out: ${counts.final} of ${n} rows`);
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const st = c.stats();
    log(
      `  stored ${counts.final} rows in ${secs.toFixed(2)} s: ${st.batches} inserts, ${st.messages} messages, ${st.redelivered} redelivered, raw rows ${counts.raw}; the store busy ${((timed.busyMs() / 1000 / secs) * 100).toFixed(0)} % of the time`,
    );
    const lost = Math.max(0, n - counts.distinct);
    const duplicates = counts.final - counts.distinct;
    // audit verify over everything just stored: batch signatures, chain, every column, sender signatures
    await c.stop();
    consumer = undefined;
    const keys = {
      verifiers: new Map([[fixtureVerifierKey.keyId, fixtureVerifierKey.publicKey]]),
      agents: (sender: string, keyId: string) => agent(sender).keys.find((k) => k.keyId === keyId)?.publicKey,
    };
    const ingest: Figure[] = [
      {
        name: 'auditor_events_per_s',
        value: counts.final / secs,
        unit: `events/s (JetStream → chDB, ${n} events, ${batchSize}/AuditBatch, ${opts.pipelines ?? D.DEFAULT_PIPELINES} pipeline(s))`,
      },
      { name: 'auditor_lost', value: lost, unit: 'events' },
      { name: 'auditor_duplicates', value: duplicates, unit: 'rows (FINAL count − uniqExact(event_id))' },
      {
        name: 'auditor_store_busy_share',
        value: timed.busyMs() / 1000 / secs,
        unit: 'share of the ingest time with a store call (insert or lookup) in flight: what bounds the ingest',
      },
    ];
    if (opts.verify === false) return ingest;
    const v0 = process.hrtime.bigint();
    const report = await verifyStore(s, {}, keys);
    const vSecs = Number(process.hrtime.bigint() - v0) / 1e9;
    log(`  audit verify: ${report.rows} rows, ${report.batches} batches in ${vSecs.toFixed(2)} s, ${report.findings.length} findings`);
    if (report.findings.length)
      throw new Error(`audit verify found ${report.findings.length} problems in an untampered store: ${JSON.stringify(report.findings.slice(0, 3))}`);
    return [
      {
        name: 'audit_verify_rows_per_s',
        value: report.rows / vSecs,
        unit: `rows/s (audit verify of ${report.rows} rows, ${report.batches} signed batches: read, signatures, chain, every column)`,
      },
      ...ingest,
    ];
  } finally {
    await consumer?.stop().catch(() => {});
    await nc?.close().catch(() => {});
    await store?.close().catch(() => {});
    await server.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  const num = (flag: string, dflt: number) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const json = argv.includes('--json');
  // --pipelines 1,2,4: one run each, in this order, in one process (compare within a run)
  const pi = argv.indexOf('--pipelines');
  const pipelines = pi >= 0 ? argv[pi + 1]!.split(',').map(Number) : [undefined];
  const figures: Figure[] = [];
  for (const p of pipelines) {
    const f = await auditorIngest({
      events: num('--events', 100_000),
      batchSize: num('--batch-size', 64),
      ...(p ? { pipelines: p } : {}),
      ...(argv.includes('--no-verify') ? { verify: false } : {}),
      ...(argv.includes('--batch-max-messages') ? { batchMaxMessages: num('--batch-max-messages', 256) } : {}),
      log: (s) => {
        if (!json) console.error(s);
      },
    });
    figures.push(...(pipelines.length > 1 ? f.map((x) => ({ ...x, name: `${x.name}_p${p}` })) : f));
  }
  report(figures, json);
}
