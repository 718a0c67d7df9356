// What every part of the verifier shares (verifier.ts builds one and hands it to each part): its
// id, connection, log, options, stats, audit publisher, decision state and policy snapshot, the
// count of messages in flight, event ids, and the one way to answer an agent.
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { Ack, visibleDetail } from '@agentbus/protocol';
import type { Delivery, Reason, Verdict } from '@agentbus/protocol';
import type { AuditPublisher } from './audit-publisher.js';
import type { DecisionState, PolicySnapshot } from './decide.js';
import type { ResolvedVerifierOptions } from './options.js';
import type { VerifierMetrics } from '../common/metrics.js';

export interface VerifierStats {
  received: number;
  accepted: number;
  duplicates: number;
  rejected: Record<string, number>;
  inflight: number;
  manifestReloads: number;
  manifestErrors: number;
  partitions: number[];
  remembered: number;
  rebuilt: number;
  /** Direct messages forwarded and not yet confirmed by their recipient. */
  pendingDeliveries: number;
  /** Forwards repeated because no confirmation came in time. */
  redeliveries: number;
  /** Deliveries answered "unconfirmed" at the delivery timeout. */
  unconfirmed: number;
  /** Deliveries their recipient refused (could not verify or decode them). */
  refused: number;
  /** Messages shed unverified because their sender's rejection budget was spent (also in rejected, per audit interval). */
  shed: number;
  /** Signatures checked ahead on a verify thread (verifyThreads > 0); the others were checked inline. */
  verifiedAhead: number;
}

export const EMPTY = new Uint8Array(0);

/** Messages (and delivery records) being handled: a counter, no per-message bookkeeping objects. */
export class Inflight {
  n = 0;
  #idleWaiters: (() => void)[] = [];
  readonly #stats: VerifierStats;
  readonly #log: Logger;
  constructor(stats: VerifierStats, log: Logger) {
    this.#stats = stats;
    this.#log = log;
  }
  /** One more in flight. */
  add(): void {
    this.#stats.inflight = ++this.n;
  }
  /** One fewer (a bound function: passed to then()). */
  readonly done = (): void => {
    this.#stats.inflight = --this.n;
    if (this.n === 0 && this.#idleWaiters.length) for (const w of this.#idleWaiters.splice(0)) w();
  };
  readonly failed = (e: unknown): void => {
    this.#log.error({ err: (e as Error).message }, 'handler failed');
    this.done();
  };
  /** Resolves when nothing is in flight. */
  idle(): Promise<void> {
    return this.n === 0 ? Promise.resolve() : new Promise((r) => this.#idleWaiters.push(r));
  }
}

export class VerifierContext {
  /** Manifests, contracts, skew, partitions, backend: swapped whole on a manifest reload. */
  snap: PolicySnapshot;
  /** Set once the metrics server is up (metrics on). */
  metrics: VerifierMetrics | undefined;
  readonly inflight: Inflight;
  constructor(
    readonly id: string,
    readonly nc: NatsConnection,
    readonly log: Logger,
    readonly opts: ResolvedVerifierOptions,
    readonly stats: VerifierStats,
    readonly audit: AuditPublisher,
    /** Everything decide() reads and changes: replay memory, rate buckets, rejection budgets, the depth-token key. */
    readonly state: DecisionState,
    snap: PolicySnapshot,
  ) {
    this.snap = snap;
    this.inflight = new Inflight(stats, log);
  }

  /** Every answer to an agent: its detail may reach a model, so hidden characters are only counted (docs/design.md §15). */
  answer(reply: string, verdict: Verdict, reason: Reason, msgId: Uint8Array | undefined, detail: string, depth: number, delivery: Delivery): void {
    this.nc.publish(
      reply,
      Ack.encode({ verdict, reason, msgId: msgId ?? EMPTY, detail: visibleDetail(detail), depth, verifierId: this.id, delivery }).finish(),
    );
  }

  // Event ids: 8 random bytes per process ‖ a 64-bit counter — unique, and no CSPRNG call per message.
  #eventPrefix = randomBytes(8);
  #eventCounter = 0n;
  nextEventId(): Uint8Array {
    const id = Buffer.allocUnsafe(16);
    this.#eventPrefix.copy(id, 0);
    id.writeBigUInt64BE(++this.#eventCounter, 8);
    return id;
  }
}
