// startAuditor wires store, consumer and detectors: events published on the audit stream are
// queryable, detection runs, stop() is graceful; a bad config names the path.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { startNatsServer } from './helpers/nats-server.js';
import { auditEvent, publishEvents, Reason, Verdict } from './helpers/audit-fixtures.js';
import { startAuditor, readNkeySeed } from '../packages/server/src/auditor/service.js';
import { parseAuditorConfig, AuditorConfigError } from '../packages/server/src/auditor/config.js';
import { topTalkers } from '../packages/server/src/auditor/reports.js';

test('service - startAuditor stores published events, detects, and stops gracefully', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-service-'));
  const server = await startNatsServer();
  try {
    const auditor = await startAuditor({
      nats: { url: server.url },
      store: { url: join(dir, 'db') },
      consumer: { ackWaitMs: 3000 },
      detect: { intervalMs: 3_600_000 },
      logLevel: 'silent',
    });
    const nc = await connect({ servers: server.url });
    const t0 = Date.now() - 30_000;
    const evs = [
      ...Array.from({ length: 30 }, (_, i) => auditEvent({ from: 'alice', to: 'bob', at: t0 + i })),
      ...Array.from({ length: 5 }, (_, i) =>
        auditEvent({ from: 'mallory', to: 'bob', at: t0 + 100 + i, verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_UNKNOWN_KEY, forged: true }),
      ),
    ];
    await publishEvents(nc, evs, 8);
    const start = Date.now();
    while (auditor.stats().consumer.events < evs.length) {
      if (Date.now() - start > 15_000) throw new Error('not stored');
      await new Promise((r) => setTimeout(r, 50));
    }
    const alerts: string[] = [];
    const sub = nc.subscribe('agentbus.alert.>', { callback: (_e, m) => void alerts.push(m.subject) });
    await nc.flush();
    const fired = await auditor.evaluate();
    assert.ok(
      fired.some((a) => a.rule === 'signature_failure' && a.agents[0] === 'mallory'),
      JSON.stringify(fired),
    );
    assert.equal(
      (await topTalkers(auditor.store, { since: t0 - 60_000 })).map((r) => [r.sender, r.total]),
      [
        ['alice', 30],
        ['mallory', 5],
      ],
    );
    assert.is(await auditor.lag(), 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(alerts.includes('agentbus.alert.signature_failure'), alerts.join());
    sub.unsubscribe();
    await nc.close();
    await auditor.stop();
    await auditor.stop(); // idempotent
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('service - config errors name the path', () => {
  try {
    parseAuditorConfig({ store: { ttlDays: 0, database: 'no-dashes' }, consumer: { batchMaxWaitMs: 10 } });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, AuditorConfigError);
    const paths = (e as AuditorConfigError).issues.map((i) => i.path).sort();
    assert.equal(paths, ['consumer.batchMaxWaitMs', 'store.database', 'store.ttlDays']);
  }
  const d = parseAuditorConfig({});
  assert.is(d.store.ttlDays, 90);
  assert.is(d.detect.rules.new_edge.learningMinutes, 60);
});

test('service - nkey seed from a plain seed file or a JSON service credential', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-seed-'));
  try {
    const seed = new TextDecoder().decode(createUser().getSeed());
    writeFileSync(join(dir, 'plain.nk'), `# auditor\n${seed}\n`);
    writeFileSync(join(dir, 'svc.json'), JSON.stringify({ agentbus_service: 1, name: 'auditor', nats_seed: seed }));
    writeFileSync(join(dir, 'bad.json'), '{}');
    assert.is(new TextDecoder().decode(readNkeySeed(join(dir, 'plain.nk'))), seed);
    assert.is(new TextDecoder().decode(readNkeySeed(join(dir, 'svc.json'))), seed);
    assert.throws(() => readNkeySeed(join(dir, 'bad.json')), /no nkey user seed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
