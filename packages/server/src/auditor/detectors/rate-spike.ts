// Rate spikes against the agent's own baseline: messages in the window compared with the
// sender's mean per window over the baseline period before it. The baseline only counts time
// since the sender was first seen, so a new agent is not measured against minutes it did not
// exist; an agent with less history than minHistoryMinutes is not judged.
import { z } from 'zod';
import { MINUTE_MS, sumBy, windowEnd, windowStart } from './types.js';
import type { DetectorInput, Finding } from './types.js';
import { num, plural } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'rate_spike';

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(5),
  baselineMinutes: z
    .number()
    .int()
    .min(5)
    .max(7 * 1440)
    .default(60),
  /** Fires when the window count is at least factor × the baseline mean per window... */
  factor: z.number().min(1).default(5),
  /** ...and at least this many messages (quiet agents doubling is not a spike). */
  minEvents: z.number().int().min(1).default(50),
  minHistoryMinutes: z.number().int().min(1).default(30),
});
export type RateSpikeConfig = z.infer<typeof schema>;

/** The window and the baseline period before it. */
export const lookbackMinutes = (cfg: RateSpikeConfig): number => cfg.windowMinutes + cfg.baselineMinutes;

export function detect(input: DetectorInput, cfg: RateSpikeConfig): Finding[] {
  if (!cfg.enabled) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const baseFrom = from - cfg.baselineMinutes * MINUTE_MS;
  const notDup = (r: { verdict: string; sender: string }) => (r.verdict === 'duplicate' ? undefined : r.sender);
  const current = sumBy(input.minutes, from, to, notDup);
  const base = sumBy(input.minutes, baseFrom, from, notDup);
  const out: Finding[] = [];
  for (const [sender, n] of current) {
    if (n < cfg.minEvents) continue;
    const first = input.senderFirstSeen.get(sender);
    if (first === undefined) continue;
    const firstMinute = Math.floor(first / MINUTE_MS) * MINUTE_MS;
    const historyMinutes = (from - Math.max(baseFrom, firstMinute)) / MINUTE_MS;
    if (historyMinutes < cfg.minHistoryMinutes) continue;
    const baseCount = base.get(sender) ?? 0;
    const meanPerWindow = (baseCount / historyMinutes) * cfg.windowMinutes;
    if (n < cfg.factor * Math.max(meanPerWindow, 1)) continue;
    const ratio = n / Math.max(meanPerWindow, 1);
    out.push({
      rule,
      agents: [sender],
      windowStart: from,
      windowEnd: to,
      severity: ratio >= 4 * cfg.factor ? 'high' : 'medium',
      evidence: {
        events: n,
        baseline_mean_per_window: Number(meanPerWindow.toFixed(2)),
        baseline_minutes: historyMinutes,
        ratio: Number(ratio.toFixed(2)),
        factor: cfg.factor,
      },
      key: `${rule}:${sender}`,
    });
  }
  return out;
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const n = num(ev['events']);
  if (n === undefined) return undefined;
  const mean = num(ev['baseline_mean_per_window']);
  const ratio = num(ev['ratio']);
  const base = num(ev['baseline_minutes']);
  const factor = num(ev['factor']);
  const usual =
    ratio === undefined
      ? ''
      : `, ${ratio}× its usual${mean === undefined ? '' : ` ${mean} per ${dur}`}${base === undefined ? '' : ` over the ${base} min before`}`;
  return `${who} sent ${plural(n, 'message')} in ${dur}${usual}${factor === undefined ? '' : ` (fires at ${factor}×)`}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView): EvidenceQuery | undefined {
  const who = a.agents[0];
  return who ? { where: `verdict != 'duplicate'`, params: {}, from: `messages of ${who} in the alert's window`, senders: [who] } : undefined;
}
