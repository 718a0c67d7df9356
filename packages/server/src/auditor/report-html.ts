// `agentbus audit report --html FILE`: one self-contained HTML page for analysts (inline CSS,
// inline JS, SVG drawn in the page; no external URL anywhere, and a CSP that forbids loading
// anything). The data is computed here from the store (the ready reports, a time series whose
// bucket fits the run's span, the delivery outcomes, each alert's sentence and evidence msg_ids
// with their trails; all queries with parameters) and embedded as JSON in a <script
// type="application/json"> block (every '<', '>' and '&' escaped, so no data string can close
// the block). The parts that must work without the script (outcome counts, alerts by severity,
// the evidence trails with their #trail-<msg_id> anchors) are rendered here as HTML, every string
// through escapeHtml; the charts are drawn by a small script that only ever creates elements and
// sets textContent/attributes: no innerHTML, so no string from the data (agent ids, types,
// evidence, detail, reason) becomes markup.
//
// Sections and their stable selectors (used by the tests):
//   #outcomes .outcome[data-outcome]                           delivered, undelivered, …, rejected, shed
//   #alert-list .alert-item[data-severity] .sentence, a.trail-link   alerts by severity, evidence links
//   #trails .trail#trail-<msg_id> tr.trail-row                 the evidence messages' audit trails
//   #graph svg .node (.agent | .topic), .edge, .edge.rejected; .graph-legend [data-legend]
//   #per-bucket svg[data-bucket-seconds] .series               messages per bucket per sender
//   #rejections .bar                                           rejections by reason
//   #alerts .alert (timeline marks), #alerts .alert-row        alerts timeline and table
// After drawing, the page sets document.body.dataset.rendered = "1" ("error" if a section failed;
// the section then shows the error).
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AuditStore } from './store.js';
import { messageCounts } from './schema.js';
import { alerts, edges, rejections, topTalkers, trails } from './reports.js';
import type { AlertRowOut, EdgeRow, RejectionRow, TalkerRow } from './reports.js';
import { alertEvidence, isDetectorRule } from './detectors/index.js';
import { alertSentence } from './sentence.js';
import type { EvidenceQuery } from './detectors/index.js';
import { DEAD_LETTER_RULE } from './defaults.js';
import { list, obj, strs } from './detectors/explain.js';
import { DEFAULT_DATABASE } from './defaults.js';

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
  /** the --store the page's `agentbus audit trail` commands name (default: a placeholder) */
  store?: string;
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

export interface ReportEdge { from: string; to: string; total: number; accepted: number; rejected: number; first_seen: string; last_seen: string }

export interface ReportSeries { sender: string; total: number; counts: number[] }

