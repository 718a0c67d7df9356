// The detector plugin contract (auditor/detectors/plugin.ts): every listed detector module has
// the fields, the wiring is derived from the list, and a detector defined here — in no file the
// auditor knows — runs through the same machinery against real chDB: its config comes from the
// derived schema, its look-back widens what the loader reads, and its finding becomes an alert.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { auditEvent } from './helpers/audit-fixtures.js';
import type { EventSpec } from './helpers/audit-fixtures.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import type { AuditStore } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import { createDetectionEngine, loadDetectorInput, readDetectorInput } from '../packages/server/src/auditor/detect.js';
import { DETECTORS, detectorNeeds, detectorSet, lookbackMinutes, RULES, rulesSchema, runDetectors } from '../packages/server/src/auditor/detectors/index.js';
import type { Detector, DetectorInput, Finding } from '../packages/server/src/auditor/detectors/index.js';
import { MINUTE_MS, windowEnd, windowStart } from '../packages/server/src/auditor/detectors/types.js';

const MIN = MINUTE_MS;
const T0 = Math.floor((Date.now() - 4 * 3600_000) / MIN) * MIN;
const NOW = T0 + 170 * MIN + 30_000;

// A test-only detector: a sender active earlier in its window and silent for the last
// quietMinutes. Its default window (180 min) is longer than any built-in look-back (120 min).
const dormantSchema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).default(180),
  quietMinutes: z.number().int().min(1).default(60),
  minEvents: z.number().int().min(1).default(2),
});
type DormantConfig = z.infer<typeof dormantSchema>;
const dormant = {
  rule: 'dormant_sender',
  schema: dormantSchema,
  lookbackMinutes: (cfg: DormantConfig) => cfg.windowMinutes,
  inputs: (cfg: DormantConfig) => ({ edgesMinutes: cfg.windowMinutes }),
  detect(input: DetectorInput, cfg: DormantConfig): Finding[] {
    if (!cfg.enabled) return [];
    const from = windowStart(input.now, cfg.windowMinutes);
    const quietFrom = windowStart(input.now, cfg.quietMinutes);
    const to = windowEnd(input.now);
    const before = new Map<string, number>();
    const recent = new Set<string>();
    for (const r of input.minutes) {
      if (r.minute >= from && r.minute < quietFrom) before.set(r.sender, (before.get(r.sender) ?? 0) + r.events);
      else if (r.minute >= quietFrom && r.minute < to) recent.add(r.sender);
    }
    const out: Finding[] = [];
    for (const [sender, n] of before) {
      if (n < cfg.minEvents || recent.has(sender)) continue;
      const edges = input.edges.filter((e) => e.sender === sender).map((e) => e.destination);
      out.push({
        rule: 'dormant_sender',
        agents: [sender],
        windowStart: from,
        windowEnd: to,
        severity: 'low',
        evidence: { events: n, edges, threshold: cfg.minEvents },
        key: `dormant_sender:${sender}`,
      });
    }
    return out;
  },
} satisfies Detector<'dormant_sender', typeof dormantSchema>;

let dir: string;
let store: AuditStore;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-plugins-'));
  store = await openStore(storeConfigSchema.parse({ url: join(dir, 'db'), database: 'plugins' }));
  await store.migrate();
  const events: EventSpec[] = [];
  // ghost talks to a1 at minutes 0–2 only (150+ minutes before NOW); a0 ↔ a1 all along.
  for (let m = 0; m < 3; m++) events.push({ from: 'ghost', to: 'a1', at: T0 + m * MIN + 1000 });
  for (let m = 0; m <= 170; m += 5) events.push({ from: 'a0', to: 'a1', at: T0 + m * MIN + 2000 }, { from: 'a1', to: 'a0', at: T0 + m * MIN + 3000 });
  await store.insertRows(events.map(auditEvent).map(eventToRow));
});
test.after(async () => {
  await store?.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test('plugins - every listed detector exports rule, schema, lookbackMinutes and detect; its defaults parse from {}', () => {
  assert.ok(DETECTORS.length >= 6);
  const empty: DetectorInput = { now: NOW, minutes: [], edges: [], payloads: [], links: [], buckets: [], senderFirstSeen: new Map(), dataStart: undefined };
  const defaults = rulesSchema.parse({}) as Record<string, unknown>;
  for (const d of DETECTORS) {
    assert.type(d.rule, 'string', 'rule');
    assert.match(d.rule, /^[a-z][a-z0-9_]*$/);
    assert.instance(d.schema, z.ZodType, `${d.rule}: schema is a zod schema`);
    const cfg = d.schema.safeParse({});
    assert.ok(cfg.success, `${d.rule}: ${cfg.success ? '' : z.prettifyError(cfg.error)}`);
    assert.equal(defaults[d.rule], cfg.data, `${d.rule}: the derived rules schema defaults to the module's defaults`);
    assert.type(d.lookbackMinutes, 'function');
    const lb = d.lookbackMinutes(cfg.data as never);
    assert.ok(Number.isInteger(lb) && lb >= 1, `${d.rule}: look-back ${lb}`);
    assert.type(d.detect, 'function');
    assert.equal(d.detect(empty, cfg.data as never), [], `${d.rule}: nothing to find in no traffic`);
    assert.ok(lookbackMinutes(rulesSchema.parse({})) >= lb, `${d.rule}: the total look-back covers it`);
  }
  assert.equal(
    [...RULES],
    DETECTORS.map((d) => d.rule),
  );
  assert.equal(Object.keys(defaults).sort(), [...RULES].sort());
  // The built-ins' defaults: the longest look-back is fan_out's two 60-minute windows.
  assert.is(lookbackMinutes(rulesSchema.parse({})), 120);
  // ... and it follows the config: a longer rate-spike baseline widens it.
  assert.is(lookbackMinutes(rulesSchema.parse({ rate_spike: { baselineMinutes: 300 } })), 305);
});

test('plugins - the rule names appear in the auditor only in their own detector file', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'server', 'src', 'auditor');
  const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(root, f));
  assert.ok(files.length > 10);
  const own = new Map(DETECTORS.map((d) => [d.rule, readFileSync(join(root, 'detectors', `${d.rule.replaceAll('_', '-')}.ts`), 'utf8')]));
  for (const d of DETECTORS) assert.ok(own.get(d.rule)!.includes(`export const rule = '${d.rule}'`), `${d.rule} lives in its own file`);
  const found: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const d of DETECTORS) {
      if (text === own.get(d.rule)) continue;
      if (new RegExp(`\\b${d.rule}\\b`).test(text)) found.push(`${relative(root, f)}: ${d.rule}`);
    }
  }
  assert.equal(found, []);
});

