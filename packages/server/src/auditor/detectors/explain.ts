// What the report (and an alert's reader) needs from a detector besides its findings: one
// sentence that says what happened, and which raw audit rows the alert is about. Each detector
// file exports its own `describe` and `evidence`; these are the shared helpers.

/** An alert as the report reads it. */
export interface AlertView {
  rule: string;
  severity: string;
  agents: string[];
  /** ISO 8601 */
  window_start: string;
  window_end: string;
  evidence: unknown;
}

/** The raw rows an alert is about: a filter over audit_events in the alert's window, for these senders. */
export interface EvidenceQuery {
  where: string;
  params: Record<string, unknown>;
  from: string;
  senders: string[];
}

/** A duration for a sentence: '45 s', '5 min', '90 min', '2 h', '1.5 s'. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'an unknown time';
  if (ms < 60_000) return `${Math.round(ms / 100) / 10} s`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  return `${Math.round(ms / 6000) / 10} min`;
}

export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
export const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
export const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** 'a', 'a and b', 'a, b and c', 'a, b, c and 4 more' */
export function list(items: string[], max = 3): string {
  if (items.length <= 1) return items[0] ?? '';
  if (items.length > max) return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
/** 'destination_not_allowed 4, bad_signature 2' from { reason: count }, largest first. */
export function counts(v: unknown, max = 3): string {
  const o = obj(v);
  if (!o) return '';
  const e = Object.entries(o)
    .flatMap(([k, n]) => (num(n) === undefined ? [] : [[k, n as number] as const]))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return (
    e
      .slice(0, max)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') + (e.length > max ? `, +${e.length - max} more` : '')
  );
}
export const threshold = (ev: Record<string, unknown>) => (num(ev['threshold']) === undefined ? '' : ` (threshold ${ev['threshold'] as number})`);

/** The evidence of an alert about the destinations a sender (the alert's first agent) is new to: its messages to `dests` (none named: to any destination) in the alert's window. */
export function newDestinationsEvidence(a: AlertView, dests: string[]): EvidenceQuery | undefined {
  const who = a.agents[0];
  if (!who) return undefined;
  if (dests.length === 0)
    return { where: `verdict != 'duplicate' AND destination != ''`, params: {}, from: `messages of ${who} in the alert's window`, senders: [who] };
  return {
    where: `verdict != 'duplicate' AND destination IN {dests:Array(String)}`,
    params: { dests },
    from: `messages of ${who} to the new ${dests.length === 1 ? 'destination' : 'destinations'} in the alert's window`,
    senders: [who],
  };
}