export interface ReportRejection extends RejectionRow {
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

export interface ReportData {
  version: 2;
  /** ISO 8601 UTC */
  generated_at: string;
  since: string;
  until: string;
  database: string;
  /** the --store named in the page's commands */
  store: string;
  totals: { messages: number; accepted: number; rejected: number; duplicate: number; senders: number; edges: number; alerts: number };
  outcomes: ReportOutcomes;
  /** a list hit the limit: the page says it shows the top N only */
  truncated: { talkers: boolean; edges: boolean; rejections: boolean; alerts: boolean; trails: boolean };
  talkers: TalkerRow[];
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
  /** the evidence messages' trails, in the order the page lists the alerts (severity first) */
  trails: ReportTrail[];
}

const MINUTES = `minute >= toStartOfMinute(toDateTime({since:UInt32}, 'UTC')) AND minute < toDateTime({until:UInt32}, 'UTC')`;
/** The same rows as MINUTES selects from the aggregates, on audit_events (whose column is `time`). */
const RAW_MINUTES = `toStartOfMinute(time) >= toStartOfMinute(toDateTime({since:UInt32}, 'UTC')) AND toStartOfMinute(time) < toDateTime({until:UInt32}, 'UTC')`;
const OTHER = '(other senders)';

/** Bucket widths for the time chart, in seconds: each divides the next larger unit (minute, hour, day). */
export const BUCKET_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/**
 * The time chart's bucket for a run that spans `spanMs` (first to last message): the narrowest
 * width of BUCKET_SECONDS that needs at most `maxBuckets` buckets (aligned buckets: a span of k
 * widths can touch k + 1), so a 30-second demo gets 1-second buckets and a day 30-minute ones;
 * past the list, whole days.
 */
export function chooseBucketSeconds(spanMs: number, maxBuckets = 60): number {
  const span = Math.max(0, spanMs);
  const max = Math.max(2, Math.floor(maxBuckets));
  for (const b of BUCKET_SECONDS) if (Math.ceil(span / (b * 1000)) + 1 <= max) return b;
  return Math.ceil(span / 86_400_000 / (max - 1)) * 86400;
}

/** '1 s', '30 s', '1 min', '5 min', '1 h', '1 d', '3 d'. */
export function bucketLabel(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** ClickHouse DateTime64 text ('2025-01-01 12:00:00.000', UTC) → ISO 8601. */
function chToIso(s: string): string {
  return /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(s) ? `${s.replace(' ', 'T')}${s.includes('.') ? '' : '.000'}Z` : s;
}

// ---- one sentence per alert: auditor/sentence.ts (the detection engine says the same) ----

export { alertSentence };

// ---- the messages behind an alert ----

const MSG_ID = /^[0-9a-f]{32}$/;

/**
 * Which messages an alert is about: the msg_ids its evidence lists (`msg_ids`, `msg_id`), else
 * the rows its rule counted (the detectors count aggregates, not msg_ids: the same filter on the
 * raw rows of the alert's window finds them). undefined: the alert names no messages.
 */
function evidenceQuery(a: AlertRowOut): EvidenceQuery | { ids: string[] } | undefined {
  const ev = obj(a.evidence) ?? {};
  const listed = [...new Set([...strs(ev['msg_ids']), ...strs([ev['msg_id']])].map((m) => m.toLowerCase()).filter((m) => MSG_ID.test(m)))];
  if (listed.length) return { ids: listed };
  if (a.rule === DEAD_LETTER_RULE) return undefined;
  if (isDetectorRule(a.rule)) return alertEvidence(a);
  if (!a.agents.length) return undefined;
  return { where: '1', params: {}, from: `messages of ${list(a.agents)} in the alert's window (a rule this report does not know: all their messages)`, senders: a.agents };
}

const SEVERITY_RANK: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3 };
/** Highest severity first (critical, high, medium, low, then any other by name), then the latest first. */
export function bySeverity<T extends { severity: string; detected_at: string; alert_id: string }>(a: T, b: T): number {
  const ra = SEVERITY_RANK[a.severity] ?? 4, rb = SEVERITY_RANK[b.severity] ?? 4;
  if (ra !== rb) return ra - rb;
  if (a.severity !== b.severity) return a.severity < b.severity ? -1 : 1;
  if (a.detected_at !== b.detected_at) return a.detected_at < b.detected_at ? 1 : -1;
  return a.alert_id < b.alert_id ? -1 : a.alert_id > b.alert_id ? 1 : 0;
}

/** Everything the page shows, computed from the store for one period. */
export async function buildReportData(store: AuditStore, opts: ReportOptions = {}): Promise<ReportData> {
  const until = opts.until ?? Date.now();
  const since = opts.since ?? until - 24 * 3600_000;
  if (!(since < until)) throw new RangeError('report: --since must be before --until');
  const limit = opts.limit ?? 500;
  const maxSeries = opts.maxSeries ?? 10;
  const maxBuckets = opts.maxBuckets ?? 60;
  const perAlert = opts.maxEvidencePerAlert ?? 20;
  const maxTrails = opts.maxTrails ?? 500;
  const maxTrailRows = opts.maxTrailRows ?? 50;
  const r = { since, until, limit };
  const p = { since: Math.floor(since / 1000), until: Math.ceil(until / 1000) };
  const events = store.table('audit_events');

  const [talkers, edgeRows, rejRows, alertRows] = await Promise.all([topTalkers(store, r), edges(store, r), rejections(store, r), alerts(store, r)]);

  // Time chart: the bucket width comes from the span of the run (first to last message), so a
  // 30-second demo is 30 one-second buckets, not one minute. Buckets under a minute read the raw
  // rows (FINAL; a shed row counts as its shed_count); a minute or more, the aggregates.
  const [bounds] = await store.query<{ lo: number; hi: number; n: number }>(
    `SELECT toUnixTimestamp64Milli(min(f)) AS lo, toUnixTimestamp64Milli(max(l)) AS hi, count() AS n FROM ${messageCounts(store.table, ['sender'], MINUTES)}`,
    p,
  );
  let bucket = 1;
  let first = '', last = '';
  const times: string[] = [];
  const series: ReportSeries[] = [];
  if (bounds && Number(bounds.n) > 0) {
    const lo = Number(bounds.lo), hi = Number(bounds.hi);
    first = new Date(lo).toISOString();
    last = new Date(hi).toISOString();
    bucket = chooseBucketSeconds(hi - lo, maxBuckets);
    const rows = bucket < 60
      ? await store.query<{ t: number; sender: string; n: number }>(
          `SELECT intDiv(toUnixTimestamp(time), {b:UInt32}) * {b:UInt32} AS t, sender, sum(if(shed_count > 0, toUInt64(shed_count), 1)) AS n
           FROM ${events} FINAL WHERE ${RAW_MINUTES} GROUP BY t, sender ORDER BY t, sender`,
          { ...p, b: bucket },
        )
      : await store.query<{ t: number; sender: string; n: number }>(
          `SELECT intDiv(toUnixTimestamp(minute), {b:UInt32}) * {b:UInt32} AS t, sender, sum(n) AS n
           FROM ${messageCounts(store.table, ['minute', 'sender'], MINUTES)} GROUP BY t, sender ORDER BY t, sender`,
          { ...p, b: bucket },
        );
    const t0 = rows.reduce((m, x) => Math.min(m, Number(x.t)), Infinity);
    const t1 = rows.reduce((m, x) => Math.max(m, Number(x.t)), -Infinity);
    const points = rows.length ? Math.round((t1 - t0) / bucket) + 1 : 0;
    for (let i = 0; i < points; i++) times.push(new Date((t0 + i * bucket) * 1000).toISOString());
    const per = new Map<string, number[]>();
    for (const x of rows) {
      let c = per.get(x.sender);
      if (!c) per.set(x.sender, (c = new Array<number>(points).fill(0)));
      c[Math.round((Number(x.t) - t0) / bucket)]! += Number(x.n);
    }
    const ranked = [...per.entries()]
      .map(([sender, counts]) => ({ sender, total: counts.reduce((a, b) => a + b, 0), counts }))
      .sort((a, b) => b.total - a.total || (a.sender < b.sender ? -1 : 1));
    series.push(...ranked.slice(0, maxSeries));
    const rest = ranked.slice(maxSeries);
    if (rest.length) {
      series.push({
        sender: OTHER,
        total: rest.reduce((a, s) => a + s.total, 0),
        counts: times.map((_, i) => rest.reduce((a, s) => a + s.counts[i]!, 0)),
      });
    }
  }

  // What became of the messages: verdicts from the raw rows (FINAL), delivery outcomes from the
  // delivery records of the accepted direct messages (a msg_id can have an `unconfirmed` record
  // and, after the sender's retry, a `confirmed` one: it was delivered).
  const [v] = await store.query<{ accepted: number; direct: number; rejected: number; shed: number; duplicate: number }>(
    `SELECT countIf(verdict = 'accepted') AS accepted, countIf(verdict = 'accepted' AND recipient != '') AS direct,
            countIf(verdict = 'rejected' AND shed_count = 0) AS rejected, sumIf(toUInt64(shed_count), verdict = 'rejected' AND shed_count > 0) AS shed,
            countIf(verdict = 'duplicate') AS duplicate
     FROM ${events} FINAL WHERE ${RAW_MINUTES}`,
    p,
  );
  const [d] = await store.query<{ delivered: number; undelivered: number; recipient_refused: number }>(
    `SELECT countIf(c) AS delivered, countIf(NOT c AND r) AS recipient_refused, countIf(NOT c AND NOT r AND u) AS undelivered FROM (
       SELECT msg_id, max(delivery = 'confirmed') AS c, max(delivery = 'unconfirmed') AS u, max(delivery = 'refused') AS r FROM ${store.table('audit_deliveries')}
       WHERE msg_id IN (SELECT msg_id FROM ${events} WHERE ${RAW_MINUTES} AND verdict = 'accepted' AND recipient != '' AND msg_id != '')
       GROUP BY msg_id)`,
    p,
  );
  const direct = Number(v?.direct ?? 0), delivered = Number(d?.delivered ?? 0), undelivered = Number(d?.undelivered ?? 0), recipientRefused = Number(d?.recipient_refused ?? 0);
  const outcomes: ReportOutcomes = {
    accepted: Number(v?.accepted ?? 0),
    delivered,
    undelivered,
    recipient_refused: recipientRefused,
    unrecorded: Math.max(0, direct - delivered - undelivered - recipientRefused),
    broadcast: Number(v?.accepted ?? 0) - direct,
    rejected: Number(v?.rejected ?? 0),
    shed: Number(v?.shed ?? 0),
    duplicate: Number(v?.duplicate ?? 0),
  };

  // The most frequent verifier details per rejection reason (raw rows, FINAL: no double count).
  const details = new Map<string, string[]>();
  if (rejRows.length) {
    const rows = await store.query<{ reason: string; details: string[] }>(
      `SELECT reason, topK(3)(detail) AS details FROM ${events} FINAL
       WHERE time >= toDateTime64({since:UInt32}, 3, 'UTC') AND time < toDateTime64({until:UInt32}, 3, 'UTC')
         AND verdict = 'rejected' AND detail != '' GROUP BY reason`,
      p,
    );
    for (const x of rows) details.set(x.reason, x.details);
  }

  // Alerts, with their sentence and the messages behind them; the evidence goes to the most
  // severe alerts first while the page's trail budget lasts.
  const reportAlerts: ReportAlert[] = alertRows
    .map((a) => ({
      alert_id: a.alert_id,
      rule: a.rule,
      severity: a.severity,
      agents: a.agents,
      detected_at: chToIso(a.detected_at),
      window_start: chToIso(a.window_start),
      window_end: chToIso(a.window_end),
      evidence: a.evidence,
      sentence: '',
      msg_ids: [] as string[],
      msg_ids_total: 0,
      msg_ids_from: '',
    }))
    .reverse();
  const raw = new Map(alertRows.map((a) => [a.alert_id, a]));
  const trailOf = new Map<string, string[]>(); // msg_id → alert ids, in listing order
  let trailsTruncated = false;
  for (const a of [...reportAlerts].sort(bySeverity)) {
    a.sentence = alertSentence(a);
    const q = evidenceQuery(raw.get(a.alert_id)!);
    if (!q) continue;
    let ids: string[];
    if ('ids' in q) {
      ids = q.ids;
      a.msg_ids_total = ids.length;
      a.msg_ids_from = `msg_ids listed in the alert's evidence`;
    } else {
      const rows = await store.query<{ msg_id: string; n: number }>(
        `SELECT msg_id, count() OVER () AS n FROM ${events} FINAL
         WHERE msg_id != '' AND sender IN {senders:Array(String)} AND ${q.where}
           AND time >= fromUnixTimestamp64Milli({ws:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({we:Int64}, 'UTC')
         GROUP BY msg_id ORDER BY min(time), msg_id LIMIT {n:UInt32}`,
        { ...q.params, senders: q.senders, ws: Date.parse(a.window_start), we: Date.parse(a.window_end), n: perAlert },
      );
      ids = rows.map((x) => x.msg_id);
      a.msg_ids_total = Number(rows[0]?.n ?? 0);
      a.msg_ids_from = q.from;
    }
    for (const id of ids.slice(0, perAlert)) {
      const seen = trailOf.get(id);
      if (seen) seen.push(a.alert_id);
      else if (trailOf.size < maxTrails) trailOf.set(id, [a.alert_id]);
      else {
        trailsTruncated = true;
        continue;
      }
      a.msg_ids.push(id);
    }
  }
  const trailRows = await trails(store, [...trailOf.keys()], maxTrailRows + 1);
  const rowsOf = new Map<string, ReportTrailRow[]>();
  for (const t of trailRows) {
    let list = rowsOf.get(t.key);
    if (!list) rowsOf.set(t.key, (list = []));
    list.push({
      relation: t.relation, time: chToIso(t.time), event_id: t.event_id, verdict: t.verdict, reason: t.reason, sender: t.sender,
      destination: t.destination, type: t.type, msg_id: t.msg_id, causation_id: t.causation_id, depth: Number(t.depth),
    });
  }

  const nodes = new Map<string, ReportNode>();
  const node = (id: string): ReportNode => {
    let n = nodes.get(id);
    if (!n) nodes.set(id, (n = { id, kind: id.startsWith('topic:') ? 'topic' : 'agent', sent: 0, rejected: 0, received: 0 }));
    return n;
  };
  for (const t of talkers) Object.assign(node(t.sender), { sent: t.total, rejected: t.rejected });
  for (const e of edgeRows) {
    node(e.sender);
    node(e.destination).received += e.total;
  }
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  const sum = (k: 'total' | 'accepted' | 'rejected' | 'duplicate') => talkers.reduce((a, t) => a + t[k], 0);
  return {
    version: 2,
    generated_at: new Date().toISOString(),
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    database: store.database,
    store: opts.store ?? '<store>',
    totals: {
      messages: sum('total'),
      accepted: sum('accepted'),
      rejected: sum('rejected'),
      duplicate: sum('duplicate'),
      senders: talkers.length,
      edges: edgeRows.length,
      alerts: alertRows.length,
    },
    outcomes,
    truncated: { talkers: talkers.length >= limit, edges: edgeRows.length >= limit, rejections: rejRows.length >= limit, alerts: alertRows.length >= limit, trails: trailsTruncated },
    talkers,
    nodes: [...nodes.values()].sort(byId),
    edges: edgeRows.map((e: EdgeRow) => ({
      from: e.sender,
      to: e.destination,
      total: e.total,
      accepted: e.accepted,
      rejected: e.rejected,
      first_seen: chToIso(e.first_seen),
      last_seen: chToIso(e.last_seen),
    })),
    per_bucket: { bucket_seconds: bucket, bucket_label: bucketLabel(bucket), first, last, times, series },
    rejections: rejRows.map((x) => ({ ...x, details: details.get(x.reason) ?? [] })),
    alerts: reportAlerts,
    trails: [...trailOf.entries()].map(([msg_id, alert_ids]) => {
      const rows = rowsOf.get(msg_id) ?? [];
      return { msg_id, alert_ids, rows: rows.slice(0, maxTrailRows), truncated: rows.length > maxTrailRows };
    }),
  };
}

/** Text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> block: nothing in it can close the block or open a comment. */
export function jsonForScript(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const CSS = `
:root { --fg: #1f2933; --muted: #616e7c; --line: #d9dee4; --bg: #f5f7fa; --card: #fff; --accent: #2563eb; --bad: #dc2626; --topic: #d97706; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 18px 28px 10px; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.meta { color: var(--muted); font-size: 13px; }
.totals { display: flex; flex-wrap: wrap; gap: 10px; margin-top: 10px; }
.totals div { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px; }
.totals b { font-size: 17px; display: block; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; padding: 16px 28px 28px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
svg { display: block; width: 100%; height: auto; font-family: inherit; }
.note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
.empty { color: var(--muted); font-style: italic; padding: 20px 0; }
.error { color: var(--bad); font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend svg { display: inline-block; width: 22px; height: 10px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; margin-top: 8px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 11px/1.35 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; max-height: 12em; overflow: auto; }
code.detail { white-space: pre-wrap; word-break: break-all; }
details { margin-top: 8px; }
summary { cursor: pointer; color: var(--accent); font-size: 13px; }
.sev { display: inline-block; border-radius: 4px; padding: 0 6px; color: #fff; font-size: 11px; font-weight: 600; }
.sev-critical { background: #7f1d1d; } .sev-high { background: #dc2626; } .sev-medium { background: #ea580c; } .sev-low { background: #2563eb; } .sev-other { background: #6b7280; }
#graph .node circle, #graph .node rect { stroke: #fff; stroke-width: 2; }
#graph .node.agent circle { fill: var(--accent); }
#graph .node.topic rect { fill: var(--topic); }
#graph .node.has-rejected circle, #graph .node.has-rejected rect { stroke: var(--bad); stroke-width: 3; }
#graph .node text { font-size: 12px; fill: var(--fg); }
#graph.many .node text { font-size: 10px; }
#graph .edge path.edge-line { fill: none; stroke: #94a3b8; stroke-opacity: 0.8; }
#graph .edge.all-rejected path.edge-line { stroke: #fca5a5; }
#graph .edge path.edge-rejected-line { fill: none; stroke: var(--bad); stroke-dasharray: 6 4; }
#graph .edge text { font-size: 11px; fill: var(--muted); paint-order: stroke; stroke: #fff; stroke-width: 3px; }
#graph .edge.rejected text.edge-rejected-label { fill: var(--bad); font-weight: 600; }
.axis line, .axis path { stroke: #cbd2d9; }
.axis text { font-size: 11px; fill: var(--muted); }
.grid line { stroke: #eef1f4; }
#per-bucket .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
#rejections .bar rect { fill: var(--bad); fill-opacity: 0.85; }
#rejections .bar text { font-size: 12px; fill: var(--fg); }
#rejections .bar text.count { font-weight: 600; }
#alerts .lane text { font-size: 12px; fill: var(--fg); }
#alerts .lane line { stroke: #eef1f4; }
#alerts .alert .window { fill-opacity: 0.18; }
#alerts .alert text { font-size: 10px; fill: var(--muted); }
.totals div.outcome { border-left: 4px solid var(--line); }
.totals div.outcome small { display: block; color: var(--muted); font-size: 11px; max-width: 13em; }
.outcome-delivered { border-left-color: #16a34a !important; } .outcome-undelivered { border-left-color: #ea580c !important; }
.outcome-unrecorded { border-left-color: #9ca3af !important; } .outcome-broadcast { border-left-color: var(--topic) !important; }
.outcome-rejected { border-left-color: var(--bad) !important; } .outcome-shed { border-left-color: #7f1d1d !important; } .outcome-recipient_refused { border-left-color: #b45309 !important; }
.outcome-duplicate { border-left-color: #64748b !important; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.alert-item { border: 1px solid var(--line); border-left: 4px solid #6b7280; border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.alert-item.sev-critical { border-left-color: #7f1d1d; background: #fff; } .alert-item.sev-high { border-left-color: #dc2626; background: #fff; }
.alert-item.sev-medium { border-left-color: #ea580c; background: #fff; } .alert-item.sev-low { border-left-color: #2563eb; background: #fff; }
.alert-item.sev-other { background: #fff; }
.alert-item .sentence { margin: 4px 0; font-size: 14px; }
.alert-item .meta, .trail .meta { margin: 2px 0; }
.evidence-ids { margin: 6px 0 0; font-size: 12px; }
.evidence-ids ul { margin: 4px 0 0; padding-left: 18px; }
.evidence-ids li { margin: 1px 0; }
a { color: var(--accent); }
code.cmd { color: var(--muted); user-select: all; }
.trail { border-top: 1px solid var(--line); padding: 8px 0 4px; }
.trail:target { background: #fffbeb; outline: 2px solid #f59e0b; outline-offset: 2px; }
.alert-item:target { outline: 2px solid #f59e0b; outline-offset: 2px; }
.trail h3 { margin: 2px 0; }
.v-rejected { color: var(--bad); font-weight: 600; } .v-duplicate { color: var(--muted); }
.legend .node-size svg { width: 48px; height: 22px; }
@media (max-width: 1000px) { main { grid-template-columns: minmax(0, 1fr); } }
`;

// The page script: plain ES5-ish JS, no template literals (it lives in one). It never uses
// innerHTML/insertAdjacentHTML/document.write: every string from the data goes in through
// textContent or setAttribute.
const SCRIPT = String.raw`
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var PALETTE = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#0891b2', '#db2777', '#ca8a04', '#4f46e5', '#65a30d', '#be123c'];
  var SEV = { critical: 'sev-critical', high: 'sev-high', medium: 'sev-medium', low: 'sev-low' };
  var SEV_COLOR = { critical: '#7f1d1d', high: '#dc2626', medium: '#ea580c', low: '#2563eb' };

  function attrs(e, a) { if (a) for (var k in a) if (Object.prototype.hasOwnProperty.call(a, k) && a[k] !== undefined && a[k] !== null) e.setAttribute(k, String(a[k])); return e; }
  function s(tag, a, parent, text) {
    var e = attrs(document.createElementNS(NS, tag), a);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, a, parent, text) {
    var e = attrs(document.createElement(tag), a);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (parent) parent.appendChild(e);
    return e;
  }
  function svgIn(parent, w, ht, label) {
    return s('svg', { viewBox: '0 0 ' + w + ' ' + ht, width: w, height: ht, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMin meet' }, parent);
  }
  function r1(x) { return Math.round(x * 10) / 10; }
  function fmt(iso) { return String(iso).replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '') + ' UTC'; }
  function hhmm(ms, secs) { var d = new Date(ms); return ('0' + d.getUTCHours()).slice(-2) + ':' + ('0' + d.getUTCMinutes()).slice(-2) + (secs ? ':' + ('0' + d.getUTCSeconds()).slice(-2) : ''); }
  function ymd(ms) { return new Date(ms).toISOString().slice(0, 10); }
  function clip(t, n) { t = String(t); return t.length > n ? t.slice(0, n - 1) + '\u2026' : t; }
  // a round step (1, 2, 5 × 10^k; at least 1: counts are integers) giving about n ticks up to v
  function niceStep(v, n) {
    var raw = Math.max(1, v / n), p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  // round times (every 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, days) between lo and hi, at most n;
  // ticks.seconds: the labels need seconds (a step under a minute)
  function timeTicks(lo, hi, n) {
    var steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800], st = steps[steps.length - 1] * 1000;
    for (var i = 0; i < steps.length; i++) if ((hi - lo) / (steps[i] * 1000) <= n) { st = steps[i] * 1000; break; }
    var out = [];
    for (var t = Math.ceil(lo / st) * st; t <= hi; t += st) out.push(t);
    out.seconds = st < 60000;
    return out;
  }
  function timeAxis(axis, ticks, X, y, x0, x1, label) {
    var lastDay = '', secs = !!ticks.seconds;
    ticks.forEach(function (ms) {
      var x = X(ms), day = ymd(ms), anchor = x - x0 < 40 ? 'start' : x1 - x < 40 ? 'end' : 'middle';
      s('line', { x1: r1(x), x2: r1(x), y1: y, y2: y + 4 }, axis);
      s('text', { x: r1(x), y: y + 16, 'text-anchor': anchor }, axis, hhmm(ms, secs));
      if (day !== lastDay) s('text', { class: 'day', x: r1(x), y: y + 29, 'text-anchor': anchor }, axis, day);
      lastDay = day;
    });
    s('text', { class: 'x-label', x: x1, y: y + 29, 'text-anchor': 'end' }, axis, label || 'UTC');
  }
  function empty(parent, text) { h('p', { class: 'empty' }, parent, text); }
  function note(parent, text) { h('p', { class: 'note' }, parent, text); }
  function swatch(parent, color, dashed) {
    var sv = s('svg', { viewBox: '0 0 22 10', width: 22, height: 10 }, parent);
    s('line', { x1: 1, y1: 5, x2: 21, y2: 5, stroke: color, 'stroke-width': 3, 'stroke-dasharray': dashed ? '5 3' : null }, sv);
  }
  function table(parent, cols, rows, rowClass) {
    var t = h('table', null, parent), tr = h('tr', null, h('thead', null, t)), body = h('tbody', null, t);
    cols.forEach(function (c) { h('th', { class: c.num ? 'num' : null }, tr, c.title); });
    rows.forEach(function (r) {
      var row = h('tr', { class: rowClass || null }, body);
      cols.forEach(function (c) {
        var td = h('td', { class: c.num ? 'num' : null }, row);
        var v = c.get(r);
        if (v instanceof Node) td.appendChild(v); else td.textContent = v === undefined || v === null ? '' : String(v);
      });
    });
    return t;
  }
  function sevBadge(sev) { return h('span', { class: 'sev ' + (SEV[sev] || 'sev-other') }, null, sev); }

  // ---- communication graph: circle layout, nodes sorted by id ----
  function graph(root) {
    var nodes = data.nodes, edges = data.edges;
    if (!nodes.length) { empty(root, 'No messages in this period.'); return; }
    // many nodes: a square canvas, room for radial labels all round
    var W = 780, H = nodes.length > 24 ? 780 : 600, cx = W / 2, cy = H / 2, R = nodes.length === 1 ? 0 : Math.min(230, 60 + nodes.length * 18);
    var svg = svgIn(root, W, H, 'communication graph');
    if (nodes.length > 24) root.classList.add('many');
    var defs = s('defs', null, svg);
    [['arrow', '#94a3b8'], ['arrow-rejected', '#dc2626']].forEach(function (m) {
      var mk = s('marker', { id: m[0], viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 10, markerHeight: 10, markerUnits: 'userSpaceOnUse', orient: 'auto' }, defs);
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: m[1] }, mk);
    });
    var maxVol = 1, maxTotal = 1, pos = {}, many = nodes.length > 24;
    var rMax = nodes.length === 1 ? 20 : Math.min(20, Math.max(5, (2 * Math.PI * R) / nodes.length / 2.6)), rMin = Math.min(8, rMax / 2);
    nodes.forEach(function (n) { maxVol = Math.max(maxVol, n.sent + n.received); });
    edges.forEach(function (e) { maxTotal = Math.max(maxTotal, e.total); });
    nodes.forEach(function (n, i) {
      var a = -Math.PI / 2 + (2 * Math.PI * i) / nodes.length;
      pos[n.id] = { x: cx + R * Math.cos(a), y: cy + R * Math.sin(a), a: a, r: rMin + (rMax - rMin) * Math.sqrt((n.sent + n.received) / maxVol) };
    });
    var gEdges = s('g', { class: 'edges' }, svg), gNodes = s('g', { class: 'nodes' }, svg);
    var labels = edges.length <= 60;
    edges.forEach(function (e) {
      var A = pos[e.from], B = pos[e.to];
      if (!A || !B) return;
      var cls = 'edge' + (e.rejected > 0 ? ' rejected' : '') + (e.rejected > 0 && e.rejected === e.total ? ' all-rejected' : '');
      var g = s('g', { class: cls, 'data-from': e.from, 'data-to': e.to, 'data-total': e.total, 'data-rejected': e.rejected }, gEdges);
      s('title', null, g, e.from + ' \u2192 ' + e.to + ': ' + e.total + ' messages (' + e.accepted + ' accepted, ' + e.rejected + ' rejected)\nfirst ' + fmt(e.first_seen) + '\nlast ' + fmt(e.last_seen));
      var width = 1.5 + 8.5 * Math.sqrt(e.total / maxTotal), d, mx, my;
      if (e.from === e.to) {
        var ox = Math.cos(A.a), oy = Math.sin(A.a), px = A.x + ox * A.r, py = A.y + oy * A.r;
        var c1x = px + ox * 46 - oy * 26, c1y = py + oy * 46 + ox * 26, c2x = px + ox * 46 + oy * 26, c2y = py + oy * 46 - ox * 26;
        d = 'M' + r1(px) + ',' + r1(py) + ' C' + r1(c1x) + ',' + r1(c1y) + ' ' + r1(c2x) + ',' + r1(c2y) + ' ' + r1(px) + ',' + r1(py);
        mx = px + ox * 36; my = py + oy * 36;
      } else {
        var dx = B.x - A.x, dy = B.y - A.y, len = Math.sqrt(dx * dx + dy * dy) || 1, ux = dx / len, uy = dy / len;
        var bend = Math.min(60, len * 0.15), qx = (A.x + B.x) / 2 - uy * bend, qy = (A.y + B.y) / 2 + ux * bend;
        // trim both ends at the node borders, along the curve's tangents
        var sx = qx - A.x, sy = qy - A.y, sl = Math.sqrt(sx * sx + sy * sy) || 1;
        var tx = B.x - qx, ty = B.y - qy, tl = Math.sqrt(tx * tx + ty * ty) || 1;
        var x0 = A.x + (sx / sl) * (A.r + 2), y0 = A.y + (sy / sl) * (A.r + 2);
        var x1 = B.x - (tx / tl) * (B.r + 4), y1 = B.y - (ty / tl) * (B.r + 4);
        d = 'M' + r1(x0) + ',' + r1(y0) + ' Q' + r1(qx) + ',' + r1(qy) + ' ' + r1(x1) + ',' + r1(y1);
        mx = 0.25 * x0 + 0.5 * qx + 0.25 * x1; my = 0.25 * y0 + 0.5 * qy + 0.25 * y1;
      }
      s('path', { class: 'edge-line', d: d, 'stroke-width': r1(width), 'marker-end': e.rejected === e.total ? 'url(#arrow-rejected)' : 'url(#arrow)' }, g);
      if (e.rejected > 0) s('path', { class: 'edge-rejected-line', d: d, 'stroke-width': r1(1.5 + 5 * Math.sqrt(e.rejected / maxTotal)) }, g);
      if (labels || e.rejected > 0) {
        var t = s('text', { class: 'edge-label', x: r1(mx), y: r1(my), 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, g, String(e.total));
        if (e.rejected > 0) {
          t.setAttribute('dy', '-7');
          s('text', { class: 'edge-rejected-label', x: r1(mx), y: r1(my), dy: 8, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, g, '\u2715 ' + e.rejected + ' rejected');
        }
      }
    });
    nodes.forEach(function (n) {
      var p = pos[n.id];
      var g = s('g', { class: 'node ' + n.kind + (n.rejected > 0 ? ' has-rejected' : ''), 'data-id': n.id, 'data-sent': n.sent, 'data-received': n.received, 'data-rejected': n.rejected }, gNodes);
      s('title', null, g, n.id + '\nsent ' + n.sent + ' (' + n.rejected + ' rejected)\nreceived ' + n.received);
      if (n.kind === 'topic') s('rect', { x: r1(p.x - p.r), y: r1(p.y - p.r), width: r1(2 * p.r), height: r1(2 * p.r), rx: 4, transform: 'rotate(45 ' + r1(p.x) + ' ' + r1(p.y) + ')' }, g);
      else s('circle', { cx: r1(p.x), cy: r1(p.y), r: r1(p.r) }, g);
      var c = Math.cos(p.a), sn = Math.sin(p.a), off = p.r + (many ? 6 : 10);
      var lx = nodes.length === 1 ? p.x : p.x + c * off, ly = nodes.length === 1 ? p.y + off + 4 : p.y + sn * off;
      if (many) {
        // radial labels, so that neighbours do not overlap; never upside down
        var deg = (p.a * 180) / Math.PI, left = c < 0;
        s('text', { class: 'label', x: r1(lx), y: r1(ly), 'text-anchor': left ? 'end' : 'start', 'dominant-baseline': 'middle', transform: 'rotate(' + r1(left ? deg + 180 : deg) + ' ' + r1(lx) + ' ' + r1(ly) + ')' }, g, clip(n.id, 20));
      } else {
        s('text', { class: 'label', x: r1(lx), y: r1(ly), 'text-anchor': nodes.length === 1 ? 'middle' : c > 0.25 ? 'start' : c < -0.25 ? 'end' : 'middle', 'dominant-baseline': sn > 0.5 ? 'hanging' : sn < -0.5 ? 'auto' : 'middle' }, g, clip(n.id, 24));
      }
    });
    // the legend: what size, width, colour and marks encode
    var lg = h('div', { class: 'legend graph-legend' }, root);
    var ln = h('span', { class: 'node-size', 'data-legend': 'node-size' }, lg);
    var nsv = s('svg', { viewBox: '0 0 48 22', width: 48, height: 22 }, ln), small = Math.min(rMin, 10), big = Math.min(rMax, 10) * (rMax > rMin ? 1 : 0.999);
    s('circle', { cx: 8, cy: 11, r: r1(Math.max(1.5, small * 0.9)), fill: '#2563eb' }, nsv);
    s('circle', { cx: 34, cy: 11, r: r1(Math.max(small, big)), fill: '#2563eb' }, nsv);
    ln.appendChild(document.createTextNode('node size = messages sent + received, all verdicts (area grows with the count; smallest 0, largest ' + maxVol + ')'));
    var l1 = h('span', { 'data-legend': 'edge-width' }, lg); swatch(l1, '#94a3b8'); l1.appendChild(document.createTextNode('grey arrow: sender \u2192 destination; width grows with its messages (label: total, all verdicts)'));
    var l2 = h('span', { 'data-legend': 'edge-rejected' }, lg); swatch(l2, '#dc2626', true); l2.appendChild(document.createTextNode('red dashes: rejected attempts on that edge (\u2715 count)'));
    var l3 = h('span', { 'data-legend': 'edge-all-rejected' }, lg); swatch(l3, '#fca5a5'); l3.appendChild(document.createTextNode('pale red line, red arrow head: every attempt was rejected'));
    h('span', { 'data-legend': 'agent' }, lg, '\u25cf agent (blue circle)');
    h('span', { 'data-legend': 'topic' }, lg, '\u25c6 topic (orange diamond)');
    h('span', { 'data-legend': 'has-rejected' }, lg, 'red ring: the node sent messages that were rejected');
    if (data.truncated.edges) note(root, 'Showing the ' + edges.length + ' busiest edges only (--limit).');
    var det = h('details', null, root);
    h('summary', null, det, 'Edges table (' + edges.length + ')');
    table(det, [
      { title: 'sender', get: function (e) { return e.from; } },
      { title: 'destination', get: function (e) { return e.to; } },
      { title: 'total', num: true, get: function (e) { return e.total; } },
      { title: 'accepted', num: true, get: function (e) { return e.accepted; } },
      { title: 'rejected', num: true, get: function (e) { return e.rejected; } },
      { title: 'first seen', get: function (e) { return fmt(e.first_seen); } },
      { title: 'last seen', get: function (e) { return fmt(e.last_seen); } }
    ], edges, 'edge-row');
  }

  // ---- messages per time bucket per sender: one line per sender; the bucket fits the run's span ----
  function perBucket(root) {
    var pm = data.per_bucket, n = pm.times.length, unit = pm.bucket_label;
    root.querySelector('h2').textContent = 'Messages per ' + unit + ' per sender';
    if (!n || !pm.series.length) { empty(root, 'No messages in this period.'); return; }
    note(root, 'Each point is one ' + unit + ' bucket (chosen from the run\u2019s span: first message ' + fmt(pm.first) + ', last ' + fmt(pm.last) + '; ' + n + (n === 1 ? ' bucket' : ' buckets') + ').');
    var W = 1320, H = 324, L = 54, Rm = 16, T = 26, B = 40, pw = W - L - Rm, ph = H - T - B;
    var svg = svgIn(root, W, H, 'messages per ' + unit + ' per sender');
    svg.setAttribute('data-bucket-seconds', pm.bucket_seconds);
    var max = 0;
    pm.series.forEach(function (se) { se.counts.forEach(function (v) { if (v > max) max = v; }); });
    var ystep = niceStep(max, 4), top = Math.max(ystep, Math.ceil(max / ystep) * ystep);
    var t0 = Date.parse(pm.times[0]), stepMs = pm.bucket_seconds * 1000, tn = t0 + (n - 1) * stepMs;
    function XT(ms) { return L + (n === 1 ? pw / 2 : (pw * (ms - t0)) / (tn - t0)); }
    function X(i) { return XT(t0 + i * stepMs); }
    function Y(v) { return T + ph - (ph * v) / top; }
    var grid = s('g', { class: 'grid' }, svg), axis = s('g', { class: 'axis' }, svg);
    for (var v = 0; v <= top + 1e-9; v += ystep) {
      var y = r1(Y(v));
      s('line', { x1: L, x2: W - Rm, y1: y, y2: y }, grid);
      s('text', { x: L - 6, y: y, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, axis, Math.round(v * 100) / 100);
    }
    s('line', { x1: L, x2: W - Rm, y1: T + ph, y2: T + ph }, axis);
    var ticks = n === 1 ? [t0] : timeTicks(t0, tn, 12);
    if (n === 1) ticks.seconds = pm.bucket_seconds < 60;
    timeAxis(axis, ticks, XT, T + ph, L, W - Rm, 'time (UTC), one point per ' + unit + ' bucket');
    s('text', { class: 'y-label', x: 4, y: 4, 'dominant-baseline': 'hanging' }, axis, 'msgs / ' + unit);
    var lg = h('div', { class: 'legend' }, root);
    pm.series.forEach(function (se, idx) {
      var color = se.sender === '(other senders)' ? '#9ca3af' : PALETTE[idx % PALETTE.length];
      var pts = se.counts.map(function (c, i) { return r1(X(i)) + ',' + r1(Y(c)); }).join(' ');
      var g = s('g', { class: 'series-group', 'data-sender': se.sender }, svg);
      s('title', null, g, se.sender + ': ' + se.total + ' messages');
      s('polyline', { class: 'series', points: pts, stroke: color, 'data-sender': se.sender, 'data-total': se.total }, g);
      if (n <= 90) se.counts.forEach(function (c, i) {
        if (c > 0) s('circle', { class: 'point', cx: r1(X(i)), cy: r1(Y(c)), r: 2.5, fill: color }, g);
      });
      var it = h('span', null, lg); swatch(it, color); it.appendChild(document.createTextNode(se.sender + ' (' + se.total + ')'));
    });
  }

  // ---- rejections by reason: horizontal bars ----
  function rejectionsChart(root) {
    var rows = data.rejections;
    if (!rows.length) { empty(root, 'No rejections in this period.'); return; }
    var W = 520, rowH = 30, L = 170, Rm = 50, H = rows.length * rowH + 8;
    var svg = svgIn(root, W, H, 'rejections by reason'), max = 1;
    rows.forEach(function (r) { max = Math.max(max, r.count); });
    rows.forEach(function (r, i) {
      var y = 4 + i * rowH, bw = Math.max(2, ((W - L - Rm) * r.count) / max);
      var g = s('g', { class: 'bar', 'data-reason': r.reason, 'data-count': r.count }, svg);
      s('title', null, g, r.reason + ': ' + r.count + ' rejections from ' + r.senders + ' sender(s), most from ' + r.top_sender);
      s('text', { class: 'reason', x: L - 8, y: y + rowH / 2 - 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, g, clip(r.reason, 26));
      s('rect', { x: L, y: y + 3, width: r1(bw), height: rowH - 10, rx: 3 }, g);
      s('text', { class: 'count', x: r1(L + bw + 6), y: y + rowH / 2 - 2, 'dominant-baseline': 'middle' }, g, r.count);
    });
    if (data.truncated.rejections) note(root, 'Showing the top ' + rows.length + ' reasons only.');
    table(root, [
      { title: 'reason', get: function (r) { return r.reason; } },
      { title: 'count', num: true, get: function (r) { return r.count; } },
      { title: 'senders', num: true, get: function (r) { return r.senders; } },
      { title: 'top sender', get: function (r) { return r.top_sender; } },
      { title: 'frequent details', get: function (r) { return h('code', { class: 'detail' }, null, r.details.join('\n')); } }
    ], rows, 'rejection-row');
  }

  // ---- alerts: one lane per rule on a time axis, then a table with the evidence ----
  function alertsChart(root) {
    var rows = data.alerts;
    if (!rows.length) { empty(root, 'No alerts in this period.'); return; }
    var rules = [];
    rows.forEach(function (a) { if (rules.indexOf(a.rule) < 0) rules.push(a.rule); });
    rules.sort();
    var lo = Infinity, hi = -Infinity;
    rows.forEach(function (a) {
      lo = Math.min(lo, Date.parse(a.window_start), Date.parse(a.detected_at));
      hi = Math.max(hi, Date.parse(a.window_end), Date.parse(a.detected_at));
    });
    if (!(hi - lo > 60000)) { lo -= 300000; hi += 300000; }
    var pad = (hi - lo) * 0.03; lo -= pad; hi += pad;
    var W = 1320, L = 150, Rm = 20, laneH = 34, T = 6, H = T + rules.length * laneH + 40, pw = W - L - Rm;
    function X(ms) { return L + (pw * (ms - lo)) / (hi - lo); }
    var svg = svgIn(root, W, H, 'alerts timeline'), axis = s('g', { class: 'axis' }, svg);
    rules.forEach(function (rule, i) {
      var y = T + i * laneH, g = s('g', { class: 'lane', 'data-rule': rule }, svg);
      s('line', { x1: L, x2: W - Rm, y1: y + laneH / 2, y2: y + laneH / 2 }, g);
      s('text', { x: L - 8, y: y + laneH / 2, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, g, clip(rule, 22));
    });
    var base = T + rules.length * laneH;
    s('line', { x1: L, x2: W - Rm, y1: base, y2: base }, axis);
    timeAxis(axis, timeTicks(lo, hi, 12), X, base, L, W - Rm);
    rows.forEach(function (a) {
      var y = T + rules.indexOf(a.rule) * laneH + laneH / 2, color = SEV_COLOR[a.severity] || '#6b7280';
      var g = s('g', { class: 'alert ' + (SEV[a.severity] || 'sev-other'), 'data-rule': a.rule, 'data-severity': a.severity, 'data-agents': a.agents.join(','), 'data-detected-at': a.detected_at }, svg);
      s('title', null, g, a.rule + ' (' + a.severity + ') ' + a.agents.join(', ') + '\ndetected ' + fmt(a.detected_at) + '\nwindow ' + fmt(a.window_start) + ' \u2013 ' + fmt(a.window_end));
      var x0 = X(Date.parse(a.window_start)), x1 = X(Date.parse(a.window_end));
      s('rect', { class: 'window', x: r1(x0), y: r1(y - 9), width: r1(Math.max(2, x1 - x0)), height: 18, rx: 3, fill: color }, g);
      s('circle', { class: 'mark', cx: r1(X(Date.parse(a.detected_at))), cy: r1(y), r: 6, fill: color, stroke: '#fff', 'stroke-width': 1.5 }, g);
      s('text', { x: r1(X(Date.parse(a.detected_at)) + 9), y: r1(y - 9), 'dominant-baseline': 'middle' }, g, clip(a.agents.join(', '), 30));
    });
    if (data.truncated.alerts) note(root, 'Showing the latest ' + rows.length + ' alerts only.');
    table(root, [
      { title: 'detected', get: function (a) { return fmt(a.detected_at); } },
      { title: 'rule', get: function (a) { return a.rule; } },
      { title: 'severity', get: function (a) { return sevBadge(a.severity); } },
      { title: 'what happened', get: function (a) { return a.sentence; } },
      { title: 'agents', get: function (a) { return a.agents.join(', '); } },
      { title: 'window', get: function (a) { return fmt(a.window_start) + ' \u2013 ' + fmt(a.window_end); } },
      { title: 'evidence', get: function (a) { return h('pre', { class: 'evidence' }, null, JSON.stringify(a.evidence, null, 1)); } }
    ], rows.slice().reverse(), 'alert-row');
  }

  var failed = false;
  [['graph', graph], ['per-bucket', perBucket], ['rejections', rejectionsChart], ['alerts', alertsChart]].forEach(function (p) {
    var root = document.getElementById(p[0]);
    try { p[1](root); } catch (err) {
      failed = true;
      h('p', { class: 'error' }, root, 'Could not draw this section: ' + (err && err.message ? err.message : String(err)));
    }
  });
  document.body.dataset.rendered = failed ? 'error' : '1';
})();
`;

const sha256b64 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** A shell word (POSIX quoting when it needs any). */
function shellWord(s: string): string {
  return SAFE_ARG.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
/** A store for a command line: a URL without its user and password. */
function storeArg(store: string): string {
  return store.replace(/^(https?:\/\/)[^/@]*@/i, '$1');
}

/** The CLI command that prints the same trail from the store. */
export function trailCommand(data: Pick<ReportData, 'store' | 'database'>, msgId: string): string {
  const db = data.database !== DEFAULT_DATABASE ? ` --database ${shellWord(data.database)}` : '';
  return `agentbus audit trail --msg-id ${shellWord(msgId)} --store ${shellWord(storeArg(data.store))}${db}`;
}

const SEV_CLASS: Record<string, string> = { critical: 'sev-critical', high: 'sev-high', medium: 'sev-medium', low: 'sev-low' };
const sevClass = (sev: string) => SEV_CLASS[sev] ?? 'sev-other';
const e = escapeHtml;

const OUTCOMES: [keyof ReportOutcomes, string, string][] = [
  ['delivered', 'delivered', 'accepted, and the recipient confirmed it'],
  ['undelivered', 'undelivered', 'accepted, but no recipient confirmed it in time (recorded unconfirmed)'],
  ['recipient_refused', 'refused by the recipient', "accepted, but the recipient's client could not verify or decode it (its registry or manifests differ)"],
  ['unrecorded', 'no delivery record', 'accepted direct messages with no delivery outcome stored (in flight, or the verifier stopped first)'],
  ['broadcast', 'broadcast', 'accepted topic publications (at most once: nobody confirms them)'],
  ['rejected', 'rejected', 'rejected by the verifier after its checks'],
  ['shed', 'shed', 'dropped unverified: the sender had spent its rejection budget'],
  ['duplicate', 'duplicates', 'client retries of a message already accepted (answered, not counted again)'],
];

function outcomesHtml(o: ReportOutcomes): string {
  return OUTCOMES.map(([k, label, title]) => `<div class="outcome outcome-${k}" data-outcome="${k}" data-count="${o[k]}" title="${e(title)}"><b>${o[k]}</b>${e(label)}<small>${e(title)}</small></div>`).join('');
}

function alertListHtml(data: ReportData): string {
  if (!data.alerts.length) return '<p class="empty">No alerts in this period.</p>';
  const sorted = [...data.alerts].sort(bySeverity);
  const groups: { severity: string; alerts: ReportAlert[] }[] = [];
  for (const a of sorted) {
    const g = groups[groups.length - 1];
    if (g && g.severity === a.severity) g.alerts.push(a);
    else groups.push({ severity: a.severity, alerts: [a] });
  }
  const cmd = data.alerts.some((a) => a.msg_ids.length) ? trailCommand(data, 'MSG_ID') : '';
  const out = [`<p class="note">Highest severity first, the latest first within a severity. Each evidence msg_id links to its audit trail on this page${cmd ? `; the same trail from the store: <code class="cmd">${e(cmd)}</code>` : ''}.</p>`];
  for (const g of groups) {
    out.push(`<div class="sev-group" data-severity="${e(g.severity)}"><h3><span class="sev ${sevClass(g.severity)}">${e(g.severity)}</span> ${e(`${g.alerts.length} ${g.alerts.length === 1 ? 'alert' : 'alerts'}`)}</h3>`);
    for (const a of g.alerts) {
      out.push(`<article class="alert-item ${sevClass(a.severity)}" id="alert-${e(a.alert_id)}" data-alert-id="${e(a.alert_id)}" data-rule="${e(a.rule)}" data-severity="${e(a.severity)}">`);
      out.push(`<p class="sentence">${e(a.sentence)}</p>`);
      out.push(`<p class="meta">rule <code>${e(a.rule)}</code> · detected ${e(fmtIso(a.detected_at))} · window ${e(fmtIso(a.window_start))} – ${e(fmtIso(a.window_end))}${a.agents.length ? ` · agents ${e(a.agents.join(', '))}` : ''}</p>`);
      if (a.msg_ids.length) {
        const more = a.msg_ids_total - a.msg_ids.length;
        out.push(`<div class="evidence-ids"><span>Evidence: ${e(a.msg_ids_from)} (${a.msg_ids_total} ${a.msg_ids_total === 1 ? 'message' : 'messages'}${more > 0 ? `, the first ${a.msg_ids.length} listed` : ''})</span><ul>`);
        for (const id of a.msg_ids) {
          out.push(`<li><a class="trail-link" href="#trail-${e(id)}"><code>${e(id)}</code></a> <code class="cmd">${e(trailCommand(data, id))}</code></li>`);
        }
        out.push('</ul></div>');
      } else if (a.msg_ids_from) {
        out.push(`<p class="note evidence-none">Evidence: ${e(a.msg_ids_from)}: none with a msg_id (a rejected envelope whose header did not decode has none).</p>`);
      } else {
        out.push('<p class="note evidence-none">This alert names no messages.</p>');
      }
      out.push('</article>');
    }
    out.push('</div>');
  }
  if (data.truncated.trails) out.push(`<p class="note">The page holds at most ${data.trails.length} trails: some evidence msg_ids of the less severe alerts are not listed (use <code>agentbus audit trail</code>).</p>`);
  return out.join('\n');
}

function trailsHtml(data: ReportData): string {
  if (!data.trails.length) return '<p class="empty">No alert in this period names messages.</p>';
  const rule = new Map(data.alerts.map((a) => [a.alert_id, a]));
  const have = new Set(data.trails.map((t) => t.msg_id));
  const out = ['<p class="note">Every audit row of each evidence message (the attempt, retries, replays) and the messages it caused, oldest first: what <code>agentbus audit trail --msg-id</code> prints.</p>'];
  for (const t of data.trails) {
    const refs = t.alert_ids.map((id) => {
      const a = rule.get(id);
      return `<a href="#alert-${e(id)}">${e(a ? `${a.rule} (${a.severity})` : id)}</a>`;
    });
    out.push(`<article class="trail" id="trail-${e(t.msg_id)}" data-msg-id="${e(t.msg_id)}">`);
    out.push(`<h3>msg_id <code>${e(t.msg_id)}</code></h3>`);
    out.push(`<p class="meta">evidence of ${refs.join(', ')} · <code class="cmd">${e(trailCommand(data, t.msg_id))}</code></p>`);
    if (!t.rows.length) {
      out.push('<p class="empty">No row of this msg_id in the store.</p></article>');
      continue;
    }
    out.push('<table class="trail-rows"><thead><tr><th>time</th><th>row</th><th>verdict</th><th>reason</th><th>sender → recipient</th><th>type</th><th class="num">depth</th><th>causation</th></tr></thead><tbody>');
    for (const r of t.rows) {
      const cause = !r.causation_id ? '' : have.has(r.causation_id) && r.causation_id !== t.msg_id ? `<a href="#trail-${e(r.causation_id)}"><code>${e(r.causation_id)}</code></a>` : `<code>${e(r.causation_id)}</code>`;
      out.push(`<tr class="trail-row" data-relation="${e(r.relation)}" data-verdict="${e(r.verdict)}" data-msg-id="${e(r.msg_id)}"><td>${e(fmtIso(r.time))}</td><td>${e(r.relation === 'caused' ? `caused: ${r.msg_id}` : r.relation)}</td><td class="v-${e(r.verdict)}">${e(r.verdict)}</td><td>${e(r.reason)}</td><td>${e(`${r.sender} → ${r.destination}`)}</td><td>${e(r.type)}</td><td class="num">${r.depth}</td><td>${cause}</td></tr>`);
    }
    out.push('</tbody></table>');
    if (t.truncated) out.push(`<p class="note">The first ${t.rows.length} rows only: the command above prints them all.</p>`);
    out.push('</article>');
  }
  return out.join('\n');
}

/** The page for `data`: a pure function of it (same data, same bytes). */
export function renderHtmlReport(data: ReportData): string {
  const t = data.totals;
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${sha256b64(SCRIPT)}'`,
    `style-src 'sha256-${sha256b64(CSS)}'`,
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  const fig = (n: number, label: string) => `<div><b>${n}</b>${escapeHtml(label)}</div>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>agentbus audit report ${escapeHtml(data.since)} – ${escapeHtml(data.until)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>agentbus audit report</h1>
<div class="meta">${escapeHtml(fmtIso(data.since))} – ${escapeHtml(fmtIso(data.until))} · database <code>${escapeHtml(data.database)}</code> · generated ${escapeHtml(fmtIso(data.generated_at))}</div>
<div class="totals" id="outcomes">${outcomesHtml(data.outcomes)}</div>
<div class="totals">${fig(t.messages, 'messages')}${fig(t.accepted, 'accepted')}${fig(t.rejected, 'rejected')}${fig(t.duplicate, 'duplicates')}${fig(t.senders, 'senders')}${fig(t.edges, 'edges')}${fig(t.alerts, 'alerts')}</div>
</header>
<main>
<section id="alert-list" class="wide"><h2>Alerts by severity</h2>
${alertListHtml(data)}
</section>
<section id="graph"><h2>Communication graph</h2></section>
<section id="rejections"><h2>Rejections by reason</h2></section>
<section id="per-bucket" class="wide"><h2>Messages per ${escapeHtml(data.per_bucket.bucket_label)} per sender</h2></section>
<section id="alerts" class="wide"><h2>Alerts timeline</h2></section>
<section id="trails" class="wide"><h2>Evidence trails</h2>
${trailsHtml(data)}
</section>
</main>
<noscript><p class="error">This report draws its charts with JavaScript; the data is in the report-data block of the page source.</p></noscript>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function fmtIso(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '') + ' UTC';
}

export interface ReportSummary { file: string; bytes: number; nodes: number; edges: number; rejected_edges: number; series: number; reasons: number; alerts: number; trails: number }

/** Build the data, render, and write the page (atomically: a temp file renamed into place). */
export async function writeHtmlReport(store: AuditStore, file: string, opts: ReportOptions = {}): Promise<ReportSummary> {
  const data = await buildReportData(store, opts);
  const html = renderHtmlReport(data);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, html, { encoding: 'utf8', mode: 0o644 });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot write ${file}: ${err.code ?? err.message}${err.code === 'ENOENT' ? ' (does the directory exist?)' : ''}`);
  }
  return {
    file,
    bytes: Buffer.byteLength(html),
    nodes: data.nodes.length,
    edges: data.edges.length,
    rejected_edges: data.edges.filter((e) => e.rejected > 0).length,
    series: data.per_bucket.series.length,
    reasons: data.rejections.length,
    alerts: data.alerts.length,
    trails: data.trails.length,
  };
}