test('plugins - detectorSet rejects a detector that breaks the contract, naming it', () => {
  const ok = { rule: 'x_ok', schema: z.object({ n: z.number().default(1) }), lookbackMinutes: () => 5, detect: () => [] };
  const cases: [unknown, RegExp][] = [
    [[ok, ok], /"x_ok": listed twice/],
    [[{ ...ok, rule: 'a.b' }], /"a\.b": rule must match/],
    [[{ ...ok, rule: 'needs_n', schema: z.object({ n: z.number() }) }], /"needs_n": schema defaults do not parse from \{\}/],
    [[{ ...ok, rule: 'no_lookback', lookbackMinutes: () => 0 }], /"no_lookback": lookbackMinutes at the defaults must be a positive integer/],
    [[{ rule: 'no_detect', schema: ok.schema, lookbackMinutes: () => 5 }], /"no_detect": needs detect\(\)/],
  ];
  for (const [list, re] of cases)
    assert.throws(
      () => detectorSet(list as never),
      (e: Error) => e instanceof TypeError && re.test(e.message),
      String(re),
    );
  assert.equal(detectorSet([ok]).rules, ['x_ok']);
});

test('plugins - a test-only detector in the list: config from the derived schema, its look-back read from chDB, its alert emitted', async () => {
  const set = detectorSet([...DETECTORS, dormant]);
  assert.equal(set.rules, [...RULES, 'dormant_sender']);
  // The derived schema defaults the new rule and keeps validating it.
  const rules = set.schema.parse({ dormant_sender: { minEvents: 3 } });
  assert.equal(rules.dormant_sender, { enabled: true, windowMinutes: 180, quietMinutes: 60, minEvents: 3 });
  assert.equal(rules.rate_spike, rulesSchema.parse({}).rate_spike);
  assert.not.ok(set.schema.safeParse({ dormant_sender: { minEvents: 0 } }).success);
  // Its look-back and input request are what the loader reads.
  assert.equal(set.needs(rules), { ...detectorNeeds(rulesSchema.parse({})), lookbackMinutes: 180, edgesMinutes: 180 });
  const input = await readDetectorInput(store, NOW, set.needs(rules));
  const builtinInput = await loadDetectorInput(store, NOW, rulesSchema.parse({}));
  const ghostRows = (i: DetectorInput) => i.minutes.filter((r) => r.sender === 'ghost').reduce((s, r) => s + r.events, 0);
  assert.is(ghostRows(input), 3, 'the 180-minute look-back reaches minute 0');
  assert.is(ghostRows(builtinInput), 0, 'the built-ins alone read 120 minutes');
  const findings = set.run(input, rules);
  const mine = findings.filter((f) => f.rule === 'dormant_sender');
  assert.equal(
    mine.map((f) => [f.agents, f.evidence]),
    [[['ghost'], { events: 3, edges: ['a1'], threshold: 3 }]],
  );
  // The built-ins find the same as without it.
  assert.equal(
    findings.filter((f) => f.rule !== 'dormant_sender'),
    runDetectors(input, rulesSchema.parse({})),
  );
  // Its own config still decides: a window the ghost's minutes fall outside of finds nothing.
  const short = set.schema.parse({ dormant_sender: { windowMinutes: 100 } });
  assert.is(set.needs(short).lookbackMinutes, 120);
  assert.equal(
    set.run(await readDetectorInput(store, NOW, set.needs(short)), short).filter((f) => f.rule === 'dormant_sender'),
    [],
  );
  // The engine emits its finding like any other: the alerts table, once per cooldown.
  const engine = createDetectionEngine({ store });
  const alerts = await engine.raise(mine, NOW);
  assert.equal(
    alerts.map((a) => [a.rule, a.agents, a.dedup_key]),
    [['dormant_sender', ['ghost'], 'dormant_sender:ghost']],
  );
  const rows = await store.query<{ rule: string; agents: string[] }>(`SELECT rule, agents FROM ${store.table('alerts')} FINAL WHERE rule = 'dormant_sender'`);
  assert.equal(rows, [{ rule: 'dormant_sender', agents: ['ghost'] }]);
  assert.equal(await engine.raise(mine, NOW + MIN), []);
});

test.run();
