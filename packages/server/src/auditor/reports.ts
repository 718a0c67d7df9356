// Ready analyst reports over the store, and a read-only SQL passthrough. Every value goes in
// as a query parameter ({name:Type}); counts never double count (aggregates are
// uniqExact(event_id); raw reads use FINAL). Time filters on the aggregates have minute
// granularity.
import type { AuditStore } from './store.js';
import { messageCounts } from './schema.js';

export interface TimeRange {
  /** ms since the epoch (inclusive); default: 24 h before `until` */
  since?: number;
  /** ms since the epoch (exclusive); default: now */
  until?: number;
  limit?: number;
}

function range(r: TimeRange): { since: number; until: number; limit: number } {
  const until = r.until ?? Date.now() + 60_000;
  return { since: Math.floor((r.since ?? until - 24 * 3600_000) / 1000), until: Math.ceil(until / 1000), limit: r.limit ?? 20 };
}

const MINUTES = `minute >= toStartOfMinute(toDateTime({since:UInt32}, 'UTC')) AND minute < toDateTime({until:UInt32}, 'UTC')`;

export interface TalkerRow {
  sender: string;
  total: number;
  accepted: number;
  rejected: number;
  duplicate: number;
}

/** Senders by number of messages, with the verdict split. */
export async function topTalkers(store: AuditStore, r: TimeRange = {}): Promise<TalkerRow[]> {
  const rows = await store.query<TalkerRow>(
    `SELECT sender, sum(n) AS total, sumIf(n, verdict = 'accepted') AS accepted, sumIf(n, verdict = 'rejected') AS rejected,
            sumIf(n, verdict = 'duplicate') AS duplicate
     FROM ${messageCounts(store.table, ['sender', 'verdict'], MINUTES)}
     GROUP BY sender ORDER BY total DESC, sender LIMIT {limit:UInt32}`,
    range(r),
  );
  return rows.map((x) => ({ ...x, total: +x.total, accepted: +x.accepted, rejected: +x.rejected, duplicate: +x.duplicate }));
}

export interface EdgeRow {
  sender: string;
  destination: string;
  total: number;
  accepted: number;
  rejected: number;
  first_seen: string;
  last_seen: string;
}

/** Who talks to whom (destination is an agent id or topic:<name>), with rejected attempts. */
export async function edges(store: AuditStore, r: TimeRange = {}): Promise<EdgeRow[]> {
  const rows = await store.query<EdgeRow>(
    `SELECT sender, destination, sum(n) AS total, sumIf(n, verdict = 'accepted') AS accepted, sumIf(n, verdict = 'rejected') AS rejected,
            toString(min(f)) AS first_seen, toString(max(l)) AS last_seen
     FROM ${messageCounts(store.table, ['sender', 'destination', 'verdict'], `${MINUTES} AND destination != ''`)}
     GROUP BY sender, destination ORDER BY total DESC, sender, destination LIMIT {limit:UInt32}`,
    range(r),
  );
  return rows.map((x) => ({ ...x, total: +x.total, accepted: +x.accepted, rejected: +x.rejected }));
}

export interface RejectionRow {
  reason: string;
  count: number;
  senders: number;
  top_sender: string;
}

/** Rejections by reason. */
export async function rejections(store: AuditStore, r: TimeRange = {}): Promise<RejectionRow[]> {
  const rows = await store.query<RejectionRow>(
    `SELECT reason, sum(n) AS count, uniqExact(sender) AS senders, argMax(sender, n) AS top_sender
     FROM ${messageCounts(store.table, ['reason', 'sender'], `${MINUTES} AND verdict = 'rejected'`)}
     GROUP BY reason ORDER BY count DESC, reason LIMIT {limit:UInt32}`,
    range(r),
  );
  return rows.map((x) => ({ ...x, count: +x.count, senders: +x.senders }));
}

