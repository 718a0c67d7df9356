// Detection: read the per-minute aggregates (never raw rows), run the pure detectors, and emit
// each finding as an alert — to the alerts table, to NATS on agentbus.alert.<rule> (JSON), and
// to the log — at most once per cooldown per dedup key. Runs on a schedule, or on demand with
// an explicit `now` (tests and simulations use simulated time).
// Two schedules: every detector every `intervalMs` (a minute by default: rates, baselines,
// loops), and the threshold detectors (plugin.ts `thresholdRule`) every `thresholdIntervalMs`
// (2 s) over the open minute, when new rows were stored since the last such pass — so the first
// alert of a threshold rule comes within seconds of the row that crossed it. Both share the
// cooldown; a threshold pass also never raises a key again within the window of an alert it
// already has (so a cooldown of 0 does not mean an alert every 2 s).
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { detectConfigSchema } from './config.js';
import { alertEvidence, detectorNeeds, runDetectors, runThresholdDetectors, thresholdLookbackMinutes } from './detectors/index.js';
import { alertSentence } from './sentence.js';
import type { DetectorInput, Finding, InputNeeds, RulesConfig } from './detectors/index.js';
import { BUCKET_MINUTES, MINUTE_MS, windowEnd, windowStart } from './detectors/types.js';
import type { AuditStore } from './store.js';
import { messageCounts } from './schema.js';

/** The alert as published on agentbus.alert.<rule> and returned by the reports. */
export interface Alert {
  alert_id: string;
  rule: string;
  severity: string;
  agents: string[];
  window_start: string;
  window_end: string;
  detected_at: string;
  evidence: Record<string, unknown>;
  dedup_key: string;
  /** What happened, in one sentence ending with the rule. */
  sentence?: string;
  /** The messages it is about (at most EVIDENCE_LIMIT), oldest first. */
  msg_ids?: string[];
  /** `agentbus audit trail` for each of the first few. */
  trail?: string[];
}

/** msg_ids an alert carries at most. */
export const EVIDENCE_LIMIT = 20;
const TRAIL_COMMANDS = 5;
const MSG_ID = /^[0-9a-f]{32}$/;

/**
 * The msg_ids an alert is about: those its evidence lists (`msg_ids`), else the raw rows its
 * rule's evidence filter finds in the alert's window (the detectors count aggregates).
 */
export async function alertMsgIds(
  store: AuditStore,
  a: Pick<Alert, 'rule' | 'severity' | 'agents' | 'window_start' | 'window_end' | 'evidence'>,
  limit = EVIDENCE_LIMIT,
): Promise<string[]> {
  const listed = Array.isArray(a.evidence['msg_ids'])
    ? (a.evidence['msg_ids'] as unknown[]).filter((m): m is string => typeof m === 'string' && MSG_ID.test(m))
    : [];
  if (listed.length) return listed.slice(0, limit);
  const q = alertEvidence(a);
  if (!q || q.senders.length === 0) return [];
  const rows = await store.query<{ msg_id: string }>(
    `SELECT msg_id, min(time) AS t FROM ${store.table('audit_events')} WHERE time >= parseDateTime64BestEffort({s:String}, 3, 'UTC') AND time < parseDateTime64BestEffort({e:String}, 3, 'UTC') AND sender IN {senders:Array(String)} AND msg_id != '' AND (${q.where}) GROUP BY msg_id ORDER BY t, msg_id LIMIT {n:UInt32}`,
    { s: a.window_start, e: a.window_end, senders: q.senders, n: limit, ...q.params },
  );
  return rows.map((r) => r.msg_id);
}

/** The agents of an alert with rows decided in monitor mode in its window (docs/design.md §18). */
export async function monitorAgentsOf(store: AuditStore, a: Pick<Alert, 'agents' | 'window_start' | 'window_end'>): Promise<string[]> {
  if (!a.agents.length) return [];
  const rows = await store.query<{ sender: string }>(
    `SELECT DISTINCT sender FROM ${store.table('audit_events')} WHERE time >= parseDateTime64BestEffort({s:String}, 3, 'UTC') AND time < parseDateTime64BestEffort({e:String}, 3, 'UTC') AND sender IN {senders:Array(String)} AND mode = 'monitor' ORDER BY sender`,
    { s: a.window_start, e: a.window_end, senders: a.agents },
  );
  return rows.map((r) => r.sender);
}

