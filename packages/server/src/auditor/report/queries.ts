// The report's queries: everything the page shows, computed from the store for one period (the
// ready reports, a time series whose bucket fits the run's span, the delivery outcomes, each
// alert's sentence and evidence msg_ids with their trails). Every value goes in as a query
// parameter ({name:Type}); raw reads use FINAL, so a redelivered row never counts twice.
import type { AuditStore } from '../store.js';
import { messageCounts } from '../schema.js';
import { alerts, edges, rejections, topTalkers, trails, wouldRefuse } from '../reports.js';
import type { AlertRowOut, EdgeRow } from '../reports.js';
import { alertEvidence, isDetectorRule } from '../detectors/index.js';
import type { EvidenceQuery } from '../detectors/index.js';
import { alertSentence } from '../sentence.js';
import { DEAD_LETTER_RULE } from '../defaults.js';
import { list, obj, strs } from '../detectors/explain.js';
import type { ReportAlert, ReportData, ReportNode, ReportOptions, ReportOutcomes, ReportRefusal, ReportRows, ReportSeries, ReportTrailRow } from './types.js';

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
  return {
    where: '1',
    params: {},
    from: `messages of ${list(a.agents)} in the alert's window (a rule this report does not know: all their messages)`,
    senders: a.agents,
  };
}

const SEVERITY_RANK: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3 };
/** Highest severity first (critical, high, medium, low, then any other by name), then the latest first. */
export function bySeverity<T extends { severity: string; detected_at: string; alert_id: string }>(a: T, b: T): number {
  const ra = SEVERITY_RANK[a.severity] ?? 4,
    rb = SEVERITY_RANK[b.severity] ?? 4;
  if (ra !== rb) return ra - rb;
  if (a.severity !== b.severity) return a.severity < b.severity ? -1 : 1;
  if (a.detected_at !== b.detected_at) return a.detected_at < b.detected_at ? 1 : -1;
  return a.alert_id < b.alert_id ? -1 : a.alert_id > b.alert_id ? 1 : 0;
}

/**
 * The accepted direct messages of the period that their recipient's client refused and no
 * recipient confirmed (the `recipient_refused` outcome), the latest refusal first: who sent what
 * to whom, and the recipient's reason.
 */
