// `startAuditor(config)`: the auditor process — store (migrated), the durable audit consumer
// and the detection schedule — wired together, with a graceful stop (finish or nak the batch
// in hand, finish a detection pass, drain NATS, close the store).
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { createLogger } from '@agentbus/sdk/internal';
import { parseAuditorConfig } from './config.js';
import { AuditorStartError, readNkeySeed } from './nkey-seed.js';

export { AuditorStartError, readNkeySeed };
import type { AuditorConfig, AuditorConfigInput } from './config.js';
import { openStore } from './store.js';
import type { AuditStore, RowSink } from './store.js';
import { DEAD_LETTER_RULE } from './defaults.js';
import { QUARANTINE_RULE } from '../common/quarantine.js';
import { startAuditConsumer } from './consumer.js';
import type { ConsumerStats } from './consumer.js';
import { createDetectionEngine } from './detect.js';
import type { Alert } from './detect.js';
import { startConnectionFollower } from './connections.js';
import type { ConnectionFollower } from './connections.js';
import { AuditorMetrics, storeReadiness } from './metrics.js';
import { startMetricsServer, watchConnection } from '../common/metrics.js';
import type { MetricsServer } from '../common/metrics.js';

export interface AuditorStats {
  consumer: ConsumerStats;
  detection: { evaluations: number; thresholdEvaluations: number; alerts: number; suppressed: number; lastError: string | undefined };
  /** Connect/disconnect events followed (undefined: no system credential, or off). */
  connections: { events: number; snapshots: number; lastError: string | undefined } | undefined;
}

export interface Auditor {
  readonly config: AuditorConfig;
  readonly store: AuditStore;
  stats(): AuditorStats;
  /** Messages not yet stored (asks JetStream). */
  lag(): Promise<number>;
  /** Run the detectors now (or at a simulated `now`). */
  evaluate(now?: number): Promise<Alert[]>;
  /** The metrics server's address (http://host:port), when metrics are on. */
  readonly metricsUrl: string | undefined;
  /** The connect/disconnect follower (with nats.systemCredsFile and connections.enabled). */
  readonly connections: ConnectionFollower | undefined;
  stop(): Promise<void>;
}

export interface StartAuditorOptions {
  logger?: Logger;
  /** Wrap the store's insert path (tests inject failures here). */
  wrapSink?: (store: AuditStore) => RowSink;
  /** Serve /metrics, /healthz and /readyz on this port (0 or absent: off). */
  metricsPort?: number;
  /** Bind address of the metrics server (default 127.0.0.1). */
  metricsHost?: string;
}

export async function connectNats(cfg: AuditorConfig['nats']): Promise<NatsConnection> {
  const authenticator = cfg.credsFile ? nkeyAuthenticator(readNkeySeed(cfg.credsFile)) : undefined;
  try {
    // the auditor's NATS permissions allow replies only under its own inbox prefix (common/natsconfig.ts)
    return await connect({
      servers: cfg.url.split(','),
      name: cfg.name,
      inboxPrefix: '_INBOX_auditor',
      ...(authenticator ? { authenticator } : {}),
      ...(cfg.tls ? { tls: { ...cfg.tls } } : {}),
      maxReconnectAttempts: -1,
      noAsyncTraces: true, // a fetch and an ack per batch (docs/decisions.md, "Requests without async traces")
    });
  } catch (e) {
    throw new AuditorStartError(`cannot connect to NATS at ${cfg.url}: ${(e as Error).message}`);
  }
}

export async function openMigratedStore(cfg: AuditorConfig['store']): Promise<AuditStore> {
  let store: AuditStore | undefined;
  try {
    store = await openStore(cfg);
    await store.migrate();
    return store;
  } catch (e) {
    await store?.close().catch(() => {});
    throw new AuditorStartError(`cannot open the audit store at ${cfg.url}: ${(e as Error).message.split('\n')[0]}`);
  }
}