export interface DetectionEngine {
  /** Evaluate at `now` (ms; default the wall clock) and emit new alerts; returns them. */
  evaluate(now?: number): Promise<Alert[]>;
  /** Run the threshold detectors only, at `now` (what the threshold schedule runs), and emit new alerts; returns them. */
  evaluateThresholds(now?: number): Promise<Alert[]>;
  /** Emit findings made outside the detectors (e.g. a dead-lettered audit message), with the same cooldown. */
  raise(findings: Finding[], now?: number): Promise<Alert[]>;
  /** Evaluate every config.intervalMs, and the threshold detectors every config.thresholdIntervalMs, until stop(). */
  start(): void;
  stop(): Promise<void>;
  stats(): { evaluations: number; thresholdEvaluations: number; alerts: number; suppressed: number; lastError: string | undefined };
}

export interface DetectionOptions {
  store: AuditStore;
  nc?: NatsConnection;
  logger?: Logger;
  config?: z.input<typeof detectConfigSchema>;
  /** Called for each alert emitted (metrics). */
  onAlert?: (alert: Alert) => void;
  /**
   * A count that grows when rows are stored (the consumer's stored events): the threshold
   * schedule skips a pass when it has not moved. Absent: every pass runs.
   */
  changed?: () => number;
}

const secs = (ms: number) => Math.floor(ms / 1000);

/** Causal rows one evaluation reads at most. */
const MAX_LINKS = 50_000;
interface LinkRow {
  msg_id: string;
  causation_id: string;
  sender: string;
  destination: string;
  type: string;
  sha: string;
  t: number;
}

/** Read everything the configured detectors need for an evaluation at `now`. */
export function loadDetectorInput(store: AuditStore, now: number, rules: RulesConfig): Promise<DetectorInput> {
  return readDetectorInput(store, now, detectorNeeds(rules));
}

/** The per-minute counts of the `lookbackMinutes` minutes up to the end of `now`'s minute (the open one included). */
async function readMinutes(store: AuditStore, now: number, lookbackMinutes: number): Promise<DetectorInput['minutes']> {
  // (Aliases never reuse a column name: ClickHouse would substitute them in WHERE.)
  const rows = await store.query<{ minute_ms: number; sender: string; destination: string; verdict: string; reason: string; n: number }>(
    `SELECT toUnixTimestamp(minute) * 1000 AS minute_ms, sender, destination, verdict, reason, n
     FROM ${messageCounts(store.table, ['minute', 'sender', 'destination', 'verdict', 'reason'], "minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')")}`,
    { from: secs(windowStart(now, lookbackMinutes)), to: secs(windowEnd(now)) },
  );
  return rows.map((r) => ({
    minute: Number(r.minute_ms),
    sender: r.sender,
    destination: r.destination,
    verdict: r.verdict,
    reason: r.reason,
    events: Number(r.n),
  }));
}

/** Monitor mode's "would refuse" counts per minute (docs/monitor-mode.md), as accepted rows with their reason. */
async function readWouldRefuse(store: AuditStore, now: number, lookbackMinutes: number): Promise<NonNullable<DetectorInput['wouldRefuse']>> {
  const rows = await store.query<{ minute_ms: number; sender: string; destination: string; reason: string; n: number }>(
    `SELECT toUnixTimestamp(minute) * 1000 AS minute_ms, sender, destination, reason, uniqExactMerge(events) AS n FROM ${store.table('agg_would_refuse_minute')}
     WHERE minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC') GROUP BY minute, sender, destination, reason`,
    { from: secs(windowStart(now, lookbackMinutes)), to: secs(windowEnd(now)) },
  );
  return rows.map((r) => ({
    minute: Number(r.minute_ms),
    sender: r.sender,
    destination: r.destination,
    verdict: 'accepted',
    reason: r.reason,
    events: Number(r.n),
  }));
}

/** What the threshold detectors read: the minutes of their windows, nothing else (plugin.ts `thresholdRule`). */
export async function readThresholdInput(store: AuditStore, now: number, rules: RulesConfig): Promise<DetectorInput> {
  const lookback = thresholdLookbackMinutes(rules);
  return {
    now,
    minutes: await readMinutes(store, now, lookback),
    wouldRefuse: await readWouldRefuse(store, now, lookback),
    edges: [],
    payloads: [],
    links: [],
    buckets: [],
    senderFirstSeen: new Map(),
    dataStart: undefined,
  };
}

