// Content guards (docs/design.md §12): a message from one agent with hidden instructions (tag
// characters, bidi controls, zero-width text), control characters or a credential — rejected, or
// delivered and flagged. Honest agents send neither; one is worth an alert (the flagged ones are
// how a `flag` policy alerts).
import { z } from 'zod';
import type { DetectorInput, Finding } from './types.js';
import { counts, num, plural, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';
import { reasonCountEvidence, reasonCountFindings } from './reason-count.js';
import type { ReasonCount } from './reason-count.js';

export const rule = 'content_guard';
/** A threshold rule: also run every few seconds over the open minute (plugin.ts `thresholdRule`). */
export const thresholdRule = true;

export const GUARD_REASONS = ['credential_detected', 'invisible_text', 'control_chars'];

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(10),
  minFindings: z.number().int().min(1).default(1),
});
export type ContentGuardConfig = z.infer<typeof schema>;

/** Its window. */
export const lookbackMinutes = (cfg: ContentGuardConfig): number => cfg.windowMinutes;

const COUNT: ReasonCount = { rule, reasons: GUARD_REASONS, rejectedOnly: false, countKey: 'findings' };

export function detect(input: DetectorInput, cfg: ContentGuardConfig): Finding[] {
  return cfg.enabled ? reasonCountFindings(input, COUNT, cfg.windowMinutes, cfg.minFindings) : [];
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
  return reasonCountEvidence(a, COUNT, (who) => `messages of ${who} the content guards found something in in the alert's window`);
}
