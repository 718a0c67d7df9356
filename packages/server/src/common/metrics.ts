// Prometheus metrics and health endpoints (issue 8): a small HTTP server (/metrics, /healthz,
// /readyz) over a per-service prom-client Registry — never the global one, so two services can
// run in one process (tests) — and the verifier's metrics.
//
// The verifier's per-message cost is kept to plain arithmetic: verdicts are counted in a typed
// array (one increment, no label objects) and copied into the prom-client counter only when
// scraped; the check-time histogram is one prom-client observe() (~0.1 µs) plus two hrtime
// reads, and only when metrics are on.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { NatsConnection } from '@nats-io/transport-node';
import { Reason, Verdict, allReasons, reasonName, verdictName } from '@agentbus/protocol';

export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** A probe's answer: 200 with {status: "ok", ...detail}, or 503 with {status: "unavailable", reason}. */
export interface Probe {
  ok: boolean;
  reason?: string;
  detail?: Record<string, unknown>;
}

export interface MetricsServerOptions {
  /** TCP port (> 0). */
  port: number;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  registry: Registry;
  healthz(): Probe | Promise<Probe>;
  readyz(): Probe | Promise<Probe>;
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  /** Stop listening and drop open (keep-alive) connections. Idempotent. */
  close(): Promise<void>;
}

export class MetricsServerError extends Error {
  override readonly name = 'MetricsServerError';
}

/** Serve /metrics (text exposition), /healthz and /readyz (JSON) until close(). */
export function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const host = opts.host || DEFAULT_METRICS_HOST;
  const server: Server = createServer((req, res) => void handle(opts, req, res));
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => reject(new MetricsServerError(`cannot serve metrics on ${host}:${opts.port}: ${e.code ?? e.message}`));
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      const port = (server.address() as AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        host,
        port,
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}

async function handle(opts: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', head, { allow: 'GET, HEAD' });
  try {
    if (path === '/metrics') {
      const text = await opts.registry.metrics();
      return send(res, 200, opts.registry.contentType, text, head);
    }
    if (path === '/healthz' || path === '/readyz') {
      const p = await (path === '/healthz' ? opts.healthz() : opts.readyz());
      const body = p.ok ? { status: 'ok', ...p.detail } : { status: 'unavailable', reason: p.reason ?? 'not ready', ...p.detail };
      return send(res, p.ok ? 200 : 503, 'application/json', JSON.stringify(body) + '\n', head);
    }
    return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz, /readyz\n', head);
  } catch (e) {
    return send(res, 500, 'text/plain; charset=utf-8', `${(e as Error).message}\n`, head);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
  res.end(head ? undefined : body);
}

/**
 * Whether a NATS connection is up right now: follows its status events (disconnect,
 * reconnect, close). `closed` is nc.isClosed().
 */
export function watchConnection(nc: NatsConnection): { readonly connected: boolean; readonly closed: boolean } {
  let connected = !nc.isClosed();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'close') connected = false;
      else if (s.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);
  return {
    get connected() {
      return connected && !nc.isClosed();
    },
    get closed() {
      return nc.isClosed();
    },
  };
}

/** A counter that mirrors a monotonic number read at scrape time (the service keeps the count). */
export function mirrorCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  let last = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (v > last) {
        this.inc(v - last);
        last = v;
      }
    },
  });
}

/** A gauge set from a number read at scrape time. */
export function readGauge(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** What the verifier's metrics read at scrape time. */
export interface VerifierMetricsSource {
  partitionsOwned(): number;
  inflight(): number;
  replayEntries(): number;
  redeliveries(): number;
  unconfirmed(): number;
  replayBytes(): number;
  pendingDeliveries(): number;
  auditPublishErrors(): number;
  manifestReloads(): number;
  manifestErrors(): number;
  /** Messages shed unverified (rejection budget spent). */
  shed(): number;
}

/** Buckets of agentbus_verifier_verify_seconds: 10 µs … 10 ms. */
export const AUDIT_COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
export const VERIFY_SECONDS_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01];

/** Label value of `reason` for accepted and duplicate messages. */
export const NO_REASON = 'none';

// verdict × reason cells of the verdict counter; reasons beyond the stride (enums are open) go to a map
const REASON_STRIDE = 64;
const VERDICTS = 4;

export class VerifierMetrics {
  readonly registry: Registry;
  #counts = new Float64Array(VERDICTS * REASON_STRIDE);
  #exported = new Float64Array(VERDICTS * REASON_STRIDE);
  #children: ({ inc(n?: number): void } | undefined)[] = [];
  #other = new Map<string, { n: number; done: number; verdict: number; reason: number }>();
  readonly #messages: Counter<'verdict' | 'reason'>;
  readonly #wouldRefuse: Counter<'reason'>;
  readonly #verify: Histogram;
  readonly #commit: Histogram;
  readonly #inVerifier: Histogram;