/** Read what `needs` asks for (from a detector list: `detectorSet(list).needs(rules)`) at `now`. */
export async function readDetectorInput(store: AuditStore, now: number, needs: InputNeeds): Promise<DetectorInput> {
  const to = windowEnd(now);
  const agg = store.table('agg_minute');
  const minutes = await readMinutes(store, now, needs.lookbackMinutes);
  const wouldRefuse = await readWouldRefuse(store, now, needs.lookbackMinutes);
  const edges =
    needs.edgesMinutes === undefined
      ? []
      : await store.query<{ sender: string; destination: string; first_ms: number; total: number; rejected: number }>(
          `SELECT sender, destination, min(f) AS first_ms, sum(n) AS total, sumIf(n, verdict = 'rejected') AS rejected
     FROM (
       SELECT sender, destination, verdict, toUnixTimestamp64Milli(f) AS f, n
       FROM ${messageCounts(store.table, ['sender', 'destination', 'verdict'], "minute < toDateTime({to:UInt32}, 'UTC')")}
     )
     GROUP BY sender, destination
     HAVING first_ms >= {since:Int64}`,
          { to: secs(to), since: windowStart(now, needs.edgesMinutes) },
        );
  const firsts = await store.query<{ sender: string; first_ms: number }>(
    `SELECT sender, toUnixTimestamp64Milli(min(first_seen)) AS first_ms FROM ${agg}
     WHERE minute < toDateTime({to:UInt32}, 'UTC') GROUP BY sender`,
    { to: secs(to) },
  );
  const payloads =
    needs.payloads === undefined
      ? []
      : await store.query<{ hash: string; n: number; senders: string[]; destinations: string[]; first_ms: number; last_ms: number }>(
          `SELECT payload_sha256 AS hash, uniqExactMerge(events) AS n, groupUniqArray(sender) AS senders,
            groupUniqArray(destination) AS destinations,
            toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms
     FROM ${store.table('agg_payload_minute')}
     WHERE minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')
     GROUP BY payload_sha256
     HAVING n >= {min:UInt32}`,
          { from: secs(windowStart(now, needs.payloads.windowMinutes)), to: secs(to), min: needs.payloads.minRepeats },
        );
  // causal chains (detectors/payload-loop.ts): the accepted rows of every trace in which one step
  // (sender, destination, payload — its type when a row has no hash) occurs twice, and, for rows
  // whose trace ids do not follow the chain, the causal rows whose step repeats anywhere in the
  // window; then their missing causes, a level at a time, so a chain through messages that
  // occur once is followed too. FINAL-free: one row per msg_id.
  const links: LinkRow[] = [];
  if (needs.causalMinutes !== undefined) {
    const range = { from: windowStart(now, needs.causalMinutes), to };
    const w = `SELECT msg_id, causation_id, trace_id, sender, destination, type, payload_sha256 AS sha, toUnixTimestamp64Milli(time) AS t,
                      if(payload_sha256 = '', concat('type:', type), payload_sha256) AS pat
               FROM ${store.table('audit_events')}
               WHERE verdict = 'accepted' AND msg_id != '' AND time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`;
    const cols = 'msg_id, causation_id, sender, destination, type, sha, t';
    const first = await store.query<LinkRow>(
      `WITH w AS (${w})
       SELECT ${cols} FROM w
       WHERE (trace_id != '' AND trace_id IN (SELECT trace_id FROM w WHERE trace_id != '' GROUP BY trace_id, sender, destination, pat HAVING uniqExact(msg_id) >= 2))
          OR ((sender, destination, pat) IN (SELECT sender, destination, pat FROM w WHERE causation_id != '' GROUP BY sender, destination, pat HAVING uniqExact(msg_id) >= 2)
              AND (causation_id != '' OR msg_id IN (SELECT causation_id FROM w WHERE causation_id != '')))
       ORDER BY t LIMIT 1 BY msg_id LIMIT {max:UInt32}`,
      { ...range, max: MAX_LINKS },
    );
    links.push(...first);
    const have = new Set(first.map((r) => r.msg_id));
    for (let round = 0; round < 16 && links.length < MAX_LINKS; round++) {
      const missing = [...new Set(links.map((r) => r.causation_id).filter((c) => c && !have.has(c)))].slice(0, 5000);
      if (!missing.length) break;
      const more = await store.query<LinkRow>(`SELECT ${cols} FROM (${w}) WHERE msg_id IN {ids:Array(String)} ORDER BY t LIMIT 1 BY msg_id`, {
        ...range,
        ids: missing,
      });
      for (const r of more) if (!have.has(r.msg_id)) have.add(r.msg_id), links.push(r);
      // a cause outside the window (or not accepted) is a root: do not ask again
      for (const id of missing) have.add(id);
    }
  }
  const buckets =
    needs.longMinutes === undefined
      ? []
      : await store.query<{ b: number; sender: string; dest: string; verdict: string; reason: string; n: number }>(
          `SELECT intDiv(toUnixTimestamp(minute), {bs:UInt32}) * {bs:UInt32} * 1000 AS b, sender, if(verdict = 'rejected', destination, '') AS dest, verdict, reason, sum(n) AS n
     FROM ${messageCounts(store.table, ['minute', 'sender', 'destination', 'verdict', 'reason'], "minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')")}
     GROUP BY b, sender, dest, verdict, reason`,
          { from: secs(windowStart(now, needs.longMinutes)), to: secs(to), bs: BUCKET_MINUTES * 60 },
        );
  const senderFirstSeen = new Map(firsts.map((r) => [r.sender, Number(r.first_ms)]));
  let dataStart: number | undefined;
  for (const v of senderFirstSeen.values()) if (dataStart === undefined || v < dataStart) dataStart = v;
  return {
    now,
    minutes,
    wouldRefuse,
    edges: edges.map((r) => ({
      sender: r.sender,
      destination: r.destination,
      firstSeen: Number(r.first_ms),
      events: Number(r.total),
      rejected: Number(r.rejected),
    })),
    payloads: payloads.map((r) => ({
      payloadSha256: r.hash,
      events: Number(r.n),
      senders: r.senders,
      destinations: r.destinations,
      firstSeen: Number(r.first_ms),
      lastSeen: Number(r.last_ms),
    })),
    links: links.map((r) => ({
      msgId: r.msg_id,
      causationId: r.causation_id,
      sender: r.sender,
      destination: r.destination,
      type: r.type,
      payloadSha256: r.sha,
      time: Number(r.t),
    })),
    buckets: buckets.map((r) => ({ minute: Number(r.b), sender: r.sender, destination: r.dest, verdict: r.verdict, reason: r.reason, events: Number(r.n) })),
    senderFirstSeen,
    dataStart,
  };
}

