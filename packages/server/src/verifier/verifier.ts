// The broker-side verifier (docs/design.md §4–§5, §9). Every message published on agentbus.in.<sender>
// passes here. The decision is a pure function, `decide` in verifier/decide.ts (docs/design.md §14): the
// subject sender's rejection budget first (before any parsing: past it the message is shed,
// answered and counted, nothing more), then every check in its documented order over
// precomputed state (manifests compiled to lookup tables), ending with the msg_id's claim in the
// replay memory. The rest of verifier/ does the I/O around it, one job per file:
//
//   intake.ts     partition subscriptions, the verify-ahead pool, partition ownership → decide()
//   finish.ts     one decision's I/O: its audit event (group commit), then act and answer
//   delivery.ts   forwarding direct messages until confirmed, refusals, the delivery timeout
//   approvals.ts  tool calls held for approval, pending notices, the internal approval subject
//   shedding.ts   shed counts and their audit summary, answers to shed messages, quarantine
//   rebuild.ts    taking a partition over: replay state rebuilt from the AUDIT stream
//   context.ts    what they share (connection, stats, audit publisher, decision state, answers)
//
// This file is the service shell: start (options, connection, the parts), metrics, manifest
// reloads, drain and close.
//
// Cross-instance state: nats-server routes each sender to one partition (subject mapping),
// and each partition has one owner verifier (common/partitions.ts), so a sender's replay, depth
// and rate state live in that verifier's memory — no shared round trip per message. A new
// owner rebuilds replay state from the AUDIT stream. Chain depth across partitions travels
// with the message as a token the verifiers MAC (Agentbus-Depth-Token). docs/decisions.md
// has the design and its measured cost.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { MAX_CONFIRM_IDS, defaultBackend } from '@agentbus/protocol';
import { createLogger, SigningKey } from '@agentbus/sdk/internal';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import { Policy, loadManifestDir, dirSignature } from '@agentbus/protocol/manifest';
import { AuditPublisher } from './audit-publisher.js';
import { ensureAuditStream } from '../common/audit-stream.js';
import { DecisionState, policySnapshot, envelopeKey } from './decide.js';
import { parseVerifierOptions } from './options.js';
import type { VerifierOptions, ResolvedVerifierOptions } from './options.js';
import { ChainSealer } from '../common/audit-chain.js';
import type { AuditSigner } from '../common/audit-chain.js';
import { VerifierMetrics, startMetricsServer, watchConnection } from '../common/metrics.js';
import type { MetricsServer } from '../common/metrics.js';
import { VerifierContext } from './context.js';
import type { VerifierStats } from './context.js';
import { Shedding } from './shedding.js';
import { Deliveries } from './delivery.js';
import { Approvals } from './approvals.js';
import { Finisher } from './finish.js';
import { Intake } from './intake.js';

export { ensureAuditStream };
export type { VerifierOptions } from './options.js';
export { verifierOptionsSchema } from './options.js';
export type { VerifierStats } from './context.js';
export { envelopeKey };

export class Verifier {
  readonly id: string;
  readonly nc: NatsConnection;
  readonly stats: VerifierStats = {
    received: 0,
    accepted: 0,
    duplicates: 0,
    rejected: {},
    inflight: 0,
    manifestReloads: 0,
    manifestErrors: 0,
    partitions: [],
    remembered: 0,
    rebuilt: 0,
    pendingDeliveries: 0,
    redeliveries: 0,
    unconfirmed: 0,
    refused: 0,
    shed: 0,
    verifiedAhead: 0,
  };
  #ctx: VerifierContext;
  #audit: AuditPublisher;
  #shedding: Shedding;
  #deliveries: Deliveries;
  #approvals: Approvals;
  #intake: Intake;
  #policySig: string;
  #opts: ResolvedVerifierOptions;
  #log: Logger;
  /** Manifest reloads (every manifestPollMs) and the replay memory's rotation (every second). */
  #poll: NodeJS.Timeout | undefined;
  #prune: NodeJS.Timeout | undefined;
  #closed = false;
  #started = false;
  #metricsServer: MetricsServer | undefined;

