// Shared by the detectors that alert on the first few rows of some reasons (refused tool calls,
// memory out of grant, content-guard findings): per sender, the matching rows in the window, and the filter that
// finds those rows again for the alert's evidence.
import { sumBy, windowEnd, windowStart } from './types.js';
import type { DetectorInput, Finding, MinuteCount } from './types.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export interface ReasonCount {
  rule: string;
  reasons: readonly string[];
  /** Only rejected rows (false: any verdict — a flagged message is accepted with its reason). */
  rejectedOnly: boolean;
  /** The evidence key of the count (`refused`, `findings`). */
  countKey: string;
}

/**
 * One high-severity finding per sender with at least `min` matching rows in the window. Messages
 * monitor mode delivered with one of the reasons as would-refuse (docs/design.md §18) count too:
 * the evidence then says how many (`would_refuse`) and `mode` (`monitor` when all were, `mixed`).
 */
export function reasonCountFindings(input: DetectorInput, d: ReasonCount, windowMinutes: number, min: number): Finding[] {
  const from = windowStart(input.now, windowMinutes);
  const to = windowEnd(input.now);
  const hit = (r: MinuteCount) => (!d.rejectedOnly || r.verdict === 'rejected') && d.reasons.includes(r.reason);
  const would = input.wouldRefuse ?? [];
  const wouldHit = (r: MinuteCount) => d.reasons.includes(r.reason);
  const per = sumBy(input.minutes, from, to, (r) => (hit(r) ? r.sender : undefined));
  const perWould = sumBy(would, from, to, (r) => (wouldHit(r) ? r.sender : undefined));
  const out: Finding[] = [];
  for (const sender of new Set([...per.keys(), ...perWould.keys()])) {
    const w = perWould.get(sender) ?? 0;
    const n = (per.get(sender) ?? 0) + w;
    if (n < min) continue;
    const byReason = Object.fromEntries(sumBy(input.minutes, from, to, (r) => (hit(r) && r.sender === sender ? r.reason : undefined)));
    for (const [reason, k] of sumBy(would, from, to, (r) => (wouldHit(r) && r.sender === sender ? r.reason : undefined)))
      byReason[reason] = (byReason[reason] ?? 0) + k;
    out.push({
      rule: d.rule,
      agents: [sender],
      windowStart: from,
      windowEnd: to,
      severity: 'high',
      evidence: { [d.countKey]: n, by_reason: byReason, threshold: min, ...(w ? { would_refuse: w, mode: w === n ? 'monitor' : 'mixed' } : {}) },
      key: `${d.rule}:${sender}`,
    });
  }
  return out;
}

/** The raw rows such an alert counted; `what` says what they are, for its first agent. */
export function reasonCountEvidence(a: AlertView, d: ReasonCount, what: (who: string) => string): EvidenceQuery | undefined {
  const who = a.agents[0];
  if (!who) return undefined;
  return {
    where: `(${d.rejectedOnly ? "verdict = 'rejected' AND " : ''}reason IN {reasons:Array(String)}) OR would_refuse IN {reasons:Array(String)}`,
    params: { reasons: d.reasons },
    from: what(who),
    senders: [who],
  };
}
