// First-seen communication edges: a (sender, destination) pair never seen before in the
// retained history, attempted after the learning period. Rejected attempts count too — an
// agent probing recipients outside its manifest is exactly what this is for, and such
// findings are rated higher. One finding per sender per evaluation, listing the new edges.
import { z } from 'zod';
import { MINUTE_MS, windowEnd, windowStart } from './types.js';
import type { InputRequest } from './plugin.js';
import type { DetectorInput, Finding } from './types.js';
import { list, newDestinationsEvidence, num, obj, plural } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'new_edge';

export const schema = z.object({
  enabled: z.boolean().default(true),
  /** Edges first seen within this window are reported. */
  windowMinutes: z.number().int().min(1).max(1440).default(5),
  /** Nothing is new while the store holds less history than this. */
  learningMinutes: z.number().int().min(0).default(60),
  /** Ignore senders first seen less than this long ago (their every edge is new). */
  minSenderAgeMinutes: z.number().int().min(0).default(0),
});
export type NewEdgeConfig = z.infer<typeof schema>;

/** Its window (edges come from `inputs`, over the whole retained history). */
export const lookbackMinutes = (cfg: NewEdgeConfig): number => cfg.windowMinutes;

export const inputs = (cfg: NewEdgeConfig): InputRequest => ({ edgesMinutes: cfg.windowMinutes });

export function detect(input: DetectorInput, cfg: NewEdgeConfig): Finding[] {
  if (!cfg.enabled || input.dataStart === undefined) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const learnedAt = input.dataStart + cfg.learningMinutes * MINUTE_MS;
  const bySender = new Map<string, { destination: string; first_seen: string; events: number; rejected: number }[]>();
  for (const e of input.edges) {
    if (e.destination === '' || e.firstSeen < from || e.firstSeen >= to || e.firstSeen < learnedAt) continue;
    const senderFirst = input.senderFirstSeen.get(e.sender) ?? e.firstSeen;
    if (e.firstSeen - senderFirst < cfg.minSenderAgeMinutes * MINUTE_MS) continue;
    const list = bySender.get(e.sender) ?? [];
    list.push({ destination: e.destination, first_seen: new Date(e.firstSeen).toISOString(), events: e.events, rejected: e.rejected });
    bySender.set(e.sender, list);
  }
  const out: Finding[] = [];
  for (const [sender, edges] of bySender) {
    edges.sort((a, b) => (a.destination < b.destination ? -1 : 1));
    const rejected = edges.reduce((s, e) => s + e.rejected, 0);
    out.push({
      rule,
      agents: [sender, ...edges.map((e) => e.destination).filter((d) => !d.startsWith('topic:'))],
      windowStart: from,
      windowEnd: to,
      severity: rejected > 0 ? 'medium' : 'low',
      evidence: { new_edges: edges, rejected },
      key: `${rule}:${sender}:${edges.map((e) => e.destination).join(',')}`,
    });
  }
  return out;
}

const newDestinations = (ev: Record<string, unknown>): string[] =>
  Array.isArray(ev['new_edges']) ? ev['new_edges'].map((e) => obj(e)?.['destination']).filter((d): d is string => typeof d === 'string') : [];

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const edges = newDestinations(ev);
  if (edges.length === 0) return undefined;
  const rej = num(ev['rejected']);
  return `${who} sent to ${edges.length === 1 ? 'a destination' : `${edges.length} destinations`} it had never sent to before, ${list(edges)}, in ${dur}${rej ? ` (${plural(rej, 'attempt')} rejected)` : ''}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView, ev: Record<string, unknown>): EvidenceQuery | undefined {
  return newDestinationsEvidence(a, newDestinations(ev));
}
