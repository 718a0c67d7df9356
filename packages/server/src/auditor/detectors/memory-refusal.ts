// Memory requests outside the agent's grants (DESIGN §13): another agent's namespace, a shared
// one it may not write. Shared-memory pollution is how one compromised agent poisons the others;
// one attempt is worth an alert.
import { z } from 'zod';
import { sumBy, windowEnd, windowStart } from './types.js';
import type { DetectorInput, Finding } from './types.js';
import { counts, num, plural, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'memory_refusal';

export const MEMORY_REFUSAL_REASONS = ['memory_not_allowed'];

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(10),
  minRefused: z.number().int().min(1).default(1),
});
export type MemoryRefusalConfig = z.infer<typeof schema>;

/** Its window. */
export const lookbackMinutes = (cfg: MemoryRefusalConfig): number => cfg.windowMinutes;

export function detect(input: DetectorInput, cfg: MemoryRefusalConfig): Finding[] {
  if (!cfg.enabled) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const hit = (r: { verdict: string; reason: string }) => r.verdict === 'rejected' && MEMORY_REFUSAL_REASONS.includes(r.reason);
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
  return `${who} had ${plural(n, 'memory request')} outside its memory: grants refused in ${dur}${threshold(ev)}${why ? ` — ${why}` : ''}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView): EvidenceQuery | undefined {
  const who = a.agents[0];
  return who ? { where: `verdict = 'rejected' AND reason IN {reasons:Array(String)}`, params: { reasons: MEMORY_REFUSAL_REASONS }, from: `memory requests of ${who} outside its grants in the alert's window`, senders: [who] } : undefined;
}
