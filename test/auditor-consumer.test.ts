// The audit consumer against a real nats-server (JetStream) and a real embedded chDB: every
// published audit event ends up in ClickHouse exactly once — normal flow, redelivery, a store
// that fails for a while, a stop before ack — and poison messages go to the dead-letter subject.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from './helpers/nats-server.js';
import type { NatsServerHandle } from './helpers/nats-server.js';
import {
  auditEvent,
  malformedEvent,
  ensureAuditStream,
  publishEvents,
  publishRaw,
  eventIdHex,
  fixtureChain,
  Reason,
  Verdict,
} from './helpers/audit-fixtures.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AuditStore, RowSink } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { startAuditConsumer } from '../packages/server/src/auditor/consumer.js';
import type { AuditConsumer } from '../packages/server/src/auditor/consumer.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let dir: string;
const stores: AuditStore[] = [];

async function freshStore(database: string): Promise<AuditStore> {
  const s = await openStore(storeConfigSchema.parse({ url: join(dir, 'db'), database }));
  await s.migrate();
  stores.push(s);
  return s;
}

async function resetStream(): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete('AUDIT').catch(() => {});
  await ensureAuditStream(nc);
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const FAST = { batchMaxWaitMs: 1000, ackWaitMs: 3000, backoffInitialMs: 50, backoffMaxMs: 400 };

async function countRows(s: AuditStore): Promise<{ final: number; distinct: number }> {
  const [r] = await s.query<{ final: number }>(`SELECT count() AS final FROM ${s.table('audit_events')} FINAL`);
  const [d] = await s.query<{ distinct: number }>(`SELECT uniqExact(event_id) AS distinct FROM ${s.table('audit_events')}`);
  return { final: Number(r!.final), distinct: Number(d!.distinct) };
}

function traffic(n: number, t0: number) {
  const evs = [];
  for (let i = 0; i < n; i++) evs.push(auditEvent({ from: `agent${i % 5}`, to: `agent${(i + 1) % 5}`, at: t0 + i * 10 }));
  return evs;
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-auditor-'));
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

test.after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  await nc?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('consumer - every published event is stored exactly once; replays sharing a msg_id stay two rows', async () => {
  await resetStream();
  const store = await freshStore('normal');
  const t0 = Date.now() - 60_000;
  const msgId = randomBytes(16);
  const events = [
    ...traffic(300, t0),
    auditEvent({ from: 'mallory', to: 'bob', at: t0 + 1, msgId }),
    auditEvent({ from: 'mallory', to: 'bob', at: t0 + 2, msgId, verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_REPLAY }),
    malformedEvent('eve', t0 + 3),
  ];
  await publishEvents(nc, events, 16);
  const c = await startAuditConsumer({ nc, sink: store, config: FAST });
  await waitFor(() => c.stats().events >= events.length, 20_000, 'all events');
  await waitFor(async () => (await c.lag()) === 0, 5000, 'lag 0');
  await c.stop();
  assert.equal(await countRows(store), { final: events.length, distinct: events.length });
  const replays = await store.query<{ n: number }>(`SELECT count() AS n FROM ${store.table('audit_events')} FINAL WHERE msg_id = {id:String}`, {
    id: Buffer.from(msgId).toString('hex'),
  });
  assert.is(Number(replays[0]!.n), 2);
  const bad = await store.query<{ sender: string; reason: string; header_valid: number }>(
    `SELECT sender, reason, header_valid FROM ${store.table('audit_events')} FINAL WHERE event_id = {id:String}`,
    { id: eventIdHex(events[events.length - 1]!) },
  );
  assert.equal(bad, [{ sender: 'eve', reason: 'malformed', header_valid: 0 }]);
});

test('consumer - four pipelines on one durable consumer store every event once and every batch record once; stop ends them all', async () => {
  await resetStream();
  const store = await freshStore('pipelines');
  const events = traffic(800, Date.now() - 60_000);
  await publishEvents(nc, events, 8); // 100 messages, fetched 4 at a time: the pipelines interleave
  const c = await startAuditConsumer({ nc, sink: store, config: { ...FAST, pipelines: 4, batchMaxMessages: 4 } });
  await waitFor(() => c.stats().events >= events.length, 30_000, 'all events');
  await waitFor(async () => (await c.lag()) === 0, 5000, 'lag 0');
  await c.stop();
  // no redelivery happened, so not even a raw duplicate awaiting a merge
  const [raw] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${store.table('audit_events')}`);
  assert.is(Number(raw!.n), events.length);
  assert.equal(await countRows(store), { final: events.length, distinct: events.length });
  const [b] = await store.query<{ n: number; d: number }>(`SELECT count() AS n, uniqExact(batch_id) AS d FROM ${store.table('audit_batches')}`);
  assert.equal([Number(b!.n), Number(b!.d)], [100, 100]);
  assert.ok(c.stats().batches > 4, `${c.stats().batches} inserts`);
  // stopped: nothing more is fetched
  await publishEvents(nc, traffic(8, Date.now()), 8);
  await new Promise((r) => setTimeout(r, 300));
  assert.is(c.stats().events, events.length);
});

test('consumer - a batch the stream kept twice, fetched by two pipelines at once, is stored once (the second copy is skipped while the first is stored)', async () => {
  await resetStream();
  const store = await freshStore('twice');
  // a slow store: the first copy's rows are still being inserted when the other pipeline looks the batch up
  let inserts = 0;
  const slow: RowSink = {
    ...store,
    insertRows: async (rows) => {
      inserts++;
      await new Promise((r) => setTimeout(r, 400));
      await store.insertRows(rows);
    },
    insertBatches: (rows) => store.insertBatches(rows),
    insertDeliveries: (rows) => store.insertDeliveries(rows),
    storedBatches: (ids) => store.storedBatches(ids),
    storedPlaces: (ids) => store.storedPlaces(ids),
    ping: () => store.ping(),
  };
  const events = traffic(10, Date.now() - 60_000);
  const data = fixtureChain.seal(events).data;
  await publishRaw(nc, data);
  await publishRaw(nc, data);
  const c = await startAuditConsumer({ nc, sink: slow, config: { ...FAST, pipelines: 2, batchMaxMessages: 1 } });
  await waitFor(async () => (await c.lag()) === 0 && c.stats().messages === 2, 20_000, 'both copies acked');
  await c.stop();
  assert.is(c.stats().skippedBatches, 1);
  assert.is(inserts, 1);
  const [raw] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${store.table('audit_events')}`);
  assert.is(Number(raw!.n), events.length);
});