export function findingToAlert(f: Finding, now: number): Alert {
  return {
    alert_id: randomBytes(16).toString('hex'),
    rule: f.rule,
    severity: f.severity,
    agents: f.agents,
    window_start: new Date(f.windowStart).toISOString(),
    window_end: new Date(f.windowEnd).toISOString(),
    detected_at: new Date(now).toISOString(),
    evidence: f.evidence,
    dedup_key: f.key,
  };
}

export function createDetectionEngine(opts: DetectionOptions): DetectionEngine {
  const cfg = detectConfigSchema.parse(opts.config ?? {});
  const { store, nc, logger } = opts;
  const lastAlerted = new Map<string, number>();
  let primed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let thresholdTimer: NodeJS.Timeout | undefined;
  let thresholdRunning: Promise<unknown> | undefined;
  let seen: number | undefined;
  const st = { evaluations: 0, thresholdEvaluations: 0, alerts: 0, suppressed: 0, lastError: undefined as string | undefined };

  /** Cooldowns survive restarts: remember what the alerts table already holds. */
  async function prime(now: number) {
    const rows = await store.query<{ dedup_key: string; at: number }>(
      `SELECT dedup_key, toUnixTimestamp64Milli(max(detected_at)) AS at FROM ${store.table('alerts')}
       WHERE detected_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') GROUP BY dedup_key`,
      { since: now - cfg.cooldownMs - MINUTE_MS },
    );
    for (const r of rows) lastAlerted.set(r.dedup_key, Number(r.at));
    primed = true;
  }

  // One pass at a time, scheduled or asked for: a pass marks its findings alerted before it has
  // stored them, so a second pass running beside it would suppress them and its caller could
  // read the alerts table before the first pass's insert (the demo missed alerts that way).
  let queue: Promise<unknown> = Promise.resolve();
  function serial<T>(f: () => Promise<T>): Promise<T> {
    const run = queue.then(f, f);
    queue = run.catch(() => undefined);
    return run;
  }

  function evaluate(now: number = Date.now()): Promise<Alert[]> {
    return serial(async () => {
      if (!primed) await prime(now);
      const input = await loadDetectorInput(store, now, cfg.rules);
      const findings = runDetectors(input, cfg.rules);
      st.evaluations++;
      return emitNow(findings, now);
    });
  }

  function evaluateThresholds(now: number = Date.now()): Promise<Alert[]> {
    return serial(async () => {
      if (!primed) await prime(now);
      const findings = runThresholdDetectors(await readThresholdInput(store, now, cfg.rules), cfg.rules);
      st.thresholdEvaluations++;
      return emitNow(findings, now, true);
    });
  }

  function emit(findings: Finding[], now: number): Promise<Alert[]> {
    return serial(() => emitNow(findings, now));
  }

  /** `early`: a threshold pass — it also skips a key alerted within the finding's window, and a skip is not counted as suppressed (it repeats every pass). */
  async function emitNow(findings: Finding[], now: number, early = false): Promise<Alert[]> {
    if (!primed) await prime(now);
    const fresh: Alert[] = [];
    for (const f of findings) {
      const last = lastAlerted.get(f.key);
      if (last !== undefined && (now - last < cfg.cooldownMs || (early && last >= f.windowStart))) {
        if (!early) st.suppressed++;
        continue;
      }
      lastAlerted.set(f.key, now);
      fresh.push(findingToAlert(f, now));
    }
    if (fresh.length === 0) return fresh;
    // what a person acts on: the sentence, the messages, the commands that show them
    for (const a of fresh) {
      try {
        // which mode decided (docs/design.md §18): the alert's agents whose rows in its window were decided in monitor mode
        const monitored = await monitorAgentsOf(store, a);
        if (monitored.length) a.evidence = { ...a.evidence, monitor_agents: monitored };
      } catch (e) {
        logger?.warn({ rule: a.rule, err: (e as Error).message }, 'alert mode lookup failed');
      }
      try {
        a.sentence = alertSentence(a);
        a.msg_ids = await alertMsgIds(store, a);
      } catch (e) {
        logger?.warn({ rule: a.rule, err: (e as Error).message }, 'alert evidence lookup failed');
        a.msg_ids = [];
      }
      if (a.msg_ids.length && !Array.isArray(a.evidence['msg_ids'])) a.evidence = { ...a.evidence, msg_ids: a.msg_ids };
      a.trail = a.msg_ids.slice(0, TRAIL_COMMANDS).map((id) => `agentbus audit trail --msg-id ${id}`);
    }
    await store.insertAlerts(
      fresh.map((a) => ({
        alert_id: a.alert_id,
        rule: a.rule,
        severity: a.severity,
        agents: a.agents,
        dedup_key: a.dedup_key,
        window_start: Date.parse(a.window_start),
        window_end: Date.parse(a.window_end),
        detected_at: now,
        evidence: JSON.stringify(a.evidence),
      })),
    );
    const enc = new TextEncoder();
    for (const a of fresh) {
      if (nc && !nc.isClosed()) nc.publish(`${cfg.alertSubjectPrefix}.${a.rule}`, enc.encode(JSON.stringify(a)));
      opts.onAlert?.(a);
      logger?.warn(
        {
          alert: {
            rule: a.rule,
            severity: a.severity,
            agents: a.agents,
            window_start: a.window_start,
            window_end: a.window_end,
            sentence: a.sentence,
            msg_ids: a.msg_ids,
            evidence: a.evidence,
          },
        },
        `alert ${a.rule}: ${a.sentence ?? a.agents.join(', ')}`,
      );
    }
    if (nc && !nc.isClosed()) await nc.flush().catch(() => {});
    st.alerts += fresh.length;
    return fresh;
  }

  const failed = (what: string) => (e: unknown) => {
    st.lastError = (e as Error).message;
    logger?.error({ err: st.lastError }, `${what} failed`);
  };
  return {
    evaluate,
    evaluateThresholds,
    raise: (findings, now = Date.now()) => emit(findings, now),
    start() {
      if (timer || !cfg.enabled) return;
      timer = setInterval(() => {
        if (running) return;
        running = evaluate()
          .catch(failed('detection pass'))
          .finally(() => (running = undefined));
      }, cfg.intervalMs);
      if (cfg.thresholdIntervalMs > 0) {
        seen = undefined; // the first pass runs: rows may have been stored before start()
        thresholdTimer = setInterval(() => {
          if (thresholdRunning) return;
          // nothing stored since the last pass: nothing new to count
          const count = opts.changed?.();
          if (count !== undefined && count === seen) return;
          seen = count;
          thresholdRunning = evaluateThresholds()
            .catch(failed('threshold detection pass'))
            .finally(() => (thresholdRunning = undefined));
        }, cfg.thresholdIntervalMs);
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
      if (thresholdTimer) clearInterval(thresholdTimer);
      timer = thresholdTimer = undefined;
      await running;
      await thresholdRunning;
    },
    stats: () => ({ ...st }),
  };
}