export async function startAuditor(input: AuditorConfigInput = {}, opts: StartAuditorOptions = {}): Promise<Auditor> {
  const config = parseAuditorConfig(input);
  const logger = opts.logger ?? createLogger({ name: 'auditor', level: config.logLevel });
  const store = await openMigratedStore(config.store);
  let nc: NatsConnection;
  try {
    nc = await connectNats(config.nats);
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  const sink = opts.wrapSink ? opts.wrapSink(store) : store;
  // docs/design.md §9: a dead letter raises an alert (detection is created below; letters before it are queued)
  let raise: ((info: { subject: string; streamSeq: number; reason: string }) => void) | undefined;
  const early: { subject: string; streamSeq: number; reason: string }[] = [];
  const onDeadLetter = (info: { subject: string; streamSeq: number; reason: string }) => (raise ? raise(info) : early.push(info));
  type Q = Parameters<NonNullable<Parameters<typeof startAuditConsumer>[0]['onQuarantine']>>[0];
  let quarantined: ((q: Q) => void) | undefined;
  const earlyQ: Q[] = [];
  const onQuarantine = (q: Q) => (quarantined ? quarantined(q) : earlyQ.push(q));
  const consumer = await startAuditConsumer({
    nc,
    sink,
    config: config.consumer,
    logger: logger.child({ part: 'consumer' }),
    onDeadLetter,
    onQuarantine,
  }).catch(async (e) => {
    await nc.close().catch(() => {});
    await store.close().catch(() => {});
    throw new AuditorStartError(`cannot start the audit consumer: ${(e as Error).message}`);
  });
  let stopping: Promise<void> | undefined;
  let metrics: AuditorMetrics | undefined;
  let metricsServer: MetricsServer | undefined;
  if (opts.metricsPort) {
    metrics = new AuditorMetrics({ consumer: () => consumer.stats(), lag: () => consumer.lag() });
    const conn = watchConnection(nc);
    const storeReady = storeReadiness(() => store.ping());
    try {
      metricsServer = await startMetricsServer({
        port: opts.metricsPort,
        registry: metrics.registry,
        ...(opts.metricsHost ? { host: opts.metricsHost } : {}),
        healthz: () => (conn.closed ? { ok: false, reason: 'nats connection closed' } : { ok: true }),
        readyz: async () => {
          if (stopping) return { ok: false, reason: 'stopping' };
          if (!conn.connected) return { ok: false, reason: 'nats disconnected' };
          return storeReady();
        },
      });
    } catch (e) {
      await consumer.stop().catch(() => {});
      await nc.close().catch(() => {});
      await store.close().catch(() => {});
      throw new AuditorStartError((e as Error).message);
    }
    logger.info({ url: metricsServer.url }, 'metrics server listening');
  }
  const detection = createDetectionEngine({
    store,
    nc,
    logger: logger.child({ part: 'detect' }),
    config: config.detect,
    // the threshold schedule runs only when rows were stored since its last pass
    changed: () => consumer.stats().events,
    ...(metrics ? { onAlert: (a: Alert) => metrics.alert(a.rule) } : {}),
  });
  raise = (info) => {
    const now = Date.now();
    void detection
      .raise(
        [
          {
            rule: DEAD_LETTER_RULE,
            agents: [],
            windowStart: now,
            windowEnd: now,
            severity: 'high',
            evidence: { ...info, dlq_stream: 'AUDIT_DLQ' },
            key: `${DEAD_LETTER_RULE}:${info.subject}`,
          },
        ],
        now,
      )
      .catch((e) => logger.error({ err: (e as Error).message }, 'dead-letter alert failed'));
  };
  for (const info of early.splice(0)) raise(info);
  // a sender quarantined at NATS (the verifier's shed summary says so): one alert per quarantine
  quarantined = (q) => {
    void detection
      .raise(
        [
          {
            rule: QUARANTINE_RULE,
            agents: [q.sender],
            windowStart: q.time,
            windowEnd: Date.parse(q.until) || q.time,
            severity: 'high',
            evidence: { until: q.until, cool_down_s: q.coolDownS, quarantine: q.level, shed: q.shed, event_id: q.eventId },
            key: `${QUARANTINE_RULE}:${q.sender}:${q.until}`,
          },
        ],
        Date.now(),
      )
      .catch((e) => logger.error({ err: (e as Error).message }, 'quarantine alert failed'));
  };
  for (const q of earlyQ.splice(0)) quarantined(q);
  // "one identity, two places": the system-account user follows connects and disconnects
  let connections: ConnectionFollower | undefined;
  if (config.nats.systemCredsFile && config.connections.enabled) {
    if (!config.connections.manifestsDir) logger.warn('connections: no manifests directory; no nkey maps to an agent, so nothing is alerted');
    try {
      connections = await startConnectionFollower({
        store,
        url: config.nats.url,
        systemCredsFile: config.nats.systemCredsFile,
        config: config.connections,
        ...(config.nats.tls ? { tls: config.nats.tls } : {}),
        raise: (f, now) => detection.raise(f, now),
        logger: logger.child({ part: 'connections' }),
      });
    } catch (e) {
      await consumer.stop().catch(() => {});
      await nc.close().catch(() => {});
      await store.close().catch(() => {});
      await metricsServer?.close();
      throw new AuditorStartError(`cannot follow connect/disconnect events with --system-creds ${config.nats.systemCredsFile}: ${(e as Error).message}`);
    }
  } else logger.info('connect/disconnect events not followed (no system credential: nats-config --system-creds, auditor --system-creds)');
  detection.start();
  logger.info({ store: store.transport, database: store.database, stream: config.consumer.stream, durable: config.consumer.durable }, 'auditor started');
  return {
    config,
    store,
    stats: () => ({ consumer: consumer.stats(), detection: detection.stats(), connections: connections?.stats() }),
    lag: () => consumer.lag(),
    evaluate: (now) => detection.evaluate(now),
    metricsUrl: metricsServer?.url,
    connections,
    stop() {
      stopping ??= (async () => {
        await connections?.stop();
        await consumer.stop();
        await detection.stop();
        await nc.drain().catch(() => nc.close());
        await store.close().catch(() => {});
        await metricsServer?.close();
        logger.info('auditor stopped');
      })();
      return stopping;
    },
  };
}
