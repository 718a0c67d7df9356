// What the detectors see: per-minute aggregates read from the store (never raw rows), and
// what they return. Detectors are pure functions of (DetectorInput, their config): no I/O,
// no clock — `now` is part of the input, so simulations run on simulated time.

export const MINUTE_MS = 60_000;

/** One row of the per-minute aggregate: distinct audit events in that minute and group. */
export interface MinuteCount {
  /** Start of the minute, ms since the epoch (UTC). */
  minute: number;
  sender: string;
  /** The recipient agent id, or `topic:<name>`; '' when the header did not decode. */
  destination: string;
  verdict: string;
  /** '' for accepted and duplicate rows. */
  reason: string;
  events: number;
}

/** A (sender, destination) pair and when it was first seen in the whole retained history. */
export interface EdgeFirstSeen {
  sender: string;
  destination: string;
  firstSeen: number;
  events: number;
  rejected: number;
}

/** A payload hash seen in the loop window, with how often and by whom. */
export interface PayloadRepeat {
  payloadSha256: string;
  events: number;
  senders: string[];
  destinations: string[];
  firstSeen: number;
  lastSeen: number;
}

/** One accepted message of a causal chain (detectors/payload-loop.ts): raw rows, few of them. */
export interface CausalLink {
  msgId: string;
  /** '' for a root. */
  causationId: string;
  sender: string;
  destination: string;
  type: string;
  /** '' when the row has none (then `type` stands for the payload). */
  payloadSha256: string;
  time: number;
}

/** Minutes per bucket of `DetectorInput.buckets`. */
export const BUCKET_MINUTES = 10;

export interface DetectorInput {
  /** Evaluation time (ms). Windows end here. */
  now: number;
  /** Per-minute counts covering at least the longest lookback any detector needs. */
  minutes: MinuteCount[];
  /** Edges first seen within the widest `inputs().edgesMinutes` of any detector; [] if none asks. */
  edges: EdgeFirstSeen[];
  /** Payload hashes repeated within the `inputs().payloads` window (see plugin.ts); [] if none asks. */
  payloads: PayloadRepeat[];
  /**
   * Accepted messages that are part of a causal chain (a causation id, or the cause of one)
   * within the `inputs().causalMinutes` window and whose payload occurs at least twice there;
   * [] if no detector asks.
   */
  links: CausalLink[];
  /**
   * Counts per BUCKET_MINUTES bucket over the `inputs().longMinutes` look-back (hours), by sender,
   * verdict and reason; `destination` is kept for rejected rows only (else ''). [] if none asks.
   */
  buckets: MinuteCount[];
  /**
   * Monitor mode (docs/design.md §18): per minute, the messages delivered although policy refuses
   * them, `reason` the would-refuse reason (verdict `accepted`), over the same window as
   * `minutes`. Absent or [] when there are none.
   */
  wouldRefuse?: MinuteCount[];
  /** When each sender was first seen (whole history). */
  senderFirstSeen: Map<string, number>;
  /** Earliest event in the store: the start of the learning period; undefined when empty. */
  dataStart: number | undefined;
}

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface Finding {
  rule: string;
  /** The agent(s) concerned, the suspect first. */
  agents: string[];
  windowStart: number;
  windowEnd: number;
  severity: Severity;
  evidence: Record<string, unknown>;
  /** Dedup key: the same key is alerted at most once per cooldown. */
  key: string;
}

/** Start of the window of `minutes` minutes ending at `now` (the current minute included). */
export function windowStart(now: number, minutes: number): number {
  return Math.floor(now / MINUTE_MS) * MINUTE_MS - (minutes - 1) * MINUTE_MS;
}

/** Sum `events` per key over rows in [from, to) accepted by `pick`. */
export function sumBy(rows: MinuteCount[], from: number, to: number, key: (r: MinuteCount) => string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) {
    if (r.minute < from || r.minute >= to) continue;
    const k = key(r);
    if (k === undefined) continue;
    out.set(k, (out.get(k) ?? 0) + r.events);
  }
  return out;
}

/** Exclusive end of every window: the end of the current minute. */
export function windowEnd(now: number): number {
  return Math.floor(now / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
}
