// The audit store: ONE code path on @clickhouse/client. The transport is the only choice:
// embedded chDB (a data directory, through chdb/connection's Connection plugged into
// createClient) or a ClickHouse server by http(s) URL. Everything above — migrations, inserts,
// queries — is identical for both.
//
// Reads that must not double count use FINAL or uniqExact(event_id): audit_events is a
// ReplacingMergeTree keyed by the verifier's event_id, and a redelivered batch may sit twice
// in the table until a merge collapses it.
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { MIGRATIONS, MIGRATIONS_TABLE, TTL_TABLES, forCluster } from './schema.js';
import type { StoreConfig } from './config.js';
import type { AuditRow, BatchRow, DeliveryRow } from './rows.js';

/** Where rows go: the store, or in tests a wrapper that fails on purpose. */
export interface RowSink {
  insertRows(rows: AuditRow[]): Promise<void>;
  /** The signed batches (inserted after their rows, so a stored batch means its rows are stored). */
  insertBatches?(rows: BatchRow[]): Promise<void>;
  insertDeliveries?(rows: DeliveryRow[]): Promise<void>;
  /** Which of these batch ids are stored already (a redelivery or a copy in the stream). */
  storedBatches?(ids: { chain_id: string; seq: number }[]): Promise<Set<string>>;
  /** event ids (and delivery places) already stored for these batch ids (after a crash mid-way). */
  storedPlaces?(batchIds: string[]): Promise<Set<string>>;
  /** Is the store reachable? (tells a refused row from an outage) */
  ping?(): Promise<boolean>;
}

export interface AlertRow {
  alert_id: string;
  rule: string;
  severity: string;
  agents: string[];
  dedup_key: string;
  window_start: number;
  window_end: number;
  detected_at: number;
  evidence: string;
}

export type QueryParams = Record<string, unknown>;

export interface AuditStore extends RowSink {
  readonly client: ClickHouseClient;
  readonly database: string;
  readonly transport: 'chdb' | 'http' | 'bus';
  insertBatches(rows: BatchRow[]): Promise<void>;
  insertDeliveries(rows: DeliveryRow[]): Promise<void>;
  storedBatches(ids: { chain_id: string; seq: number }[]): Promise<Set<string>>;
  storedPlaces(batchIds: string[]): Promise<Set<string>>;
  /** Qualified table name: `database.name`. */
  table(name: string): string;
  /** Apply pending migrations and the configured TTL; returns the versions applied now. */
  migrate(): Promise<number[]>;
  insertAlerts(rows: AlertRow[]): Promise<void>;
  /** Run a SELECT with {name:Type} parameters; rows as objects. */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams, settings?: ClickHouseSettings): Promise<T[]>;
  command(sql: string, params?: QueryParams): Promise<void>;
  /**
   * Run analyst SQL with readonly = 1. On a server that is a per-query setting. chDB applies
   * settings as session-wide SETs (and readonly cannot be unset), so there it runs on a second,
   * permanently read-only session over the same data directory.
   */
  readonlyQuery(sql: string, params?: QueryParams, opts?: ReadonlyOptions): Promise<Record<string, unknown>[]>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ReadonlyOptions {
  /** 64-bit integers as JSON numbers, like query() (default: as strings, exact). */
  numbers?: boolean;
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
}

const BASE_SETTINGS: ClickHouseSettings = {
  // counts as JSON numbers (all our counters stay far below 2^53)
  output_format_json_quote_64bit_integers: 0,
};

