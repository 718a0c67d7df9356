// Content guards (DESIGN §12): a message from one agent with hidden instructions (tag
// characters, bidi controls, zero-width text), control characters or a credential — rejected, or
// delivered and flagged. Honest agents send neither; one is worth an alert (the flagged ones are
// how a `flag` policy alerts).
import { z } from 'zod';
import { sumBy, windowEnd, windowStart } from './types.js';
import type { DetectorInput, Finding } from './types.js';
import { counts, num, plural, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'content_guard';

export const GUARD_REASONS = ['credential_detected', 'invisible_text', 'control_chars'];

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(10),
  minFindings: z.number().int().min(1).default(1),
});
export type ContentGuardConfig = z.infer<typeof schema>;

/** Its window. */
export const lookbackMinutes = (cfg: ContentGuardConfig): number => cfg.windowMinutes;

export function detect(input: DetectorInput, cfg: ContentGuardConfig): Finding[] {
  if (!cfg.enabled) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const hit = (r: { verdict: string; reason: string }) => GUARD_REASONS.includes(r.reason);
  const per = sumBy(input.minutes, from, to, (r) => (hit(r) ? r.sender : undefined));
  const out: Finding[] = [];
  for (const [sender, n] of per) {
    if (n < cfg.minFindings) continue;
    const byReason = Object.fromEntries(sumBy(input.minutes, from, to, (r) => (hit(r) && r.sender === sender ? r.reason : undefined)));
    out.push({ rule, agents: [sender], windowStart: from, windowEnd: to, severity: 'high', evidence: { findings: n, by_reason: byReason, threshold: cfg.minFindings }, key: `${rule}:${sender}` });
  }
  return out;
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const n = num(ev['findings']);
  if (n === undefined) return undefined;
  const why = counts(ev['by_reason']);
  return `${who} had ${plural(n, 'message')} stopped or flagged by the content guards in ${dur}${threshold(ev)}${why ? ` — ${why}` : ''}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView): EvidenceQuery | undefined {
  const who = a.agents[0];
  return who ? { where: `reason IN {reasons:Array(String)}`, params: { reasons: GUARD_REASONS }, from: `messages of ${who} the content guards found something in in the alert's window`, senders: [who] } : undefined;
}
