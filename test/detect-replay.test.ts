// `agentbus detect replay`: the auditor's detectors over a recorded trace in simulated time —
// rows as `audit export --jsonl` writes them, or with only the required columns — every alert
// one JSON line with the msg_ids of its evidence.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditEvent, Reason, Verdict } from './helpers/audit-fixtures.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { cliArgs } from './helpers/cli-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-replay-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[]) => spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', timeout: 120_000 });

// a recorded hour from last year: steady traffic, then a probe and a refused tool call
const T0 = Date.parse('2025-11-03T09:00:00Z');
const MIN = 60_000;
const hex = (n: number) => n.toString(16).padStart(32, '0');

test('replay - minimal rows (time, sender, verdict…): a rejection burst and a refused tool call, with their msg_ids', () => {
  const lines: Record<string, unknown>[] = [];
  let n = 0;
  for (let m = 0; m < 30; m++)
    for (const [a, b] of [
      ['planner', 'coder'],
      ['coder', 'planner'],
    ])
      lines.push({ time: T0 + m * MIN + 1000, sender: a, recipient: b, type: 'task.assign', verdict: 'accepted', msg_id: hex(++n) });
  const probe: string[] = [];
  for (let i = 0; i < 25; i++) {
    const id = hex(++n);
    probe.push(id);
    lines.push({
      time: T0 + 20 * MIN + i * 1000,
      sender: 'browser',
      recipient: 'deployer',
      type: 'deploy.request',
      verdict: 'rejected',
      reason: 'destination_not_allowed',
      msg_id: id,
    });
  }
  const tool = hex(++n);
  lines.push({
    time: new Date(T0 + 25 * MIN).toISOString(),
    sender: 'browser',
    recipient: 'fs',
    type: 'tool.fs.read_file',
    verdict: 'rejected',
    reason: 'argument_refused',
    detail: 'args.path contains a ".." segment',
    msg_id: tool,
  });
  const file = join(dir, 'min.jsonl');
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const r = cli(['detect', 'replay', '--events', file, '--json']);
  assert.is(r.status, 0, r.stderr);
  const alerts = r.stdout
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as { rule: string; agents: string[]; severity: string; sentence: string; window: { start: string }; evidence: { msg_ids: string[] } },
    );
  const burst = alerts.find((a) => a.rule === 'rejection_burst');
  assert.ok(burst, r.stdout);
  assert.equal(burst!.agents, ['browser']);
  assert.ok(burst!.evidence.msg_ids.length >= 20 && burst!.evidence.msg_ids.every((id) => probe.includes(id)), JSON.stringify(burst!.evidence.msg_ids));
  assert.match(burst!.sentence, /^browser had .* rejected/);
  assert.ok(Date.parse(burst!.window.start) >= T0 && Date.parse(burst!.window.start) < T0 + 3600_000, "alerts are in the trace's own time");
  const refusal = alerts.find((a) => a.rule === 'tool_refusal');
  assert.ok(refusal, r.stdout);
  assert.equal(refusal!.evidence.msg_ids, [tool]);
  assert.ok(
    alerts.every((a) => a.agents.every((x) => x === 'browser')),
    'the honest agents were flagged',
  );
});

test('replay - what audit export --jsonl writes is what replay reads; a bad line is named', async () => {
  const store = join(dir, 'db');
  const s = await openStore(storeConfigSchema.parse({ url: store, ttlDays: 90 }));
  await s.migrate();
  const now = Date.now() - 10 * MIN;
  await s.insertRows(
    Array.from({ length: 8 }, (_, i) =>
      eventToRow(
        auditEvent({ from: 'mallory', to: 'bob', at: now + i * 1000, verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_BAD_SIGNATURE, forged: true }),
      ),
    ),
  );
  await s.close();
  const out = join(dir, 'export.jsonl');
  const e = cli(['audit', 'export', '--jsonl', out, '--store', store, '--json']);
  assert.is(e.status, 0, e.stderr);
  assert.is(JSON.parse(e.stdout).rows, 8);
  const first = JSON.parse(readFileSync(out, 'utf8').split('\n')[0]!) as Record<string, unknown>;
  for (const c of ['event_id', 'time', 'sender', 'verdict', 'reason', 'msg_id', 'payload_sha256', 'guard_kinds']) assert.ok(c in first, c);
  const r = cli(['detect', 'replay', '--events', out, '--json']);
  assert.is(r.status, 0, r.stderr);
  const rules = r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { rule: string }).rule);
  assert.ok(rules.includes('signature_failure'), r.stdout);
  writeFileSync(join(dir, 'bad.jsonl'), '{"time": 1, "sender": "a", "verdict": "accepted"}\n{"time": "soon", "sender": "a", "verdict": "accepted"}\n');
  const bad = cli(['detect', 'replay', '--events', join(dir, 'bad.jsonl')]);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /bad\.jsonl:2 at time: must be a time/);
  assert.is(bad.stderr.trim().split('\n').length, 1);
});

test.run();
