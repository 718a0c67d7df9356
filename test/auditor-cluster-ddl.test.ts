// ClickHouse cluster mode (--store-cluster): every DDL statement the auditor runs goes ON CLUSTER
// with Replicated engines. No ClickHouse cluster runs here, so the statements are checked by the
// real ClickHouse parser inside chDB (EXPLAIN AST), and the single-node DDL is checked unchanged.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS, MIGRATIONS_TABLE, TTL_TABLES, forCluster } from '../packages/server/src/auditor/schema.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AuditStore } from '../packages/server/src/auditor/store.js';

const test = suite('auditor cluster DDL');
let dir: string;
let store: AuditStore;
test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-ddl-'));
  store = await openStore(storeConfigSchema.parse({ url: join(dir, 'store') }));
});
test.after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const sub = (s: string) => s.replaceAll('{db}', 'agentbus').replaceAll('{ttl}', '90');
const all = () => [
  'CREATE DATABASE IF NOT EXISTS agentbus',
  sub(MIGRATIONS_TABLE),
  ...MIGRATIONS.flatMap((m) => m.statements.map(sub)),
  ...Object.entries(TTL_TABLES).map(([t, e]) => `ALTER TABLE agentbus.${t} MODIFY TTL ${e} + toIntervalDay(30)`),
];

test('cluster - every statement goes ON CLUSTER, every engine is Replicated, and ClickHouse parses it', async () => {
  const stmts = all().map((s) => forCluster(s, 'agentbus_cluster'));
  assert.ok(stmts.length >= 12);
  for (const s of stmts) {
    assert.match(s, /^\s*(CREATE (TABLE|MATERIALIZED VIEW|DATABASE) IF NOT EXISTS|ALTER TABLE) \S+ ON CLUSTER agentbus_cluster\b/, s.slice(0, 120));
    assert.not.match(s, /ENGINE = (Replacing|Aggregating|)MergeTree\b/, 'a non-replicated engine is left');
    // the real parser: a syntax error throws
    const ast = await store.query<Record<string, string>>(`EXPLAIN AST ${s}`);
    assert.ok(ast.length > 0);
  }
  const engines = stmts.join('\n').match(/ENGINE = Replicated\w+MergeTree\('\/clickhouse\/tables\/\{shard\}\/\{database\}\/\{table\}', '\{replica\}'\)/g) ?? [];
  assert.is(
    engines.length,
    9,
    'audit_events, alerts, agg_minute, agg_payload_minute, audit_batches, audit_deliveries, agg_shed_minute, agg_would_refuse_minute, schema_migrations',
  );
});

test('cluster - without a cluster the DDL is unchanged; the parser check can fail', async () => {
  for (const s of all()) assert.is(forCluster(s, undefined), s);
  const broken = `${forCluster(sub(MIGRATIONS_TABLE), 'c')} garbage`;
  await store.query(`EXPLAIN AST ${broken}`).then(
    () => assert.unreachable('a syntax error was accepted'),
    (e: Error) => assert.match(e.message, /Syntax error/),
  );
});

test('cluster - needs a server URL and an identifier', () => {
  const r = storeConfigSchema.safeParse({ url: './data/audit', cluster: 'c1' });
  assert.is(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /cluster needs an http/);
  assert.is(storeConfigSchema.safeParse({ url: 'http://127.0.0.1:8123', cluster: 'c1; DROP' }).success, false);
  assert.is(storeConfigSchema.safeParse({ url: 'https://ch.internal:8443', cluster: 'prod_cluster' }).success, true);
});

test.run();
