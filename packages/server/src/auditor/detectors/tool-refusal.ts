// Refused tool calls: a call of a tool the agent's tools: policy does not list, or with arguments
// outside its constraints (a path out of its root, a URL to the metadata service). An honest agent
// calls what its manifest says it may; one such refusal is worth an alert (DESIGN §11), so the
// default threshold is one.
import { z } from 'zod';
import { sumBy, windowEnd, windowStart } from './types.js';
import type { DetectorInput, Finding } from './types.js';
import { counts, num, plural, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'tool_refusal';

export const TOOL_REFUSAL_REASONS = ['tool_not_allowed', 'argument_refused'];

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(10),
  minRefused: z.number().int().min(1).default(1),
});
export type ToolRefusalConfig = z.infer<typeof schema>;

/** Its window. */
export const lookbackMinutes = (cfg: ToolRefusalConfig): number => cfg.windowMinutes;

export function detect(input: DetectorInput, cfg: ToolRefusalConfig): Finding[] {
  if (!cfg.enabled) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const hit = (r: { verdict: string; reason: string }) => r.verdict === 'rejected' && TOOL_REFUSAL_REASONS.includes(r.reason);
  const per = sumBy(input.minutes, from, to, (r) => (hit(r) ? r.sender : undefined));
  const out: Finding[] = [];
  for (const [sender, n] of per) {
    if (n < cfg.minRefused) continue;
    const byReason = Object.fromEntries(sumBy(input.minutes, from, to, (r) => (hit(r) && r.sender === sender ? r.reason : undefined)));
    out.push({ rule, agents: [sender], windowStart: from, windowEnd: to, severity: 'high', evidence: { refused: n, by_reason: byReason, threshold: cfg.minRefused }, key: `${rule}:${sender}` });
  }
  return out;
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
  const who = a.agents[0];
  return who ? { where: `verdict = 'rejected' AND reason IN {reasons:Array(String)}`, params: { reasons: TOOL_REFUSAL_REASONS }, from: `tool calls of ${who} refused by its policy in the alert's window`, senders: [who] } : undefined;
}
