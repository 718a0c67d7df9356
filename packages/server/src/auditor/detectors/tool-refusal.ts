// Refused tool calls: a call of a tool the agent's tools: policy does not list, or with arguments
// outside its constraints (a path out of its root, a URL to the metadata service). An honest agent
// calls what its manifest says it may; one such refusal is worth an alert (docs/design.md §11), so the
// default threshold is one.
import { z } from 'zod';
import type { DetectorInput, Finding } from './types.js';
import { counts, num, plural, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';
import { reasonCountEvidence, reasonCountFindings } from './reason-count.js';
import type { ReasonCount } from './reason-count.js';

export const rule = 'tool_refusal';
/** A threshold rule: also run every few seconds over the open minute (plugin.ts `thresholdRule`). */
export const thresholdRule = true;

export const TOOL_REFUSAL_REASONS = ['tool_not_allowed', 'argument_refused'];

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(10),
  minRefused: z.number().int().min(1).default(1),
});
export type ToolRefusalConfig = z.infer<typeof schema>;

/** Its window. */
export const lookbackMinutes = (cfg: ToolRefusalConfig): number => cfg.windowMinutes;

const COUNT: ReasonCount = { rule, reasons: TOOL_REFUSAL_REASONS, rejectedOnly: true, countKey: 'refused' };

export function detect(input: DetectorInput, cfg: ToolRefusalConfig): Finding[] {
  return cfg.enabled ? reasonCountFindings(input, COUNT, cfg.windowMinutes, cfg.minRefused) : [];
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const n = num(ev['refused']);
  if (n === undefined) return undefined;
  const why = counts(ev['by_reason']);
  return `${who} had ${plural(n, 'tool call')} refused by its tools: policy in ${dur}${threshold(ev)}${why ? ` — ${why}` : ''}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView): EvidenceQuery | undefined {
  return reasonCountEvidence(a, COUNT, (who) => `tool calls of ${who} refused by its policy in the alert's window`);
}
