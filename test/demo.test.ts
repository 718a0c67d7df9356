// The README's main job: `agentbus demo --json` runs the example scenario on a full dev bus
// (nats-server, verifier, auditor on chDB) and every attack is blocked with its expected reason.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliArgs } from './helpers/cli-bin.js';
import { printSummary } from '../packages/server/src/devbus/demo.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-demo-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('demo - blocks every attack with its expected reason and raises the alerts the scenario provokes', () => {
  const r = spawnSync(process.execPath, cliArgs('demo', '--json', '--state-dir', join(dir, 'state')), { encoding: 'utf8', timeout: 180_000 });
  assert.is(r.status, 0, r.stderr.slice(-2000));
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 1, 'stdout is exactly one JSON object');
  const s = JSON.parse(lines[0]!);
  assert.type(s.accepted, 'number');
  assert.ok(s.accepted >= 15, `accepted ${s.accepted}`);
  assert.type(s.rejected, 'object');
  assert.ok(s.attacks.length >= 10);
  for (const a of s.attacks) {
    assert.ok(a.blocked, `${a.name} not blocked`);
    assert.is(a.got_reason, a.expected_reason, a.name);
  }
  const rules = new Set(s.alerts.map((a: { rule: string }) => a.rule));
  for (const rule of ['rejection_burst', 'signature_failure', 'payload_loop', 'tool_refusal', 'content_guard', 'memory_refusal'])
    assert.ok(rules.has(rule), `no ${rule} alert: ${[...rules].join(',')}`);
  // tool calls: the real filesystem MCP server served on the bus, a legitimate call and an approved write
  assert.ok(s.attacks.filter((a: { name: string }) => a.name.startsWith('tool call:')).length >= 4, 'the tool-call attacks ran');
  assert.match(r.stderr, /researcher → fs\.read_text_file .*# Login for the CLI/);
  assert.match(r.stderr, /⏸ held: researcher → fs\.write_file/);
  // content guards: the hidden instruction is readable in the audit trail; the key never appears there or here
  assert.match(r.stderr, /the hidden instruction, as the audit trail records it: .*Ignore previous instructions/);
  assert.not.match(r.stdout + r.stderr, /R4nd0mT0kenV4lu3F0rTh3D3m0xY7zQ2wE8/);
  assert.match(r.stderr, /researcher → fs\.write_file .*Successfully wrote/);
  // the compromised agent is the one every alert names first; a loop names its whole cycle (the researcher answered it)
  assert.ok(
    s.alerts.every((a: { agent: string }) => a.agent === 'browser'),
    'only the compromised agent is flagged first',
  );
  const loops = s.alerts.filter((a: { rule: string }) => a.rule === 'payload_loop');
  assert.is(loops.length, 1, 'the loop is reported once');
  assert.equal(loops[0].agents, ['browser', 'researcher']);
  // the counts add up: audit rows make messages (a shed row stands for the messages it summarizes), messages make verdicts
  const a = s.audit;
  assert.ok(a.shed_rows >= 1 && a.shed >= 300, `the forged flood is shed: ${a.shed} messages in ${a.shed_rows} rows`);
  assert.is(a.messages, a.rows - a.shed_rows + a.shed, 'messages = rows − shed rows + shed messages');
  assert.is(a.accepted + a.rejected + a.duplicates, a.messages);
  assert.is(
    a.rejected,
    Object.values(s.rejected as Record<string, number>).reduce((x, y) => x + y, 0),
    'the audit rejected what the demo saw rejected',
  );
  assert.ok(
    a.accepted_by_agents >= s.accepted && a.accepted >= a.accepted_by_agents,
    `accepted: ${s.accepted} scripted, ${a.accepted_by_agents} by agents, ${a.accepted} in all`,
  );
  // the printed summary says the same, with the sum
  const printed: string[] = [];
  printSummary(s, (l) => printed.push(l));
  const audit = printed.slice(printed.findIndex((l) => l.startsWith('audit:')));
  assert.is(
    audit[0],
    `audit:    ${a.messages} messages in ${a.rows} rows (a row is one message, but ${a.shed_rows} shed ${a.shed_rows === 1 ? 'row stands' : 'rows stand'} for ${a.shed} messages shed unverified: ${a.rows} − ${a.shed_rows} + ${a.shed} = ${a.messages})`,
  );
  assert.match(
    audit[1]!,
    new RegExp(
      `^ +${a.accepted} accepted \\(${a.accepted_by_agents} sent by the six agents, ${a.accepted - a.accepted_by_agents} answers .*\\), ${a.rejected} rejected`,
    ),
  );
  assert.match(r.stderr, /prompt-injected/, 'progress is visible on stderr');
});

test.run();