  private constructor(nc: NatsConnection, policy: Policy, policySig: string, opts: ResolvedVerifierOptions) {
    this.nc = nc;
    this.#policySig = policySig;
    this.#opts = opts;
    this.id = opts.id ?? `${hostname()}-${process.pid}`;
    this.#log = (opts.logger ?? createLogger({ name: 'verifier' })).child({ verifier: this.id });
    const snap = policySnapshot({
      policy,
      contracts: opts.contracts,
      maxSkewMs: opts.maxSkewMs,
      partitions: opts.partitions,
      backend: opts.backend ?? defaultBackend(),
    });
    // docs/design.md §10: audit batches are signed with the verifier's own service key.
    let signer: AuditSigner;
    if (opts.credentials) signer = opts.credentials.auditKey();
    else {
      this.#log.warn('no service credentials: audit batches are signed with a throwaway key that `audit verify` cannot check');
      signer = SigningKey.generate();
    }
    const js = jetstream(nc);
    this.#audit = new AuditPublisher(js, this.#log, new ChainSealer(this.id, signer), opts.auditBatchMax);
    if (!opts.depthKey) this.#log.warn('no shared depth key: depth tokens of other verifier instances will not be accepted');
    const state = new DecisionState({ replayWindowMs: opts.replayWindowMs, depthKey: opts.depthKey ?? randomBytes(32), now: Date.now() });
    const ctx = new VerifierContext(this.id, nc, this.#log, opts, this.stats, this.#audit, state, snap);
    this.#ctx = ctx;
    this.#shedding = new Shedding(ctx);
    this.#deliveries = new Deliveries(ctx);
    this.#approvals = new Approvals(ctx, this.#deliveries);
    this.#intake = new Intake(ctx, js, this.#shedding, new Finisher(ctx, this.#approvals, this.#deliveries));
  }

  static async start(options: VerifierOptions): Promise<Verifier> {
    // every option through one schema: undefined takes the default, a bad value throws here
    const opts = parseVerifierOptions(options);
    const manifests = loadManifestDir(opts.manifestsDir);
    const policy = new Policy(manifests);
    const sig = dirSignature(opts.manifestsDir);
    const nc = await connect({
      servers: opts.servers,
      name: `agentbus-verifier`,
      inboxPrefix: '_INBOX_verifier',
      ...(opts.credentials ? { authenticator: nkeyAuthenticator(opts.credentials.natsSeed()) } : {}),
      maxReconnectAttempts: -1,
      noAsyncTraces: true, // the audit commit and KV requests (docs/decisions.md, "Requests without async traces")
      ...(opts.connectOptions ?? {}),
    });
    try {
      await ensureAuditStream(nc, opts.replicas);
    } catch (e) {
      await nc.close().catch(() => undefined); // a failed start must not leave a reconnecting connection
      throw e;
    }
    const v = new Verifier(nc, policy, sig, opts);
    if (opts.metricsPort) {
      try {
        await v.#startMetrics(opts.metricsPort, opts.metricsHost);
      } catch (e) {
        await nc.close().catch(() => undefined);
        throw e;
      }
    }
    v.#poll = setInterval(() => v.reloadIfChanged(), v.#opts.manifestPollMs);
    v.#poll.unref();
    const state = v.#ctx.state;
    v.#prune = setInterval(() => {
      state.replay.rotate();
      v.stats.remembered = state.replay.size;
    }, 1000);
    v.#prune.unref();
    v.#shedding.start();
    if (opts.quarantine) {
      try {
        await v.#shedding.startQuarantine();
      } catch (e) {
        await v.close();
        throw e;
      }
    }
    v.#deliveries.start();
    v.#approvals.start();
    try {
      await v.#intake.start();
    } catch (e) {
      await v.close();
      throw e;
    }
    v.#started = true;
    v.#log.info({ agents: policy.agents.size, types: opts.contracts.size, partitions: v.#intake.owned() }, 'verifier started');
    return v;
  }

  /** The metrics server's address (http://host:port), when metrics are on. */
  get metricsUrl(): string | undefined {
    return this.#metricsServer?.url;
  }

  /** The Prometheus registry of this instance, when metrics are on. */
  get metricsRegistry() {
    return this.#ctx.metrics?.registry;
  }

  async #startMetrics(port: number, host: string | undefined): Promise<void> {
    const ctx = this.#ctx;
    const m = new VerifierMetrics({
      partitionsOwned: () => this.#intake.subscribed,
      inflight: () => ctx.inflight.n,
      replayEntries: () => ctx.state.replay.size,
      replayBytes: () => ctx.state.replay.bytes,
      pendingDeliveries: () => this.#deliveries.size,
      redeliveries: () => this.stats.redeliveries,
      unconfirmed: () => this.stats.unconfirmed,
      auditPublishErrors: () => this.#audit.stats.publishErrors,
      manifestReloads: () => this.stats.manifestReloads,
      manifestErrors: () => this.stats.manifestErrors,
      shed: () => this.stats.shed,
    });
    const conn = watchConnection(this.nc);
    this.#metricsServer = await startMetricsServer({
      port,
      registry: m.registry,
      ...(host ? { host } : {}),
      healthz: () => (conn.closed ? { ok: false, reason: 'nats connection closed' } : { ok: true }),
      readyz: () => {
        const detail = { partitions: this.#intake.subscribed };
        if (this.#closed) return { ok: false, reason: 'draining', detail };
        if (!this.#started) return { ok: false, reason: 'starting', detail };
        if (!conn.connected) return { ok: false, reason: 'nats disconnected', detail };
        return { ok: true, detail };
      },
    });
    ctx.metrics = m;
    this.#audit.onCommit = (s) => m.auditCommit(s);
    this.#log.info({ url: this.#metricsServer.url }, 'metrics server listening');
  }

  /** Partitions this instance owns now. */
  get partitions(): number[] {
    return this.#intake.owned();
  }

  /** Reload manifests if the directory changed. Keeps the old policy when the new one is bad. */
  reloadIfChanged(force = false): boolean {
    const sig = dirSignature(this.#opts.manifestsDir);
    if (!force && sig === this.#policySig) return false;
    this.#policySig = sig;
    const ctx = this.#ctx;
    try {
      ctx.snap = policySnapshot({ ...ctx.snap, policy: new Policy(loadManifestDir(this.#opts.manifestsDir)) });
      this.stats.manifestReloads++;
      this.#log.info({ agents: ctx.snap.policy.agents.size }, 'manifests reloaded');
      return true;
    } catch (e) {
      this.stats.manifestErrors++;
      this.#log.error({ err: (e as Error).message }, 'manifest reload failed; keeping the previous policy');
      return false;
    }
  }

  get policy(): Policy {
    return this.#ctx.snap.policy;
  }

  /** Swap the contract registry (a reloaded contracts module); in-flight messages finish on the old one. */
  setContracts(contracts: ContractRegistry): void {
    const ctx = this.#ctx;
    ctx.snap = policySnapshot({ ...ctx.snap, contracts });
    this.#log.info({ types: contracts.size }, 'contracts reloaded');
  }

  /** Stop taking messages, finish the ones in flight, store their audit events, close. */
  async drain(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    if (this.#prune) clearInterval(this.#prune);
    await this.#intake.stop(); // releases every partition: unsubscribe, finish in-flight, flush audit
    this.#shedding.stopTimers();
    this.#shedding.flush(); // (each release flushed its partition's counts; this is the remainder)
    this.#shedding.answerHeld();
    await this.#ctx.inflight.idle();
    // deliveries in flight settle (confirmed, or unconfirmed at their timeout) before we go
    await this.#deliveries.settle();
    this.#deliveries.stop();
    this.#approvals.stop();
    this.#shedding.stop();
    await this.#audit.close();
    await this.#intake.closePool();
    await this.nc.drain().catch(() => undefined);
    await this.#metricsServer?.close();
    this.#log.info({ stats: this.stats }, 'verifier drained');
  }

  /** Close at once, without releasing partitions (tests; like a crash). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#intake.abandon();
    this.#shedding.stopTimers();
    this.#deliveries.stopTimer();
    this.#approvals.stopTimer();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#prune) clearInterval(this.#prune);
    this.#shedding.stop(); // (the quarantine watch)
    await this.nc.close().catch(() => undefined);
    await this.#intake.close(); // like a crash: what waited for its check is never decided
    await this.#metricsServer?.close();
  }
}

export function startVerifier(opts: VerifierOptions): Promise<Verifier> {
  return Verifier.start(opts);
}

/** At most this many msg_ids per confirmation message (the SDK splits its batches to fit). */
export { MAX_CONFIRM_IDS };