test('consumer - an insert whose ack is lost is redelivered and still stored once', async () => {
  await resetStream();
  const store = await freshStore('redelivery');
  // Inserts succeed, but the first two batches "crash" before the ack: the rows are in the
  // store and the messages are not acked, so they come again.
  let crashes = 2;
  let inserted = 0;
  const sink: RowSink = {
    async insertRows(rows) {
      await store.insertRows(rows);
      inserted += rows.length;
      if (crashes-- > 0) throw new Error('crash after insert, before ack');
    },
  };
  const events = traffic(200, Date.now() - 60_000);
  await publishEvents(nc, events, 10);
  const c = await startAuditConsumer({ nc, sink, config: FAST });
  await waitFor(async () => (await c.lag()) === 0 && c.stats().messages >= 20, 20_000, 'drained');
  await c.stop();
  assert.ok(inserted > events.length, `the store really got duplicates (${inserted} rows inserted)`);
  assert.equal(await countRows(store), { final: events.length, distinct: events.length });
  // The per-minute aggregates count each event once too.
  const [agg] = await store.query<{ n: number }>(`SELECT uniqExactMerge(events) AS n FROM ${store.table('agg_minute')}`);
  assert.is(Number(agg!.n), events.length);
  const [sum] = await store.query<{ n: number }>(
    `SELECT sum(n) AS n FROM (SELECT uniqExactMerge(events) AS n FROM ${store.table('agg_minute')} GROUP BY minute, sender, destination, verdict, reason)`,
  );
  assert.is(Number(sum!.n), events.length);
});

test('consumer - store down for a while: backs off, keeps the backlog, then catches up exactly once', async () => {
  await resetStream();
  const store = await freshStore('outage');
  let down = true;
  const sink: RowSink = {
    async insertRows(rows) {
      if (down) throw new Error('ClickHouse unavailable');
      await store.insertRows(rows);
    },
  };
  const events = traffic(400, Date.now() - 60_000);
  await publishEvents(nc, events, 20);
  const c = await startAuditConsumer({ nc, sink, config: { ...FAST, batchMaxMessages: 5 } });
  await waitFor(() => c.stats().insertFailures >= 4, 10_000, 'failures');
  assert.ok(c.stats().backingOff);
  assert.is(c.stats().events, 0);
  assert.ok((await c.lag()) >= 20, 'backlog stays in JetStream');
  // Outage longer than ack_wait: messages held must not be lost or duplicated.
  await new Promise((r) => setTimeout(r, 3500));
  down = false;
  await waitFor(async () => (await c.lag()) === 0, 20_000, 'caught up');
  await c.stop();
  assert.equal(await countRows(store), { final: events.length, distinct: events.length });
});

test('consumer - stopped while the store is down naks the batch; a new consumer stores it once', async () => {
  await resetStream();
  const store = await freshStore('restart');
  const failing: RowSink = {
    insertRows: async () => {
      throw new Error('down');
    },
  };
  const events = traffic(100, Date.now() - 60_000);
  await publishEvents(nc, events, 10);
  const c1 = await startAuditConsumer({ nc, sink: failing, config: FAST });
  await waitFor(() => c1.stats().insertFailures >= 1, 10_000, 'failure');
  await c1.stop();
  const c2 = await startAuditConsumer({ nc, sink: store, config: FAST });
  await waitFor(async () => (await c2.lag()) === 0 && c2.stats().events >= events.length, 20_000, 'drained');
  await c2.stop();
  assert.equal(await countRows(store), { final: events.length, distinct: events.length });
});

test('consumer - a poison message goes to agentbus.dlq.audit with a reason and is counted', async () => {
  await resetStream();
  const store = await freshStore('poison');
  const dlq: { reason: string | undefined; data: Uint8Array }[] = [];
  const sub = nc.subscribe('agentbus.dlq.audit', { callback: (_e, m) => void dlq.push({ reason: m.headers?.get('Agentbus-Dlq-Reason'), data: m.data }) });
  await nc.flush();
  const good = traffic(20, Date.now() - 60_000);
  await publishEvents(nc, good.slice(0, 10), 10);
  const garbage = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
  await publishRaw(nc, garbage);
  await publishEvents(nc, good.slice(10), 10);
  const c = await startAuditConsumer({ nc, sink: store, config: FAST });
  await waitFor(async () => (await c.lag()) === 0 && c.stats().poison === 1 && c.stats().events === 20, 20_000, 'drained');
  await c.stop();
  sub.unsubscribe();
  assert.is(dlq.length, 1);
  assert.ok(/does not decode/.test(dlq[0]!.reason ?? ''), dlq[0]!.reason);
  assert.equal(Array.from(dlq[0]!.data), Array.from(garbage));
  assert.equal(await countRows(store), { final: 20, distinct: 20 });
});

test.run();
