// Signature and replay failures: rejections that mean "someone holds, or pretends to hold, a
// key": bad signatures, unknown/revoked/expired keys, header sender ≠ subject sender, replayed
// msg_ids, payload hash mismatches. Honest agents essentially never produce these, so the
// threshold is low.
import { z } from 'zod';
import { sumBy, windowEnd, windowStart } from './types.js';
import type { DetectorInput, Finding } from './types.js';
import { counts, list, num, obj, plural, threshold } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'signature_failure';
/** A threshold rule: also run every few seconds over the open minute (plugin.ts `thresholdRule`). */
export const thresholdRule = true;

export const DEFAULT_SIGNATURE_REASONS = ['bad_signature', 'unknown_key', 'revoked_key', 'expired_key', 'sender_mismatch', 'payload_hash_mismatch', 'replay'];

export const schema = z.object({
  enabled: z.boolean().default(true),
  windowMinutes: z.number().int().min(1).max(1440).default(5),
  minEvents: z.number().int().min(1).default(3),
  /**
   * A forgery (any of these reasons but replay) from a sender NATS authenticated fires at this
   * count, the first occurrence by default (issue 18: a patient attacker's one forged key every
   * few minutes must not wait out a threshold); replays alone need minEvents.
   */
  minForged: z.number().int().min(1).default(1),
  reasons: z.array(z.string()).default(DEFAULT_SIGNATURE_REASONS),
});
export type SignatureFailureConfig = z.infer<typeof schema>;

/** Its window. */
export const lookbackMinutes = (cfg: SignatureFailureConfig): number => cfg.windowMinutes;

export function detect(input: DetectorInput, cfg: SignatureFailureConfig): Finding[] {
  if (!cfg.enabled) return [];
  const reasons = new Set(cfg.reasons);
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  const hits = (r: { verdict: string; reason: string }) => r.verdict === 'rejected' && reasons.has(r.reason);
  const per = sumBy(input.minutes, from, to, (r) => (hits(r) ? r.sender : undefined));
  const out: Finding[] = [];
  for (const [sender, n] of per) {
    const byReason = Object.fromEntries(sumBy(input.minutes, from, to, (r) => (hits(r) && r.sender === sender ? r.reason : undefined)));
    const forgedN = Object.entries(byReason).reduce((a, [r, k]) => (r === 'replay' ? a : a + k), 0);
    if (n < cfg.minEvents && forgedN < cfg.minForged) continue;
    const forged = forgedN > 0;
    out.push({
      rule,
      agents: [sender],
      windowStart: from,
      windowEnd: to,
      severity: forged ? 'critical' : 'high',
      evidence: { failures: n, by_reason: byReason, threshold: forged ? cfg.minForged : cfg.minEvents },
      key: `${rule}:${sender}`,
    });
  }
  return out;
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(who: string, ev: Record<string, unknown>, dur: string): string | undefined {
  const n = num(ev['failures']);
  if (n === undefined) return undefined;
  const why = counts(ev['by_reason']);
  return `${who} had ${plural(n, 'message')} rejected for a signature, key or replay failure in ${dur}${threshold(ev)}${why ? ` — ${why}` : ''}`;
}

/** The raw rows the alert counted. */
export function evidence(a: AlertView, ev: Record<string, unknown>): EvidenceQuery | undefined {
  const who = a.agents[0];
  if (!who) return undefined;
  const reasons = Object.keys(obj(ev['by_reason']) ?? {});
  return {
    where: `verdict = 'rejected' AND reason IN {reasons:Array(String)}`,
    params: { reasons: reasons.length ? reasons : DEFAULT_SIGNATURE_REASONS },
    from: `messages of ${who} rejected for ${list(reasons.length ? reasons : ['signature, key or replay failures'])} in the alert's window`,
    senders: [who],
  };
}
