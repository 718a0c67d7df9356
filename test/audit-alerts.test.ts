// `agentbus audit alerts`: every alert with the sentence tail and the report show (table and
// --json), and --rule's help names every rule the auditor can raise — found here in the sources
// (each detector's `rule`, every `rule: X_RULE` an alert is raised with), not from the list
// the help is made from, so a new rule cannot be forgotten.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AlertRow } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { alertSentence } from '../packages/server/src/auditor/sentence.js';
import { cliArgs } from './helpers/cli-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-alerts-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', timeout: 60_000 });

const T = Date.now() - 10 * 60_000;
function alert(rule: string, agents: string[], evidence: Record<string, unknown>): AlertRow {
  return {
    alert_id: randomBytes(16).toString('hex'),
    rule,
    severity: 'high',
    agents,
    dedup_key: `${rule}:${agents.join(',')}`,
    window_start: T,
    window_end: T + 60_000,
    detected_at: T + 61_000,
    evidence: JSON.stringify(evidence),
  };
}

test("audit alerts - the table and --json carry each alert's sentence, the one tail and the report show", async () => {
  const store = await openStore(storeConfigSchema.parse({ url: join(dir, 'db') }));
  await store.migrate();
  const rows = [
    alert('rejection_burst', ['mallory'], { rejected: 6, total: 6, ratio: 1, by_reason: { destination_not_allowed: 6 }, threshold: 5 }),
    alert('identity_reuse', ['alice'], {
      agent: 'alice',
      client_ids: [1, 2],
      hosts: ['10.0.0.1', '10.0.0.2'],
      connections: [
        { client_id: 1, host: '10.0.0.1', server: 'n1', start: new Date(T).toISOString() },
        { client_id: 2, host: '10.0.0.2', server: 'n1', start: new Date(T + 5000).toISOString() },
      ],
      overlap_ms: 5000,
    }),
  ];
  await store.insertAlerts(rows);
  await store.close();
  const want = rows.map((r) =>
    alertSentence({
      ...r,
      window_start: new Date(r.window_start).toISOString(),
      window_end: new Date(r.window_end).toISOString(),
      evidence: JSON.parse(r.evidence),
    }),
  );
  for (const w of want) assert.ok(w.length > 40 && !/undefined/.test(w), w);

  const json = cli('audit', 'alerts', '--store', join(dir, 'db'), '--json');
  assert.is(json.status, 0, json.stderr);
  const listed = JSON.parse(json.stdout) as { rule: string; sentence: string }[];
  assert.is(listed.length, 2);
  for (const [i, r] of rows.entries()) assert.is(listed.find((a) => a.rule === r.rule)?.sentence, want[i], r.rule);

  const table = cli('audit', 'alerts', '--store', join(dir, 'db'));
  assert.is(table.status, 0, table.stderr);
  assert.match(table.stdout.split('\n')[0]!, /\bsentence$/);
  for (const w of want) assert.ok(table.stdout.includes(w), `the table lacks (or cuts) "${w}":\n${table.stdout}`);

  const one = cli('audit', 'alerts', '--store', join(dir, 'db'), '--json', '--rule', 'identity_reuse');
  assert.equal(
    (JSON.parse(one.stdout) as { rule: string }[]).map((a) => a.rule),
    ['identity_reuse'],
  );
});

test("audit alerts - --rule's help lists every rule the auditor can raise", () => {
  const src = join('packages', 'server', 'src');
  const files = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
  const all = files(src).map((f) => ({ f, text: readFileSync(f, 'utf8') }));
  const constants = new Map<string, string>();
  for (const { text } of all) for (const m of text.matchAll(/export const ([A-Z_]+_RULE) = '([a-z_]+)'/g)) constants.set(m[1]!, m[2]!);
  const raised = new Set<string>();
  // each detector module's rule
  for (const { f, text } of all.filter((x) => x.f.includes(join('auditor', 'detectors')))) {
    const m = /^export const rule = '([a-z_]+)'/m.exec(text);
    if (m) raised.add(m[1]!);
    else assert.not.match(text, /^export function detect\(/m, `${f}: a detector without an \`export const rule\``);
  }
  // every alert raised with a rule constant (the connection watch, the auditor itself)
  for (const { f, text } of all.filter((x) => x.f.includes('auditor'))) {
    for (const m of text.matchAll(/\brule: ([A-Z_]+_RULE)\b/g)) {
      assert.ok(constants.has(m[1]!), `${f}: ${m[1]} is not an exported constant`);
      raised.add(constants.get(m[1]!)!);
    }
  }
  for (const r of ['rejection_burst', 'identity_reuse', 'new_address', 'audit_dead_letter', 'sender_quarantined'])
    assert.ok(raised.has(r), `the scan missed ${r}`);
  const help = cli('audit', 'alerts', '--help');
  assert.is(help.status, 0, help.stderr);
  const listed = /--rule <rule>\s+only this rule \(([^)]*)\)/.exec(help.stdout.replace(/\s+/g, ' '))?.[1]?.split(/,\s*/) ?? [];
  for (const r of raised) assert.ok(listed.includes(r), `agentbus audit alerts --help does not list ${r}: ${listed.join(', ')}`);
});

test.run();
