// The auditor's Prometheus metrics and its readiness (issue 8). Served by the HTTP server of
// bus/metrics.ts (/metrics, /healthz, /readyz) from a per-auditor Registry. Counts are read
// from the consumer's stats at scrape time; lag asks JetStream at most once a second.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { mirrorCounter } from '../common/metrics.js';
import type { Probe } from '../common/metrics.js';
import { RULES } from './detectors/index.js';
import type { ConsumerStats } from './consumer.js';

export interface AuditorMetricsSource {
  consumer(): ConsumerStats;
  /** Ask JetStream how far behind the consumer is. */
  lag(): Promise<number>;
}

/** How long one lag answer is reused: scrapes never ask JetStream more than once a second. */
export const LAG_REFRESH_MS = 1000;

export class AuditorMetrics {
  readonly registry: Registry;
  readonly #alerts: Counter<'rule'>;

  constructor(src: AuditorMetricsSource, opts: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    const registry = (this.registry = opts.registry ?? new Registry());
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
    mirrorCounter(
      registry,
      'agentbus_auditor_events_stored_total',
      'Audit events inserted into the store (a redelivered event counts again; the store keeps one row)',
      () => src.consumer().events,
    );
    mirrorCounter(
      registry,
      'agentbus_auditor_insert_errors_total',
      'Failed insert attempts (each is retried with backoff)',
      () => src.consumer().insertFailures,
    );
    mirrorCounter(
      registry,
      'agentbus_auditor_dead_letters_total',
      'Audit messages that are not audit batches, kept in the AUDIT_DLQ stream',
      () => src.consumer().poison,
    );
    mirrorCounter(
      registry,
      'agentbus_auditor_fallback_rows_total',
      'Rows the store refused as data, stored as their fallback row',
      () => src.consumer().fallbackRows,
    );
    mirrorCounter(
      registry,
      'agentbus_auditor_skipped_batches_total',
      'Audit batches skipped because the store had them already (redelivered or kept twice)',
      () => src.consumer().skippedBatches,
    );
    let lag = 0;
    let lagAt = -Infinity;
    let asking: Promise<void> | undefined;
    const ask = async () => {
      try {
        lag = await withTimeout(src.lag(), 1000);
      } catch {
        lag = src.consumer().lag; // NATS unreachable: the consumer's last known figure
      }
      lagAt = Date.now();
    };
    const refreshLag = () => (asking ??= ask().finally(() => (asking = undefined)));
    new Gauge({
      name: 'agentbus_auditor_lag_events',
      help: 'Audit stream messages not yet stored and acked by the auditor (JetStream pending + ack pending)',
      registers: [registry],
      async collect() {
        if (Date.now() - lagAt >= LAG_REFRESH_MS) await refreshLag();
        this.set(lag);
      },
    });
    this.#alerts = new Counter({
      name: 'agentbus_alerts_total',
      help: 'Alerts emitted by the detectors, by rule',
      labelNames: ['rule'],
      registers: [registry],
    });
    for (const rule of RULES) this.#alerts.labels({ rule }).inc(0);
  }

  /** One alert emitted. */
  alert(rule: string): void {
    this.#alerts.inc({ rule });
  }
}

/**
 * Readiness of the store: a ping (SELECT 1 on chDB, /ping on a server) answered recently. A
 * probe reuses an answer younger than `cacheMs`, so probes cost at most one ping per period.
 */
export function storeReadiness(ping: () => Promise<boolean>, opts: { cacheMs?: number; timeoutMs?: number } = {}): () => Promise<Probe> {
  const cacheMs = opts.cacheMs ?? 2000;
  const timeoutMs = opts.timeoutMs ?? 2000;
  let last: { at: number; probe: Probe } | undefined;
  let pinging: Promise<Probe> | undefined;
  return () => {
    if (last && Date.now() - last.at < cacheMs) return Promise.resolve(last.probe);
    return (pinging ??= (async () => {
      let probe: Probe;
      try {
        probe = (await withTimeout(ping(), timeoutMs)) ? { ok: true } : { ok: false, reason: 'store ping failed' };
      } catch (e) {
        probe = { ok: false, reason: `store ping failed: ${(e as Error).message.split('\n')[0]!.slice(0, 200)}` };
      }
      last = { at: Date.now(), probe };
      return probe;
    })().finally(() => (pinging = undefined)));
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(t),
  );
}
