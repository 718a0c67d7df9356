// The auditor killed (SIGKILL) after inserting a batch but before acking it, then restarted:
// every event is in ClickHouse exactly once. The consumer runs in a child process (this same
// file, in child mode) so the kill is real; the parent opens the chDB directory only after
// the children have exited (chDB is one engine per process).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from './helpers/nats-server.js';
import { auditEvent, ensureAuditStream, publishEvents } from './helpers/audit-fixtures.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { RowSink } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { startAuditConsumer } from '../packages/server/src/auditor/consumer.js';

const CONSUMER = { batchMaxMessages: 8, batchMaxWaitMs: 1000, ackWaitMs: 2000, backoffInitialMs: 50, backoffMaxMs: 400 };

async function child(): Promise<void> {
  const nc = await connect({ servers: process.env.NATS_URL! });
  const store = await openStore(storeConfigSchema.parse({ url: process.env.STORE_PATH! }));
  await store.migrate();
  const hangAfter = Number(process.env.HANG_AFTER_BATCHES ?? 0);
  let batches = 0;
  const sink: RowSink = {
    async insertRows(rows) {
      await store.insertRows(rows);
      batches++;
      process.stdout.write(`BATCH ${batches} ${rows.length}\n`);
      if (hangAfter && batches >= hangAfter) {
        process.stdout.write('HUNG\n'); // inserted, never acked: waiting for SIGKILL
        await new Promise(() => {});
      }
    },
  };
  const c = await startAuditConsumer({ nc, sink, config: CONSUMER });
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    if (!hangAfter && (await c.lag()) === 0 && c.stats().events > 0) break;
  }
  await c.stop();
  await store.close();
  await nc.close();
  process.stdout.write('DRAINED\n');
  process.exit(0);
}

function runChild(env: Record<string, string>): { proc: ChildProcess; waitFor(line: string, ms: number): Promise<void>; inserted(): number } {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, AUDITOR_CRASH_CHILD: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return {
    proc,
    inserted: () => [...out.matchAll(/^BATCH \d+ (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0),
    async waitFor(line, ms) {
      const start = Date.now();
      while (!out.includes(line)) {
        if (proc.exitCode !== null && !out.includes(line)) throw new Error(`child exited (${proc.exitCode}) without ${line}: ${out}`);
        if (Date.now() - start > ms) throw new Error(`child did not print ${line}: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

if (process.env.AUDITOR_CRASH_CHILD) {
  await child();
} else {
  test('consumer - SIGKILL between insert and ack, then restart: every event stored exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-auditor-crash-'));
    const server = await startNatsServer();
    try {
      const nc = await connect({ servers: server.url });
      await ensureAuditStream(nc);
      const t0 = Date.now() - 60_000;
      const events = Array.from({ length: 600 }, (_, i) => auditEvent({ from: `a${i % 7}`, to: `a${(i + 3) % 7}`, at: t0 + i }));
      await publishEvents(nc, events, 12);
      await nc.close();
      const env = { NATS_URL: server.url, STORE_PATH: join(dir, 'db') };

      const first = runChild({ ...env, HANG_AFTER_BATCHES: '3' });
      await first.waitFor('HUNG', 30_000);
      first.proc.kill('SIGKILL');
      await new Promise((r) => first.proc.once('exit', r));

      const second = runChild(env);
      await second.waitFor('DRAINED', 40_000);
      await new Promise((r) => (second.proc.exitCode !== null ? r(null) : second.proc.once('exit', r)));

      const store = await openStore(storeConfigSchema.parse({ url: join(dir, 'db') }));
      const t = store.table('audit_events');
      const [fin] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${t} FINAL`);
      const [ids] = await store.query<{ n: number }>(`SELECT uniqExact(event_id) AS n FROM ${t}`);
      const [agg] = await store.query<{ n: number }>(`SELECT uniqExactMerge(events) AS n FROM ${store.table('agg_minute')}`);
      await store.close();
      const inserted = first.inserted() + second.inserted();
      assert.ok(inserted > events.length, `the hung batch was inserted before the kill and again after (${inserted} rows inserted)`);
      assert.is(Number(fin!.n), events.length);
      assert.is(Number(ids!.n), events.length);
      assert.is(Number(agg!.n), events.length);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test.run();
}