export interface WouldRefuseRow {
  agent: string;
  /** The reason enforcing would have refused with (docs/design.md §18). */
  reason: string;
  /** Messages (distinct msg_ids) monitor mode delivered although policy refuses them. */
  messages: number;
  /** Their distinct destinations (recipient, or topic:<name>). */
  destinations: number;
  first_seen: string;
  last_seen: string;
  /** The newest such message: its msg_id (`audit trail --msg-id`) and detail (`would refuse: <reason> (<what>)`). */
  last_msg_id: string;
  last_detail: string;
}

/**
 * What enforcing would have refused (monitor mode, docs/design.md §18): the messages the verifier
 * delivered although policy refuses them, per agent and reason. Read from the rows (FINAL), not
 * the aggregates: a few columns of a small set, exact to the millisecond.
 */
export async function wouldRefuse(store: AuditStore, r: TimeRange & { agent?: string } = {}): Promise<WouldRefuseRow[]> {
  const until = r.until ?? Date.now() + 60_000;
  const since = r.since ?? until - 24 * 3600_000;
  const rows = await store.query<WouldRefuseRow>(
    `SELECT sender AS agent, would_refuse AS reason, uniqExact(msg_id) AS messages, uniqExact(destination) AS destinations,
            toString(min(time)) AS first_seen, toString(max(time)) AS last_seen, argMax(msg_id, time) AS last_msg_id, argMax(detail, time) AS last_detail
     FROM ${store.table('audit_events')} FINAL
     WHERE mode = 'monitor' AND would_refuse != '' AND verdict != 'rejected'
       AND time >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({until:Int64}, 'UTC')
       AND ({agent:String} = '' OR sender = {agent:String})
     GROUP BY sender, would_refuse ORDER BY messages DESC, agent, reason LIMIT {limit:UInt32}`,
    { since, until, agent: r.agent ?? '', limit: r.limit ?? 100 },
  );
  return rows.map((x) => ({ ...x, messages: +x.messages, destinations: +x.destinations }));
}

export interface AlertRowOut {
  detected_at: string;
  rule: string;
  severity: string;
  agents: string[];
  window_start: string;
  window_end: string;
  evidence: Record<string, unknown>;
  alert_id: string;
}

export async function alerts(store: AuditStore, r: TimeRange & { rule?: string } = {}): Promise<AlertRowOut[]> {
  const p = range(r);
  const rows = await store.query<Omit<AlertRowOut, 'evidence'> & { evidence: string }>(
    `SELECT detected_at, rule, severity, agents, window_start, window_end, evidence, alert_id
     FROM ${store.table('alerts')} FINAL
     WHERE detected_at >= toDateTime64({since:UInt32}, 3, 'UTC') AND detected_at < toDateTime64({until:UInt32}, 3, 'UTC')
       AND ({rule:String} = '' OR rule = {rule:String})
     ORDER BY detected_at DESC LIMIT {limit:UInt32}`,
    { ...p, rule: r.rule ?? '' },
  );
  return rows.map((x) => ({ ...x, evidence: JSON.parse(x.evidence) as Record<string, unknown> }));
}

export interface TrailRow {
  /** message | caused | trace; ` (unverified claim)` appended when the row's header fields were never verified (header_valid = 0). */
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
  trace_id: string;
  depth: number;
  key_id: string;
  prompt_version: string;
  rationale: string;
  verifier_id: string;
  /** A memory message: `<op> <ns> <status>[ rev N]` ('' otherwise). */
  memory: string;
}

/**
 * A row whose header the verifier did not check (rejected before the signature, e.g. a forged
 * msg_id) matches on the sender's claim only: its relation says so (`message (unverified claim)`).
 */
const UNVERIFIED = `if(header_valid = 1, '', ' (unverified claim)')`;

/** The trail's `memory` column. */
const MEMORY_COL = `if(memory_op = '', '', concat(memory_op, ' ', memory_ns, ' ', memory_status, if(memory_revision > 0, concat(' rev ', toString(memory_revision)), ''))) AS memory`;