/** DateTime64(3, 'UTC') from ms, as text ClickHouse parses the same on every version. */
export function msToCh(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** A ClickHouse server URL (http or https), as opposed to a chDB directory. */
export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

async function makeChdbClient(path: string): Promise<ClickHouseClient> {
  // chDB is loaded only when used, so nothing that merely imports this module pulls it in.
  const { createChdbConnection } = await import('chdb/connection');
  return createClient({ connection: createChdbConnection({ path }) as never, log: { level: ClickHouseLogLevel.OFF } });
}

async function makeClient(cfg: StoreConfig): Promise<{ client: ClickHouseClient; transport: 'chdb' | 'http' }> {
  if (isUrl(cfg.url)) {
    const client = createClient({
      url: cfg.url,
      username: cfg.username ?? 'default',
      password: cfg.password ?? '',
      // errors surface as exceptions (one line at the CLI), not as client log spew
      log: { level: ClickHouseLogLevel.OFF },
    });
    return { client, transport: 'http' };
  }
  const path = resolve(cfg.url);
  mkdirSync(path, { recursive: true });
  return { client: await makeChdbClient(path), transport: 'chdb' };
}

export async function openStore(cfg: StoreConfig): Promise<AuditStore> {
  const { client, transport } = await makeClient(cfg);
  const db = cfg.database;
  const t = (name: string) => `${db}.${name}`;
  const sub = (sql: string) => forCluster(sql.replaceAll('{db}', db).replaceAll('{ttl}', String(cfg.ttlDays)), cfg.cluster);

  const query = async <T>(sql: string, params: QueryParams = {}, settings: ClickHouseSettings = {}): Promise<T[]> => {
    // A readonly=1 query may not change any other setting (a server refuses it), so it gets none.
    const all = settings.readonly !== undefined ? settings : { ...BASE_SETTINGS, ...settings };
    const rs = await client.query({ query: sql, query_params: params, format: 'JSONEachRow', clickhouse_settings: all });
    return (await rs.json()) as T[];
  };
  const command = async (sql: string, params: QueryParams = {}) => {
    await client.command({ query: sql, query_params: params });
  };
  // chDB sessions that can only read: one with the server's defaults (analyst SQL), one that
  // answers 64-bit integers as numbers like query() (reports read through the query endpoint)
  const ro = new Map<boolean, Promise<ClickHouseClient>>();
  const readonlyClient = (numbers: boolean) => {
    let c = ro.get(numbers);
    if (!c) {
      c = (async () => {
        const client = await makeChdbClient(resolve(cfg.url));
        if (numbers) await client.command({ query: 'SELECT 1', clickhouse_settings: BASE_SETTINGS });
        await client.command({ query: 'SELECT 1', clickhouse_settings: { readonly: '1' } });
        return client;
      })();
      ro.set(numbers, c);
    }
    return c;
  };

  const store: AuditStore = {
    client,
    database: db,
    transport,
    table: t,
    async migrate() {
      await command(sub(`CREATE DATABASE IF NOT EXISTS ${db}`));
      await command(sub(MIGRATIONS_TABLE));
      const done = new Set((await query<{ version: number }>(`SELECT version FROM ${t('schema_migrations')} FINAL`)).map((r) => Number(r.version)));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const s of m.statements) await command(sub(s));
        await client.insert({ table: t('schema_migrations'), values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' });
        applied.push(m.version);
      }
      await applyTtl();
      return applied;
    },
    async insertRows(rows) {
      if (rows.length === 0) return;
      // JSONCompactEachRow: each row an array in the order of `columns` (every AuditRow has every
      // field), no key per value to encode here or to parse in the store: the insert's CPU 0.72–0.87×
      // of JSONEachRow's at 8,000 rows (docs/decisions.md, issue 30)
      const columns = Object.keys(rows[0]!) as (keyof AuditRow)[];
      const values = rows.map((r) => columns.map((c) => (c === 'time' || c === 'sent_at' || c === 'window_start' ? msToCh(r[c]) : r[c])));
      await client.insert({ table: t('audit_events'), values, columns: columns as [string, ...string[]], format: 'JSONCompactEachRow' });
    },
    async insertBatches(rows) {
      if (rows.length === 0) return;
      await client.insert({ table: t('audit_batches'), values: rows.map((r) => ({ ...r, created_at: msToCh(r.created_at) })), format: 'JSONEachRow' });
    },
    async insertDeliveries(rows) {
      if (rows.length === 0) return;
      await client.insert({ table: t('audit_deliveries'), values: rows.map((r) => ({ ...r, at: msToCh(r.at) })), format: 'JSONEachRow' });
    },
    async storedBatches(ids) {
      if (ids.length === 0) return new Set();
      const found = await query<{ batch_id: string }>(
        `SELECT DISTINCT batch_id FROM ${t('audit_batches')} WHERE (chain_id, seq) IN (SELECT tupleElement(x, 1), tupleElement(x, 2) FROM (SELECT arrayJoin(arrayZip({c:Array(String)}, {s:Array(UInt64)})) AS x))`,
        { c: ids.map((i) => i.chain_id), s: ids.map((i) => i.seq) },
      );
      return new Set(found.map((r) => r.batch_id));
    },
    async storedPlaces(batchIds) {
      if (batchIds.length === 0) return new Set();
      const rows = await query<{ k: string }>(
        `SELECT concat('e:', event_id) AS k FROM ${t('audit_events')} WHERE batch_id IN {b:Array(String)}
         UNION ALL SELECT concat('d:', batch_id, ':', toString(batch_pos)) AS k FROM ${t('audit_deliveries')} WHERE batch_id IN {b:Array(String)}`,
        { b: batchIds },
      );
      return new Set(rows.map((r) => r.k));
    },
    async insertAlerts(rows) {
      if (rows.length === 0) return;
      await client.insert({
        table: t('alerts'),
        values: rows.map((r) => ({ ...r, window_start: msToCh(r.window_start), window_end: msToCh(r.window_end), detected_at: msToCh(r.detected_at) })),
        format: 'JSONEachRow',
      });
    },
    query,
    command,
    async readonlyQuery(sql, params = {}, opts = {}) {
      if (transport === 'http') return query(sql, params, { readonly: '1' });
      const c = await readonlyClient(!!opts.numbers);
      const rs = await c.query({ query: sql, query_params: params, format: 'JSONEachRow' });
      return (await rs.json()) as Record<string, unknown>[];
    },
    async ping() {
      const r = await client.ping();
      return r.success;
    },
    async close() {
      for (const c of ro.values()) await (await c).close().catch(() => {});
      await client.close();
    },
  };

  /** Bring every table's TTL to the configured days (only when it differs: a cheap metadata change). */
  async function applyTtl() {
    for (const [name, expr] of Object.entries(TTL_TABLES)) {
      const rows = await query<{ q: string }>('SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = {name:String}', {
        db,
        name,
      });
      const m = /toIntervalDay\((\d+)\)/.exec(rows[0]?.q ?? '');
      if (!rows[0] || (m && Number(m[1]) === cfg.ttlDays)) continue;
      await client.command({
        query: sub(`ALTER TABLE ${t(name)} MODIFY TTL ${expr} + toIntervalDay(${cfg.ttlDays})`),
        clickhouse_settings: { materialize_ttl_after_modify: 0 },
      });
    }
  }

  return store;
}
