// Detection quality on labelled, simulated traffic (bench/detection-sim.ts): per incident and
// per rule, whether the auditor's detectors (default thresholds) named the responsible agent,
// how fast, and how many alerts the same traffic without incidents raised.
//   node --import tsx bench/detection.ts [--json] [--quick]
//   (--quick: 5 agents, the loud incidents only)
import { pathToFileURL } from 'node:url';
import { RULES } from '../packages/server/src/auditor/detectors/index.js';
import { EXPECTED_RULES, runSimulation } from './detection-sim.js';
import type { IncidentKind, SimOptions, SimResult } from './detection-sim.js';
import { report } from './util.js';
import type { Figure } from './util.js';

const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);
const fmtS = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '—' : `${Math.round(x)}`);

function table(rows: string[][], align: ('l' | 'r')[]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (align[i] === 'r' ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), w.map((x) => '-'.repeat(x)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

interface RuleStats {
  rule: string;
  incidents: number;
  caught: number;
  meanSeconds: number;
  cleanSteady: number;
  cleanWarmup: number;
}

export function ruleStats(r: SimResult): RuleStats[] {
  return RULES.map((rule) => {
    const mine = r.incidents.filter((o) => o.expected.includes(rule));
    const hit = mine.filter((o) => o.firstByRule[rule] !== undefined);
    return {
      rule,
      incidents: mine.length,
      caught: hit.length,
      meanSeconds: mean(hit.map((o) => o.firstByRule[rule]!)),
      cleanSteady: r.clean.steadyAlerts.filter((a) => a.rule === rule).length,
      cleanWarmup: r.clean.warmupAlerts.filter((a) => a.rule === rule).length,
    };
  });
}

export function formatResult(r: SimResult): string {
  const mm = (ms: number) => {
    const s = Math.round((ms - r.t0) / 1000);
    return `${String(Math.floor(s / 60)).padStart(3)}:${String(s % 60).padStart(2, '0')}`;
  };
  const inc = [
    ['incident', 'responsible', 'start', 'end', 'caught', 'first rule', 'TTD s', 'per expected rule (s)', 'also'],
    ...r.incidents.map((o) => [
      `${o.spec.kind}: ${o.spec.label}`,
      o.spec.agents.join('+'),
      mm(o.startMs),
      mm(o.endMs),
      o.caught ? 'yes' : 'MISSED',
      o.firstRule ?? '—',
      fmtS(o.secondsToDetect),
      o.expected.map((x) => `${x} ${fmtS(o.firstByRule[x])}`).join(', '),
      o.alsoRules.join(',') || '—',
    ]),
  ];
  const rules = ruleStats(r);
  const hours = r.clean.steadyHours;
  const rt = [
    ['rule', 'incidents', 'caught', 'mean TTD s', 'clean false alerts/h', `clean warm-up (first ${r.warmupMinutes} min)`],
    ...rules.map((s) => [s.rule, String(s.incidents), String(s.caught), fmtS(s.meanSeconds), (s.cleanSteady / hours).toFixed(2), String(s.cleanWarmup)]),
  ];
  const caught = r.incidents.filter((o) => o.caught);
  const lines = [
    `Detection on simulated traffic: ${r.minutes} simulated minutes (${r.warmupMinutes} min warm-up), ${r.events.normal} normal + ${r.events.incident} incident events, ` +
      `detector defaults, evaluate(now) at the end of every simulated minute; ${r.evaluations} evaluations in ${r.wallSeconds.toFixed(1)} s.`,
    '',
    table(inc, ['l', 'l', 'r', 'r', 'l', 'l', 'r', 'l', 'l']),
    '',
    table(rt, ['l', 'r', 'r', 'r', 'r', 'r']),
    '',
    `caught ${caught.length}/${r.incidents.length}; mean time to detect ${fmtS(mean(caught.map((o) => o.secondsToDetect!)))} s; ` +
      `clean run: ${r.clean.steadyAlerts.length} false alerts in ${hours.toFixed(2)} h after warm-up, ${r.clean.warmupAlerts.length} during warm-up; ` +
      `incident run: ${r.unattributed.length} alerts naming no responsible agent.`,
  ];
  for (const a of [...r.clean.alerts, ...r.unattributed]) {
    lines.push(
      `  ${r.clean.alerts.includes(a) ? 'clean' : 'incident run, unattributed'}: ${a.rule} [${a.agents.join(',')}] at ${mm(Date.parse(a.detected_at))} ${JSON.stringify(a.evidence).slice(0, 160)}`,
    );
  }
  return lines.join('\n');
}

export function resultFigures(r: SimResult): Figure[] {
  const caught = r.incidents.filter((o) => o.caught);
  const hours = r.clean.steadyHours;
  const out: Figure[] = [
    { name: 'detection_incidents_total', value: r.incidents.length, unit: 'incidents' },
    { name: 'detection_incidents_caught', value: caught.length, unit: 'incidents (an expected rule named the responsible agent within the incident + 10 min)' },
    {
      name: 'detection_false_alerts_per_hour',
      value: r.clean.steadyAlerts.length / hours,
      unit: `alerts/h (clean run, after the ${r.warmupMinutes} min warm-up)`,
    },
    { name: 'detection_warmup_false_alerts', value: r.clean.warmupAlerts.length, unit: `alerts (clean run, first ${r.warmupMinutes} min, empty store)` },
    { name: 'detection_unattributed_alerts', value: r.unattributed.length, unit: 'alerts (incident run, naming no responsible agent)' },
  ];
  const ttd = mean(caught.map((o) => o.secondsToDetect!));
  if (!Number.isNaN(ttd))
    out.push({ name: 'detection_mean_seconds_to_detect', value: ttd, unit: 's (incident start → first expected-rule alert, 60 s evaluation steps)' });
  for (const kind of Object.keys(EXPECTED_RULES) as IncidentKind[]) {
    const mine = r.incidents.filter((o) => o.spec.kind === kind);
    out.push({ name: `detection_${kind}_caught`, value: mine.filter((o) => o.caught).length, unit: `of ${mine.length} incidents` });
  }
  for (const s of ruleStats(r)) {
    if (s.incidents) out.push({ name: `detection_rule_${s.rule}_caught`, value: s.caught, unit: `of ${s.incidents} incidents` });
    if (!Number.isNaN(s.meanSeconds)) out.push({ name: `detection_rule_${s.rule}_mean_seconds_to_detect`, value: s.meanSeconds, unit: 's' });
    out.push({ name: `detection_rule_${s.rule}_false_alerts_per_hour`, value: s.cleanSteady / hours, unit: 'alerts/h (clean, after warm-up)' });
  }
  return out;
}

export async function detectionFigures(opts: SimOptions = {}): Promise<{ figures: Figure[]; table: string }> {
  const r = await runSimulation(opts);
  return { figures: resultFigures(r), table: formatResult(r) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const json = process.argv.includes('--json');
  const quick = process.argv.includes('--quick');
  const { figures, table: text } = await detectionFigures({
    ...(quick ? { agents: 5, rounds: 1 } : {}),
    log: (s) => {
      if (!json) console.error(s);
    },
  });
  if (json) report(figures, true);
  else {
    console.log(text);
    console.log('');
    report(figures, false);
  }
}
