// Slow probes (issue 18): an agent trying, again and again, what its manifest does not allow —
// recipients, types, topics, tools, arguments, memory — paced to stay under every per-minute
// threshold. Windows of hours (10-minute buckets), against the agent's own baseline: the same
// rejections in the day before the window, scaled to the window's length. An honest agent almost
// never meets a policy refusal, so a handful in an hour above its own usual is the signal; the
// shortest window that fires is reported.
import { z } from 'zod';
import { BUCKET_MINUTES, MINUTE_MS, windowEnd } from './types.js';
import type { InputRequest } from './plugin.js';
import type { DetectorInput, Finding } from './types.js';
import { counts, num, plural } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'policy_probe';

/** Rejections that mean "asked for something the manifest does not grant". */
export const PROBE_REASONS = [
  'destination_not_allowed',
  'type_not_allowed',
  'unknown_recipient',
  'unknown_type',
  'bad_reply_subject',
  'metadata_not_allowed',
  'bad_causation',
  'tool_not_allowed',
  'argument_refused',
  'memory_not_allowed',
];

const Window = z.strictObject({ minutes: z.number().int().min(BUCKET_MINUTES).max(10_080), minRejected: z.number().int().min(1) });

export const schema = z.object({
  enabled: z.boolean().default(true),
  reasons: z.array(z.string()).default(PROBE_REASONS),
  /** Each window fires at minRejected refusals (and above the baseline); shortest first. */
  windows: z
    .array(Window)
    .min(1)
    .default([
      { minutes: 60, minRejected: 6 },
      { minutes: 360, minRejected: 12 },
      { minutes: 1440, minRejected: 24 },
    ]),
  /** The agent's own history before the window that sets its baseline (minutes). */
  baselineMinutes: z.number().int().min(0).max(10_080).default(1440),
  /** The window's count must exceed this many times what the baseline predicts for it. */
  factor: z.number().min(1).default(3),
});
export type PolicyProbeConfig = z.infer<typeof schema>;

const longest = (cfg: PolicyProbeConfig) => Math.max(...cfg.windows.map((w) => w.minutes));

/** Its own bucketed input covers the hours; of the per-minute rows it needs only the current one. */
export const lookbackMinutes = (_cfg: PolicyProbeConfig): number => 1;

export const inputs = (cfg: PolicyProbeConfig): InputRequest => ({ longMinutes: longest(cfg) + cfg.baselineMinutes + BUCKET_MINUTES });

const BUCKET_MS = BUCKET_MINUTES * MINUTE_MS;

export function detect(input: DetectorInput, cfg: PolicyProbeConfig): Finding[] {
  if (!cfg.enabled || input.buckets.length === 0) return [];
  const reasons = new Set(cfg.reasons);
  const to = windowEnd(input.now);
  const current = Math.floor(input.now / BUCKET_MS) * BUCKET_MS;
  const windows = [...cfg.windows].sort((a, b) => a.minutes - b.minutes);
  const senders = new Set(input.buckets.filter((b) => b.verdict === 'rejected' && reasons.has(b.reason)).map((b) => b.sender));
  const out: Finding[] = [];
  for (const sender of senders) {
    const mine = input.buckets.filter((b) => b.sender === sender);
    const probes = mine.filter((b) => b.verdict === 'rejected' && reasons.has(b.reason));
    // still at it: a refusal in the current or the previous bucket (an old probe does not re-alert for a day)
    if (!probes.some((b) => b.minute >= current - BUCKET_MS)) continue;
    const first = input.senderFirstSeen.get(sender) ?? Math.min(...mine.map((b) => b.minute));
    for (const w of windows) {
      // the window: whole buckets ending with the current one
      const from = current - (Math.ceil(w.minutes / BUCKET_MINUTES) - 1) * BUCKET_MS;
      const inWin = probes.filter((b) => b.minute >= from);
      const n = inWin.reduce((s, b) => s + b.events, 0);
      if (n < w.minRejected) continue;
      // the baseline: the same refusals in the period before the window, over the time the agent existed
      const baseFrom = Math.max(from - cfg.baselineMinutes * MINUTE_MS, Math.floor(first / BUCKET_MS) * BUCKET_MS);
      const baseSpan = Math.max(0, from - baseFrom);
      const base = probes.filter((b) => b.minute >= baseFrom && b.minute < from).reduce((s, b) => s + b.events, 0);
      const expected = baseSpan > 0 ? (base * (to - from)) / baseSpan : 0;
      if (n <= cfg.factor * expected) continue;
      const total = mine.filter((b) => b.minute >= from && b.verdict !== 'duplicate').reduce((s, b) => s + b.events, 0);
      const sum = (key: 'reason' | 'destination') => {
        const m: Record<string, number> = {};
        for (const b of inWin) m[b[key] || '(none)'] = (m[b[key] || '(none)'] ?? 0) + b.events;
        return m;
      };
      out.push({
        rule,
        agents: [sender],
        windowStart: from,
        windowEnd: to,
        severity: n >= 4 * w.minRejected ? 'high' : 'medium',
        evidence: {
          rejected: n,
          total,
          ratio: Number((total ? n / total : 1).toFixed(3)),
          window_minutes: w.minutes,
          baseline_expected: Number(expected.toFixed(2)),
          baseline_minutes: Math.round(baseSpan / MINUTE_MS),
          by_reason: sum('reason'),
          by_destination: sum('destination'),
          threshold: w.minRejected,
        },
        key: `${rule}:${sender}`,
      });
      break;
    }
  }
  return out;
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const n = num(ev['rejected']);
  if (n === undefined) return undefined;
  const expected = num(ev['baseline_expected']);
  const why = counts(ev['by_reason']);
  const dests = counts(ev['by_destination']);
  return `${who} asked ${plural(n, 'time')} in ${dur} for what its manifest does not allow${expected !== undefined ? ` (its own baseline predicts ${expected})` : ''}${why ? ` — ${why}` : ''}${dests ? `; aimed at ${dests}` : ''}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView, ev: Record<string, unknown>): EvidenceQuery | undefined {
  const who = a.agents[0];
  const reasons = Object.keys((ev['by_reason'] as Record<string, number> | undefined) ?? {});
  return who
    ? {
        where: `verdict = 'rejected' AND reason IN {reasons:Array(String)}`,
        params: { reasons: reasons.length ? reasons : PROBE_REASONS },
        from: `policy refusals of ${who} in the alert's window`,
        senders: [who],
      }
    : undefined;
}