async function recipientRefusals(store: AuditStore, p: { since: number; until: number }, limit: number): Promise<ReportRefusal[]> {
  const events = store.table('audit_events');
  const rows = await store.query<{ msg_id: string; at: number; recipient: string; reason: string; detail: string; sender: string; type: string }>(
    `SELECT d.msg_id AS msg_id, d.at AS at, d.recipient AS recipient, d.reason AS reason, d.detail AS detail, e.sender AS sender, e.type AS type
     FROM (
       SELECT msg_id, toUnixTimestamp64Milli(minIf(at, delivery = 'refused')) AS at, anyIf(recipient, delivery = 'refused') AS recipient,
              anyIf(reason, delivery = 'refused') AS reason, anyIf(detail, delivery = 'refused') AS detail
       FROM ${store.table('audit_deliveries')}
       WHERE msg_id IN (SELECT msg_id FROM ${events} WHERE ${RAW_MINUTES} AND verdict = 'accepted' AND recipient != '' AND msg_id != '')
       GROUP BY msg_id HAVING max(delivery = 'refused') AND NOT max(delivery = 'confirmed')
     ) AS d
     LEFT JOIN (SELECT msg_id, any(sender) AS sender, any(type) AS type FROM ${events} FINAL WHERE ${RAW_MINUTES} AND verdict = 'accepted' AND msg_id != '' GROUP BY msg_id) AS e
       ON e.msg_id = d.msg_id
     ORDER BY at DESC, msg_id LIMIT {limit:UInt32}`,
    { ...p, limit },
  );
  return rows.map((r) => ({
    msg_id: r.msg_id,
    at: new Date(Number(r.at)).toISOString(),
    sender: r.sender,
    recipient: r.recipient,
    type: r.type,
    reason: r.reason,
    detail: r.detail,
    trail: false,
  }));
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

  const [talkers, edgeRows, rejRows, alertRows, wouldRows] = await Promise.all([
    topTalkers(store, r),
    edges(store, r),
    rejections(store, r),
    alerts(store, r),
    wouldRefuse(store, { since, until, limit }),
  ]);

  // Time chart: the bucket width comes from the span of the run (first to last message), so a
  // 30-second demo is 30 one-second buckets, not one minute. Buckets under a minute read the raw
  // rows (FINAL; a shed row counts as its shed_count); a minute or more, the aggregates.
  const [bounds] = await store.query<{ lo: number; hi: number; n: number }>(
    `SELECT toUnixTimestamp64Milli(min(f)) AS lo, toUnixTimestamp64Milli(max(l)) AS hi, count() AS n FROM ${messageCounts(store.table, ['sender'], MINUTES)}`,
    p,
  );
  let bucket = 1;
  let first = '',
    last = '';
  const times: string[] = [];
  const series: ReportSeries[] = [];
  if (bounds && Number(bounds.n) > 0) {
    const lo = Number(bounds.lo),
      hi = Number(bounds.hi);
    first = new Date(lo).toISOString();
    last = new Date(hi).toISOString();
    bucket = chooseBucketSeconds(hi - lo, maxBuckets);
    const rows =
      bucket < 60
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
  const direct = Number(v?.direct ?? 0),
    delivered = Number(d?.delivered ?? 0),
    undelivered = Number(d?.undelivered ?? 0),
    recipientRefused = Number(d?.recipient_refused ?? 0);
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

  // The totals of the period, whatever the lists' limit; how its audit rows add up to its
  // messages (a shed row stands for its shed_count messages).
  const [tot] = await store.query<{ messages: number; accepted: number; rejected: number; duplicate: number; senders: number }>(
    `SELECT sum(n) AS messages, sumIf(n, verdict = 'accepted') AS accepted, sumIf(n, verdict = 'rejected') AS rejected,
            sumIf(n, verdict = 'duplicate') AS duplicate, uniqExactIf(sender, n > 0) AS senders
     FROM ${messageCounts(store.table, ['sender', 'verdict'], MINUTES)}`,
    p,
  );
  const [edgeCount] = await store.query<{ n: number }>(
    `SELECT count() AS n FROM ${messageCounts(store.table, ['sender', 'destination'], `${MINUTES} AND destination != ''`)}`,
    p,
  );
  const [alertCount] = await store.query<{ n: number }>(
    `SELECT count() AS n FROM ${store.table('alerts')} FINAL
     WHERE detected_at >= toDateTime64({since:UInt32}, 3, 'UTC') AND detected_at < toDateTime64({until:UInt32}, 3, 'UTC')`,
    p,
  );
  const [rc] = await store.query<{ rows: number; shed_rows: number; shed: number }>(
    `SELECT count() AS rows, countIf(shed_count > 0) AS shed_rows, sum(toUInt64(shed_count)) AS shed FROM ${events} FINAL WHERE ${RAW_MINUTES}`,
    p,
  );
  const rowCounts: ReportRows = {
    rows: Number(rc?.rows ?? 0),
    shed_rows: Number(rc?.shed_rows ?? 0),
    shed: Number(rc?.shed ?? 0),
    messages: 0,
  };
  rowCounts.messages = rowCounts.rows - rowCounts.shed_rows + rowCounts.shed;
  const refusals = await recipientRefusals(store, p, limit);

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
  // the refused messages' trails, while the budget lasts
  const refusedIds = new Set<string>();
  for (const x of refusals) {
    if (!trailOf.has(x.msg_id)) {
      if (trailOf.size >= maxTrails) {
        trailsTruncated = true;
        continue;
      }
      trailOf.set(x.msg_id, []);
    }
    refusedIds.add(x.msg_id);
    x.trail = true;
  }
  const trailRows = await trails(store, [...trailOf.keys()], maxTrailRows + 1);
  const rowsOf = new Map<string, ReportTrailRow[]>();
  for (const t of trailRows) {
    let list = rowsOf.get(t.key);
    if (!list) rowsOf.set(t.key, (list = []));
    list.push({
      relation: t.relation,
      time: chToIso(t.time),
      event_id: t.event_id,
      verdict: t.verdict,
      reason: t.reason,
      sender: t.sender,
      destination: t.destination,
      type: t.type,
      msg_id: t.msg_id,
      causation_id: t.causation_id,
      depth: Number(t.depth),
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

  return {
    version: 2,
    generated_at: new Date().toISOString(),
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    database: store.database,
    store: opts.store ?? '',
    state_dir: opts.store === undefined ? (opts.stateDir ?? '') : '',
    totals: {
      messages: Number(tot?.messages ?? 0),
      accepted: Number(tot?.accepted ?? 0),
      rejected: Number(tot?.rejected ?? 0),
      duplicate: Number(tot?.duplicate ?? 0),
      senders: Number(tot?.senders ?? 0),
      edges: Number(edgeCount?.n ?? 0),
      alerts: Number(alertCount?.n ?? 0),
    },
    outcomes,
    rows: rowCounts,
    refusals,
    truncated: {
      talkers: talkers.length >= limit,
      edges: edgeRows.length >= limit,
      rejections: rejRows.length >= limit,
      alerts: alertRows.length >= limit,
      trails: trailsTruncated,
      refusals: refusals.length >= limit,
    },
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
    ...(wouldRows.length ? { would_refuse: wouldRows.map((w) => ({ ...w, first_seen: chToIso(w.first_seen), last_seen: chToIso(w.last_seen) })) } : {}),
    trails: [...trailOf.entries()].map(([msg_id, alert_ids]) => {
      const rows = rowsOf.get(msg_id) ?? [];
      return { msg_id, alert_ids, refused: refusedIds.has(msg_id), rows: rows.slice(0, maxTrailRows), truncated: rows.length > maxTrailRows };
    }),
  };
}
