// Memory requests outside the agent's grants (docs/design.md §13): another agent's namespace, a shared
// one it may not write. Shared-memory pollution is how one compromised agent poisons the others;
// one attempt is worth an alert.
import { z } from 'zod';
import type { DetectorInput, Finding } from './types.js';
import { counts, num, plural, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';
import { reasonCountEvidence, reasonCountFindings } from './reason-count.js';
import type { ReasonCount } from './reason-count.js';

export const rule = 'memory_refusal';
/** A threshold rule: also run every few seconds over the open minute (plugin.ts `thresholdRule`). */
export const thresholdRule = true;

export const MEMORY_REFUSAL_REASONS = ['memory_not_allowed'];

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(10),
  minRefused: z.number().int().min(1).default(1),
});
export type MemoryRefusalConfig = z.infer<typeof schema>;

/** Its window. */
export const lookbackMinutes = (cfg: MemoryRefusalConfig): number => cfg.windowMinutes;

const COUNT: ReasonCount = { rule, reasons: MEMORY_REFUSAL_REASONS, rejectedOnly: true, countKey: 'refused' };

export function detect(input: DetectorInput, cfg: MemoryRefusalConfig): Finding[] {
  return cfg.enabled ? reasonCountFindings(input, COUNT, cfg.windowMinutes, cfg.minRefused) : [];
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const n = num(ev['refused']);
  if (n === undefined) return undefined;
  const why = counts(ev['by_reason']);
  return `${who} had ${plural(n, 'memory request')} outside its memory: grants refused in ${dur}${threshold(ev)}${why ? ` — ${why}` : ''}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView): EvidenceQuery | undefined {
  return reasonCountEvidence(a, COUNT, (who) => `memory requests of ${who} outside its grants in the alert's window`);
}
