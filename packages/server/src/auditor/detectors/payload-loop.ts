// Repeating payload hashes (loops): the same payload bytes (by SHA-256) accepted many times
// within a short window — agents bouncing one message back and forth, or one agent stuck
// re-sending. Client retries (verdict duplicate) are not counted: they are the same envelope.
import { z } from 'zod';
import { windowEnd, windowStart } from './types.js';
import type { InputRequest } from './plugin.js';
import type { DetectorInput, Finding } from './types.js';
import { list, num, plural, strs, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'payload_loop';

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(5),
  /** Copies of one payload in the window at or above which it fires. */
  minRepeats: z.number().int().min(2).default(20),
});
export type PayloadLoopConfig = z.infer<typeof schema>;

/** Its window (payload counts come from `inputs`). */
export const lookbackMinutes = (cfg: PayloadLoopConfig): number => cfg.windowMinutes;

export const inputs = (cfg: PayloadLoopConfig): InputRequest => ({ payloads: { windowMinutes: cfg.windowMinutes, minRepeats: cfg.minRepeats } });

export function detect(input: DetectorInput, cfg: PayloadLoopConfig): Finding[] {
  if (!cfg.enabled) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const out: Finding[] = [];
  for (const p of input.payloads) {
    if (p.events < cfg.minRepeats || p.lastSeen < from || p.firstSeen >= to) continue;
    out.push({
      rule,
      agents: [...p.senders].sort(),
      windowStart: from,
      windowEnd: to,
      severity: p.events >= 5 * cfg.minRepeats ? 'high' : 'medium',
      evidence: {
        payload_sha256: p.payloadSha256,
        repeats: p.events,
        senders: [...p.senders].sort(),
        destinations: [...p.destinations].sort(),
        threshold: cfg.minRepeats,
      },
      key: `${rule}:${p.payloadSha256}`,
    });
  }
  return out;
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(_who: string, ev: Record<string, unknown>, dur: string, a: AlertView): string | undefined {
  const n = num(ev['repeats']);
  if (n === undefined) return undefined;
  const sha = typeof ev['payload_sha256'] === 'string' ? ev['payload_sha256'] : '';
  const senders = strs(ev['senders']).length ? strs(ev['senders']) : a.agents;
  const dests = strs(ev['destinations']);
  return `The same payload${sha ? ` (sha256 ${sha.slice(0, 12)}…)` : ''} was accepted ${plural(n, 'time')} in ${dur}${senders.length ? `, sent by ${list(senders)}` : ''}${dests.length ? ` to ${list(dests)}` : ''}${threshold(ev)}`;
}

/** The raw rows the alert counted: the accepted copies of the payload. */
export function evidence(a: AlertView, ev: Record<string, unknown>): EvidenceQuery | undefined {
  const sha = typeof ev['payload_sha256'] === 'string' ? ev['payload_sha256'] : '';
  if (!sha) return undefined;
  const senders = strs(ev['senders']).length ? strs(ev['senders']) : a.agents;
  return { where: `verdict = 'accepted' AND payload_sha256 = {sha:String}`, params: { sha }, from: `accepted copies of the payload in the alert's window`, senders };
}
