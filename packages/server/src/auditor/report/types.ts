// The report's data: what buildReportData (queries.ts) computes from the store, what the page
// (page.ts) renders as HTML and embeds as JSON, and what the page's script (client.ts) reads back
// and draws. Types only, with no import: client.ts is type-checked with the DOM library and
// without node's types (tsconfig.client.json), and reads these same declarations.

export interface ReportOptions {
  /** ms since the epoch (inclusive); default: 24 h before `until` */
  since?: number;
  /** ms since the epoch (exclusive); default: now */
  until?: number;
  /** at most this many edges, senders, reasons and alerts (default 500) */
  limit?: number;
  /** time chart: this many senders get their own series, the rest are summed (default 10) */
  maxSeries?: number;
  /** time chart: at most this many buckets; the bucket width is chosen from the run's span (default 60) */
  maxBuckets?: number;
  /** evidence msg_ids listed (and trailed) per alert (default 20) */
  maxEvidencePerAlert?: number;
  /** trails embedded in the page, all alerts together (default 500) */
  maxTrails?: number;
  /** rows per embedded trail (default 50) */
  maxTrailRows?: number;
  /** the --store the page's `agentbus audit trail` commands name (default: none, the store `agentbus audit trail` finds by itself) */
  store?: string;
  /** with no `store`: the --state-dir those commands name (default: none) */
  stateDir?: string;
}

export interface ReportNode {
  id: string;
  kind: 'agent' | 'topic';
  /** messages sent (all verdicts) */
  sent: number;
  /** of which rejected */
  rejected: number;
  /** messages addressed to it (all verdicts) */
  received: number;
}

export interface ReportEdge {
  from: string;
  to: string;
  total: number;
  accepted: number;
  rejected: number;
  first_seen: string;
  last_seen: string;
}

export interface ReportSeries {
  sender: string;
  total: number;
  counts: number[];
}

/** A sender's messages of the period, by verdict (the `audit top-talkers` report's row). */
export interface ReportTalker {
  sender: string;
  total: number;
  accepted: number;
  rejected: number;
  duplicate: number;
}

export interface ReportRejection {
  reason: string;
  count: number;
  senders: number;
  top_sender: string;
  /** the most frequent verifier details for this reason (verbatim: may contain anything) */
  details: string[];
}

export interface ReportAlert {
  alert_id: string;
  rule: string;
  severity: string;
  agents: string[];
  detected_at: string;
  window_start: string;
  window_end: string;
  evidence: unknown;
  /** one plain sentence: what happened (from rule, agents, window and evidence) */
  sentence: string;
  /** evidence messages, each with a trail in `trails` (at most maxEvidencePerAlert) */
  msg_ids: string[];
  /** how many evidence messages there are in all (≥ msg_ids.length) */
  msg_ids_total: number;
  /** which messages those are ('' when the alert names none) */
  msg_ids_from: string;
}

export interface ReportTrailRow {
  /** 'message' (a row of this msg_id: the attempt, duplicates, replays) or 'caused' (a message it caused) */
  relation: string;
  time: string;
  event_id: string;
  verdict: string;
  reason: string;
  sender: string;
  destination: string;
  type: string;
  msg_id: string;
  causation_id: string;
  depth: number;
}

export interface ReportTrail {
  msg_id: string;
  /** the alerts that name it as evidence */
  alert_ids: string[];
  /** its recipient refused it (listed in `refusals`) */
  refused: boolean;
  rows: ReportTrailRow[];
  /** more rows than maxTrailRows: `audit trail` shows them all */
  truncated: boolean;
}

/**
 * What became of the messages of the period. accepted = delivered + undelivered +
 * recipient_refused + unrecorded + broadcast; rejected + shed = the rejected count of `totals`.
 */
export interface ReportOutcomes {
  /** accepted by the verifier (events; a client retry is a duplicate, not counted here) */
  accepted: number;
  /** accepted direct messages whose recipient confirmed them (a `confirmed` delivery record) */
  delivered: number;
  /** accepted direct messages recorded `unconfirmed` (recipient not connected) and never confirmed */
  undelivered: number;
  /** accepted direct messages their recipient's client refused (could not verify or decode them) */
  recipient_refused: number;
  /** accepted direct messages with no delivery record (in flight, or the verifier stopped first) */
  unrecorded: number;
  /** accepted topic publications (at most once: nobody confirms them) */
  broadcast: number;
  /** rejected by the verifier after its checks */
  rejected: number;
  /** shed unverified past the sender's rejection budget (each shed message once) */
  shed: number;
  /** client retries of a message already accepted */
  duplicate: number;
}

/** An accepted message its recipient's client refused (and no recipient confirmed): the `recipient_refused` outcome, one by one. */
export interface ReportRefusal {
  msg_id: string;
  /** when the recipient refused it, ISO 8601 UTC */
  at: string;
  sender: string;
  recipient: string;
  type: string;
  /** the recipient's reason (e.g. unknown_type) and its detail (verbatim: may contain anything) */
  reason: string;
  detail: string;
  /** its trail is on the page (#trail-<msg_id>) */
  trail: boolean;
}

/**
 * The audit rows of the period and the messages they stand for. Each row is one message, but a
 * shed row stands for the `shed` messages it summarizes: messages = rows − shed_rows + shed,
 * the `messages` of `totals` and the sum of the outcomes.
 */
export interface ReportRows {
  rows: number;
  shed_rows: number;
  shed: number;
  messages: number;
}

export interface ReportData {
  version: 2;
  /** ISO 8601 UTC */
  generated_at: string;
  since: string;
  until: string;
  database: string;
  /** the --store named in the page's commands ('' when none: the store `agentbus audit trail` finds by itself) */
  store: string;
  /** with no store: the --state-dir named in the page's commands ('' when none) */
  state_dir: string;
  totals: { messages: number; accepted: number; rejected: number; duplicate: number; senders: number; edges: number; alerts: number };
  outcomes: ReportOutcomes;
  /** how the audit rows of the period add up to `totals.messages` */
  rows: ReportRows;
  /** the messages counted in `outcomes.recipient_refused`, the latest first (at most `limit`) */
  refusals: ReportRefusal[];
  /** a list hit the limit: the page says it shows the top N only */
  truncated: { talkers: boolean; edges: boolean; rejections: boolean; alerts: boolean; trails: boolean; refusals: boolean };
  talkers: ReportTalker[];
  nodes: ReportNode[];
  edges: ReportEdge[];
  per_bucket: {
    /** bucket width in seconds, chosen from the run's span (chooseBucketSeconds) */
    bucket_seconds: number;
    /** '1 s', '5 min', '1 h', … */
    bucket_label: string;
    /** first and last message of the period, ISO 8601 UTC ('' when none) */
    first: string;
    last: string;
    /** bucket starts, ISO 8601 UTC, consecutive */
    times: string[];
    series: ReportSeries[];
  };
  rejections: ReportRejection[];
  /** oldest first */
  alerts: ReportAlert[];
  /** the evidence messages' trails, in the order the page lists the alerts (severity first), then the refused messages' */
  trails: ReportTrail[];
  /** monitor mode (docs/design.md §18): what enforcing would have refused, per agent and reason (absent or [] when nothing) */
  would_refuse?: ReportWouldRefuse[];
}

/** One agent and reason of `agentbus audit would-refuse`. */
export interface ReportWouldRefuse {
  agent: string;
  reason: string;
  messages: number;
  destinations: number;
  /** ISO 8601 UTC */
  first_seen: string;
  last_seen: string;
  last_msg_id: string;
  last_detail: string;
}
