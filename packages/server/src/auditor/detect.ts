// Detection: read the per-minute aggregates (never raw rows), run the pure detectors, and emit
// each finding as an alert — to the alerts table, to NATS on agentbus.alert.<rule> (JSON), and
// to the log — at most once per cooldown per dedup key. Runs on a schedule, or on demand with
// an explicit `now` (tests and simulations use simulated time).
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { detectConfigSchema } from './config.js';
import { detectorNeeds, runDetectors } from './detectors/index.js';
import type { DetectorInput, Finding, InputNeeds, RulesConfig } from './detectors/index.js';
import { MINUTE_MS, windowEnd, windowStart } from './detectors/types.js';
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
}

export interface DetectionEngine {
  /** Evaluate at `now` (ms; default the wall clock) and emit new alerts; returns them. */
  evaluate(now?: number): Promise<Alert[]>;
  /** Emit findings made outside the detectors (e.g. a dead-lettered audit message), with the same cooldown. */
  raise(findings: Finding[], now?: number): Promise<Alert[]>;
  /** Evaluate every config.intervalMs until stop(). */
  start(): void;
  stop(): Promise<void>;
  stats(): { evaluations: number; alerts: number; suppressed: number; lastError: string | undefined };
}

export interface DetectionOptions {
  store: AuditStore;
  nc?: NatsConnection;
  logger?: Logger;
  config?: z.input<typeof detectConfigSchema>;
  /** Called for each alert emitted (metrics). */
  onAlert?: (alert: Alert) => void;
}

const secs = (ms: number) => Math.floor(ms / 1000);

/** Read everything the configured detectors need for an evaluation at `now`. */
export function loadDetectorInput(store: AuditStore, now: number, rules: RulesConfig): Promise<DetectorInput> {
  return readDetectorInput(store, now, detectorNeeds(rules));
}

/** Read what `needs` asks for (from a detector list: `detectorSet(list).needs(rules)`) at `now`. */
export async function readDetectorInput(store: AuditStore, now: number, needs: InputNeeds): Promise<DetectorInput> {
  const to = windowEnd(now);
  const from = windowStart(now, needs.lookbackMinutes);
  const agg = store.table('agg_minute');
  // (Aliases never reuse a column name: ClickHouse would substitute them in WHERE.)
  const minutes = await store.query<{ minute_ms: number; sender: string; destination: string; verdict: string; reason: string; n: number }>(
    `SELECT toUnixTimestamp(minute) * 1000 AS minute_ms, sender, destination, verdict, reason, n
     FROM ${messageCounts(store.table, ['minute', 'sender', 'destination', 'verdict', 'reason'], "minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')")}`,
    { from: secs(from), to: secs(to) },
  );
  const edges = needs.edgesMinutes === undefined ? [] : await store.query<{ sender: string; destination: string; first_ms: number; total: number; rejected: number }>(
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
  const payloads = needs.payloads === undefined ? [] : await store.query<{ hash: string; n: number; senders: string[]; destinations: string[]; first_ms: number; last_ms: number }>(
    `SELECT payload_sha256 AS hash, uniqExactMerge(events) AS n, groupUniqArray(sender) AS senders,
            groupUniqArray(destination) AS destinations,
            toUnixTimestamp64Milli(min(first_seen)) AS first_ms, toUnixTimestamp64Milli(max(last_seen)) AS last_ms
     FROM ${store.table('agg_payload_minute')}
     WHERE minute >= toDateTime({from:UInt32}, 'UTC') AND minute < toDateTime({to:UInt32}, 'UTC')
     GROUP BY payload_sha256
     HAVING n >= {min:UInt32}`,
    { from: secs(windowStart(now, needs.payloads.windowMinutes)), to: secs(to), min: needs.payloads.minRepeats },
  );
  const senderFirstSeen = new Map(firsts.map((r) => [r.sender, Number(r.first_ms)]));
  let dataStart: number | undefined;
  for (const v of senderFirstSeen.values()) if (dataStart === undefined || v < dataStart) dataStart = v;
  return {
    now,
    minutes: minutes.map((r) => ({
      minute: Number(r.minute_ms),
      sender: r.sender,
      destination: r.destination,
      verdict: r.verdict,
      reason: r.reason,
      events: Number(r.n),
    })),
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
  const st = { evaluations: 0, alerts: 0, suppressed: 0, lastError: undefined as string | undefined };

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

  async function evaluate(now: number = Date.now()): Promise<Alert[]> {
    if (!primed) await prime(now);
    const input = await loadDetectorInput(store, now, cfg.rules);
    const findings = runDetectors(input, cfg.rules);
    st.evaluations++;
    return emit(findings, now);
  }

  async function emit(findings: Finding[], now: number): Promise<Alert[]> {
    if (!primed) await prime(now);
    const fresh: Alert[] = [];
    for (const f of findings) {
      const last = lastAlerted.get(f.key);
      if (last !== undefined && now - last < cfg.cooldownMs) {
        st.suppressed++;
        continue;
      }
      lastAlerted.set(f.key, now);
      fresh.push(findingToAlert(f, now));
    }
    if (fresh.length === 0) return fresh;
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
      logger?.warn({ alert: { rule: a.rule, severity: a.severity, agents: a.agents, window_start: a.window_start, window_end: a.window_end, evidence: a.evidence } }, `alert ${a.rule}`);
    }
    if (nc && !nc.isClosed()) await nc.flush().catch(() => {});
    st.alerts += fresh.length;
    return fresh;
  }

  return {
    evaluate,
    raise: (findings, now = Date.now()) => emit(findings, now),
    start() {
      if (timer || !cfg.enabled) return;
      timer = setInterval(() => {
        if (running) return;
        running = evaluate()
          .catch((e) => {
            st.lastError = (e as Error).message;
            logger?.error({ err: st.lastError }, 'detection pass failed');
          })
          .finally(() => (running = undefined));
      }, cfg.intervalMs);
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
    stats: () => ({ ...st }),
  };
}
