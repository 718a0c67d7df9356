// Fan-out: one sender reaching many distinct destinations within a (long) window, well above
// the number it reached in the same length of time before. Catches slow exfiltration that
// never trips a rate rule: a few messages each to many recipients or topics.
import { z } from 'zod';
import { MINUTE_MS, windowEnd, windowStart } from './types.js';
import type { DetectorInput, Finding, MinuteCount } from './types.js';
import { newDestinationsEvidence, num, plural, strs, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'fan_out';

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 1440)
    .default(60),
  /** Distinct destinations in the window at or above which it may fire... */
  minDistinct: z.number().int().min(2).default(8),
  /** ...if that is also at least factor × the distinct destinations of the previous window. */
  factor: z.number().min(1).default(2),
  /**
   * A sender with no traffic at all before the window (a new agent, or a store that was empty
   * until now) has no baseline to compare with; it must reach coldStartFactor × minDistinct.
   * Without this, every agent of a freshly started bus looks like a fan-out in its first hour.
   */
  coldStartFactor: z.number().min(1).default(3),
});
export type FanOutConfig = z.infer<typeof schema>;

/** The window and the previous window of the same length. */
export const lookbackMinutes = (cfg: FanOutConfig): number => 2 * cfg.windowMinutes;

function distinct(rows: MinuteCount[], from: number, to: number): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    if (r.minute < from || r.minute >= to || r.destination === '' || r.verdict === 'duplicate') continue;
    let s = out.get(r.sender);
    if (!s) out.set(r.sender, (s = new Set()));
    s.add(r.destination);
  }
  return out;
}

function hasHistory(rows: MinuteCount[], sender: string, before: number): boolean {
  for (const r of rows) if (r.sender === sender && r.minute < before) return true;
  return false;
}

export function detect(input: DetectorInput, cfg: FanOutConfig): Finding[] {
  if (!cfg.enabled) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const now = distinct(input.minutes, from, to);
  const before = distinct(input.minutes, from - cfg.windowMinutes * MINUTE_MS, from);
  const out: Finding[] = [];
  for (const [sender, dests] of now) {
    if (dests.size < cfg.minDistinct) continue;
    const prev = before.get(sender) ?? new Set<string>();
    if (!hasHistory(input.minutes, sender, from) && dests.size < cfg.coldStartFactor * cfg.minDistinct) continue;
    if (dests.size < cfg.factor * Math.max(prev.size, 1)) continue;
    const fresh = [...dests].filter((d) => !prev.has(d)).sort();
    out.push({
      rule,
      agents: [sender],
      windowStart: from,
      windowEnd: to,
      severity: dests.size >= 3 * cfg.minDistinct ? 'high' : 'medium',
      evidence: { distinct_destinations: dests.size, previous_window_distinct: prev.size, new_destinations: fresh.slice(0, 50), threshold: cfg.minDistinct },
      key: `${rule}:${sender}`,
    });
  }
  return out;
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const n = num(ev['distinct_destinations']);
  if (n === undefined) return undefined;
  const prev = num(ev['previous_window_distinct']);
  return `${who} reached ${plural(n, 'distinct destination')} in ${dur}${prev === undefined ? '' : `, against ${prev} in the ${dur} before`}${threshold(ev)}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView, ev: Record<string, unknown>): EvidenceQuery | undefined {
  return newDestinationsEvidence(a, strs(ev['new_destinations']));
}
