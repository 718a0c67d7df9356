// Rejection bursts: one sender gets many rejections, and a large share of its traffic is
// rejected, within a short window. Catches probing (out-of-scope recipients or types), broken
// or compromised agents hammering the bus.
import { z } from 'zod';
import { sumBy, windowEnd, windowStart } from './types.js';
import type { DetectorInput, Finding } from './types.js';
import { counts, num, plural, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'rejection_burst';
/** A threshold rule: also run every few seconds over the open minute (plugin.ts `thresholdRule`). */
export const thresholdRule = true;

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(5),
  /** Rejections in the window at or above which it fires. */
  minRejected: z.number().int().min(1).default(20),
  /** And at least this share of the sender's messages in the window were rejected. */
  minRatio: z.number().min(0).max(1).default(0.5),
});
export type RejectionBurstConfig = z.infer<typeof schema>;

/** Its window. */
export const lookbackMinutes = (cfg: RejectionBurstConfig): number => cfg.windowMinutes;

export function detect(input: DetectorInput, cfg: RejectionBurstConfig): Finding[] {
  if (!cfg.enabled) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const total = sumBy(input.minutes, from, to, (r) => (r.verdict === 'duplicate' ? undefined : r.sender));
  const rejected = sumBy(input.minutes, from, to, (r) => (r.verdict === 'rejected' ? r.sender : undefined));
  const out: Finding[] = [];
  for (const [sender, n] of rejected) {
    const all = total.get(sender) ?? n;
    const ratio = all === 0 ? 1 : n / all;
    if (n < cfg.minRejected || ratio < cfg.minRatio) continue;
    const byReason = Object.fromEntries(sumBy(input.minutes, from, to, (r) => (r.verdict === 'rejected' && r.sender === sender ? r.reason : undefined)));
    const byDestination = Object.fromEntries(
      sumBy(input.minutes, from, to, (r) => (r.verdict === 'rejected' && r.sender === sender ? r.destination : undefined)),
    );
    out.push({
      rule,
      agents: [sender],
      windowStart: from,
      windowEnd: to,
      severity: n >= 5 * cfg.minRejected ? 'high' : 'medium',
      evidence: { rejected: n, total: all, ratio: Number(ratio.toFixed(3)), by_reason: byReason, by_destination: byDestination, threshold: cfg.minRejected },
      key: `${rule}:${sender}`,
    });
  }
  return out;
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const n = num(ev['rejected']);
  if (n === undefined) return undefined;
  const total = num(ev['total']);
  const why = counts(ev['by_reason']);
  return `${who} had ${total === undefined ? plural(n, 'message') : `${n} of ${plural(total, 'message')}`} rejected in ${dur}${threshold(ev)}${why ? ` — ${why}` : ''}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView): EvidenceQuery | undefined {
  const who = a.agents[0];
  return who ? { where: `verdict = 'rejected'`, params: {}, from: `rejected messages of ${who} in the alert's window`, senders: [who] } : undefined;
}