  constructor(src: VerifierMetricsSource, opts: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    const registry = (this.registry = opts.registry ?? new Registry());
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
    const self = this;
    this.#messages = new Counter({
      name: 'agentbus_verifier_messages_total',
      help: `Messages decided by this verifier, by verdict (accepted, duplicate, rejected) and rejection reason ("${NO_REASON}" unless rejected)`,
      labelNames: ['verdict', 'reason'],
      registers: [registry],
      collect() {
        self.#export();
      },
    });
    this.#wouldRefuse = new Counter({
      name: 'agentbus_verifier_would_refuse_total',
      help: 'Messages monitor mode delivered although policy refuses them (docs/design.md §18), by the reason enforcing would have refused them with',
      labelNames: ['reason'],
      registers: [registry],
    });
    // series that exist from the start (rate() needs a zero to begin from)
    this.#child(Verdict.VERDICT_ACCEPTED, Reason.REASON_UNSPECIFIED).inc(0);
    this.#child(Verdict.VERDICT_DUPLICATE, Reason.REASON_UNSPECIFIED).inc(0);
    for (const r of allReasons()) if (r < REASON_STRIDE) this.#child(Verdict.VERDICT_REJECTED, r).inc(0);
    this.#verify = new Histogram({
      name: 'agentbus_verifier_verify_seconds',
      help: 'Time of the decision on one message (decide(): parse, policy, signature, schema, rate, causation, replay), seconds',
      buckets: VERIFY_SECONDS_BUCKETS,
      registers: [registry],
    });
    this.#commit = new Histogram({
      name: 'agentbus_verifier_audit_commit_seconds',
      help: 'Round trip of one group commit of audit events to JetStream (messages wait for it before delivery), seconds',
      buckets: AUDIT_COMMIT_BUCKETS,
      registers: [registry],
    });
    this.#inVerifier = new Histogram({
      name: 'agentbus_verifier_forward_seconds',
      help: 'Time an accepted message spends in the verifier, from receipt to its forward (checks + audit commit), seconds',
      buckets: AUDIT_COMMIT_BUCKETS,
      registers: [registry],
    });
    readGauge(registry, 'agentbus_verifier_partitions_owned', 'Sender partitions this verifier owns now', src.partitionsOwned);
    readGauge(registry, 'agentbus_verifier_inflight', 'Messages being handled now (checked, waiting for their audit event to be stored)', src.inflight);
    readGauge(registry, 'agentbus_verifier_replay_entries', 'msg_ids remembered for replay detection (both generations)', src.replayEntries);
    readGauge(registry, 'agentbus_verifier_replay_bytes', 'Bytes of the replay tables (off the JS heap)', src.replayBytes);
    readGauge(registry, 'agentbus_verifier_pending_deliveries', 'Direct messages forwarded and waiting for the recipient confirmation', src.pendingDeliveries);
    mirrorCounter(registry, 'agentbus_verifier_redeliveries_total', 'Forwards repeated because the recipient had not confirmed yet', src.redeliveries);
    mirrorCounter(
      registry,
      'agentbus_verifier_unconfirmed_deliveries_total',
      'Direct messages answered "unconfirmed" at the delivery timeout (recipient not connected)',
      src.unconfirmed,
    );
    mirrorCounter(
      registry,
      'agentbus_verifier_audit_publish_errors_total',
      'Failed publishes of audit batches to JetStream (each is retried)',
      src.auditPublishErrors,
    );
    mirrorCounter(registry, 'agentbus_verifier_manifest_reloads_total', 'Successful manifest reloads', src.manifestReloads);
    mirrorCounter(
      registry,
      'agentbus_verifier_shed_total',
      'Messages shed unparsed and unverified because their sender spent its rejection budget (also counted in messages_total as rejected/rejection_budget_exceeded)',
      src.shed,
    );
    mirrorCounter(registry, 'agentbus_verifier_manifest_reload_errors_total', 'Manifest reloads that failed (the previous policy stays)', src.manifestErrors);
  }

  /** Hot path: one message decided. */
  verdict(verdict: number, reason: number): void {
    if (verdict >= 0 && verdict < VERDICTS && reason >= 0 && reason < REASON_STRIDE) this.#counts[verdict * REASON_STRIDE + reason]!++;
    else {
      const k = `${verdict}/${reason}`;
      const o = this.#other.get(k);
      if (o) o.n++;
      else this.#other.set(k, { n: 1, done: 0, verdict, reason });
    }
  }

  /** Monitor mode delivered a message policy refuses (not the hot path: monitor-mode agents only). */
  wouldRefuse(reason: number): void {
    this.#wouldRefuse.inc({ reason: reasonName(reason) });
  }

  /** An accepted message spent this long in the verifier, receipt → forward (seconds). */
  inVerifier(seconds: number): void {
    this.#inVerifier.observe(seconds);
  }

  /** One audit group commit took this long (seconds). */
  auditCommit(seconds: number): void {
    this.#commit.observe(seconds);
  }

  /** Hot path: the duration of one check(), in nanoseconds. */
  checkDuration(ns: bigint): void {
    this.#verify.observe(Number(ns) / 1e9);
  }

  #labels(verdict: number, reason: number) {
    return { verdict: verdictName(verdict), reason: verdict === Verdict.VERDICT_REJECTED ? reasonName(reason) : NO_REASON };
  }

  #child(verdict: number, reason: number) {
    const i = verdict * REASON_STRIDE + reason;
    return (this.#children[i] ??= this.#messages.labels(this.#labels(verdict, reason)));
  }

  /** Scrape time: copy the new counts into the prom-client counter. */
  #export(): void {
    const counts = this.#counts;
    const done = this.#exported;
    for (let i = 0; i < counts.length; i++) {
      const d = counts[i]! - done[i]!;
      if (d <= 0) continue;
      this.#child(Math.floor(i / REASON_STRIDE), i % REASON_STRIDE).inc(d);
      done[i] = counts[i]!;
    }
    for (const o of this.#other.values()) {
      if (o.n > o.done) {
        this.#messages.inc(this.#labels(o.verdict, o.reason), o.n - o.done);
        o.done = o.n;
      }
    }
  }
}