/**
 * One message's trail: every audit row of the msg_id (attempts, duplicates, replays) and the
 * messages caused by it; or every row of a trace. Ordered by time.
 */
export async function trail(store: AuditStore, by: { msgId?: string; traceId?: string; limit?: number }): Promise<TrailRow[]> {
  const cols = `time, event_id, verdict, reason, sender, destination, type, msg_id, causation_id, trace_id, depth,
                key_id, prompt_version, rationale, verifier_id, ${MEMORY_COL}`;
  const t = store.table('audit_events');
  if (by.msgId) {
    return store.query<TrailRow>(
      `SELECT concat(if(msg_id = {id:String}, 'message', 'caused'), ${UNVERIFIED}) AS relation, ${cols} FROM ${t} FINAL
       WHERE msg_id = {id:String} OR causation_id = {id:String} ORDER BY time, event_id LIMIT {limit:UInt32}`,
      { id: by.msgId.toLowerCase(), limit: by.limit ?? 1000 },
    );
  }
  if (by.traceId) {
    return store.query<TrailRow>(
      `SELECT concat('trace', ${UNVERIFIED}) AS relation, ${cols} FROM ${t} FINAL WHERE trace_id = {id:String} ORDER BY time, event_id LIMIT {limit:UInt32}`,
      { id: by.traceId.toLowerCase(), limit: by.limit ?? 1000 },
    );
  }
  throw new RangeError('trail: give a msg_id or a trace_id');
}

/**
 * The trails of several messages at once (the HTML report's evidence): for each msg_id, its own
 * rows and the rows it caused (as `trail` gives them), at most `perMsg` rows each, ordered by
 * time. `key` is the msg_id a row belongs to (a row can belong to two: its own and its cause).
 */
export async function trails(store: AuditStore, msgIds: string[], perMsg = 50): Promise<(TrailRow & { key: string })[]> {
  const ids = [...new Set(msgIds.map((m) => m.toLowerCase()))];
  if (ids.length === 0) return [];
  return store.query<TrailRow & { key: string }>(
    `SELECT key, concat(if(msg_id = key, 'message', 'caused'), ${UNVERIFIED}) AS relation, time, event_id, verdict, reason, sender, destination, type, msg_id,
            causation_id, trace_id, depth, key_id, prompt_version, rationale, verifier_id, ${MEMORY_COL}
     FROM (SELECT arrayJoin(arrayDistinct(arrayFilter(x -> has({ids:Array(String)}, x), [msg_id, causation_id]))) AS key, *
           FROM ${store.table('audit_events')} FINAL WHERE msg_id IN {ids:Array(String)} OR causation_id IN {ids:Array(String)})
     ORDER BY key, time, event_id LIMIT {per:UInt32} BY key`,
    { ids, per: perMsg },
  );
}

export class ReadOnlyQueryError extends Error {
  override readonly name = 'ReadOnlyQueryError';
}

const ALLOWED = /^(SELECT|WITH|SHOW|DESCRIBE|DESC)\b/i;

/** Strip leading whitespace and comments. */
function leading(sql: string): string {
  let s = sql;
  for (;;) {
    const t = s
      .replace(/^\s+/, '')
      .replace(/^--[^\n]*(\n|$)/, '')
      .replace(/^\/\*[\s\S]*?\*\//, '');
    if (t === s) return s;
    s = t;
  }
}

/**
 * Analyst SQL, read only: one statement starting with SELECT, WITH, SHOW or DESCRIBE, run
 * with the `readonly = 1` setting (so the server refuses writes even if the text check were
 * fooled). Throws ReadOnlyQueryError before sending anything else.
 */
export async function readOnlySql(store: AuditStore, sql: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>[]> {
  const body = leading(sql).replace(/;\s*$/, '');
  if (!ALLOWED.test(body)) throw new ReadOnlyQueryError('only SELECT, WITH, SHOW or DESCRIBE queries are allowed');
  if (body.includes(';')) throw new ReadOnlyQueryError('one statement only');
  return store.readonlyQuery(body, params);
}
