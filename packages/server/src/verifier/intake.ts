// Intake: from a partition's subscription to decide(). This verifier subscribes to the partitions
// it owns (common/partitions.ts hands them over: a partition taken is rebuilt from the audit stream
// first, one released is drained), parses each subject once, optionally checks signatures ahead on
// worker threads (the verify-ahead pool: messages are still decided in arrival order), and decides
// each message: a shed one goes to the shedding part, every other one to its decision I/O.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { Reason, VerifyPool } from '@agentbus/protocol';
import * as D from '@agentbus/protocol';
import { PartitionManager } from '../common/partitions.js';
import { decide, signatureCheckOf, WRONG_PARTITION_DETAIL } from './decide.js';
import type { DecisionInput, SignatureCheck } from './decide.js';
import { EMPTY } from './context.js';
import type { VerifierContext } from './context.js';
import { rebuildReplay } from './rebuild.js';
import type { Shedding } from './shedding.js';
import type { Finisher } from './finish.js';

/**
 * Per subject (agentbus.part.<p>.<sender>): who NATS authenticated and the partition in the
 * subject, parsed once (an admitted message no longer slices its subject). The sender's
 * rejection budget lives in the decision state (verifier/decide.ts).
 */
interface Route {
  readonly sender: string;
  readonly partition: number;
}

/** A message waiting for its signature check (or for the messages before it) to be decided. */
interface Queued {
  readonly msg: Msg;
  readonly route: Route;
  readonly now: number;
  readonly pre: SignatureCheck | undefined;
  ready: boolean;
}

/** Checks in the verify pool at most; beyond, messages still queue in order and verify inline. */
const VERIFY_AHEAD_MAX = 1024;

export class Intake {
  readonly #ctx: VerifierContext;
  readonly #js: JetStreamClient;
  readonly #shedding: Shedding;
  readonly #finisher: Finisher;
  readonly #parts: PartitionManager;
  #subs = new Map<number, Subscription>();
  /** One input object, refilled per message (decide keeps no reference to it). */
  #input: DecisionInput = { data: new Uint8Array(0), subjectSender: '', reply: '', now: 0, partition: undefined };
  /** Subjects parsed once (see Route). */
  #routes = new Map<string, Route>();
  /** Signature checks on worker threads (verifyThreads > 0 and the sodium backend), else undefined: inline. */
  #pool: VerifyPool | undefined;
  /** Messages waiting for their check, in arrival order, from #queueHead on. */
  #queue: Queued[] = [];
  #queueHead = 0;

  constructor(ctx: VerifierContext, js: JetStreamClient, shedding: Shedding, finisher: Finisher) {
    this.#ctx = ctx;
    this.#js = js;
    this.#shedding = shedding;
    this.#finisher = finisher;
    const opts = ctx.opts;
    if (opts.verifyThreads > 0 && ctx.snap.backend.name === 'sodium') {
      this.#pool = VerifyPool.create(opts.verifyThreads);
      if (this.#pool) this.#pool.onError = (e) => ctx.log.error({ err: e.message }, 'a verify thread died; its checks are done inline');
      else ctx.log.warn('sodium-native cannot be loaded for verify threads: signatures are checked on the event loop');
    }
    this.#parts = new PartitionManager(ctx.nc, ctx.id, opts.partitions, { acquire: (p) => this.#acquire(p), release: (p) => this.#release(p) }, ctx.log, {
      ...(opts.leaseTtlMs ? { ttlMs: opts.leaseTtlMs } : {}),
      replicas: opts.replicas,
    });
  }

  /** Take part in the partition leases (subscribing to each partition won). */
  start(): Promise<void> {
    return this.#parts.start();
  }

  /** Partitions this instance owns now. */
  owned(): number[] {
    return this.#parts.owned();
  }

  /** Partitions subscribed to now. */
  get subscribed(): number {
    return this.#subs.size;
  }

  /** Release every partition: unsubscribe, finish in-flight, flush audit. */
  stop(): Promise<void> {
    return this.#parts.stop();
  }

  /** Leave the leases without releasing them (like a crash). */
  abandon(): void {
    this.#parts.abandon();
  }

  /** Like a crash: what waited for its check is never decided; the verify threads end. */
  async close(): Promise<void> {
    this.#queue = [];
    this.#queueHead = 0;
    await this.closePool();
  }

  async closePool(): Promise<void> {
    await this.#pool?.close();
  }

  /** Rebuild the partitions' replay state from the audit stream (one read for all), then subscribe. */
  async #acquire(ps: number[]): Promise<void> {
    const ctx = this.#ctx;
    await rebuildReplay(this.#js, ctx.state, ctx.stats, ps, ctx.opts.partitions, ctx.opts.replayWindowMs);
    for (const p of ps) this.#subscribePartition(p);
  }

  #subscribePartition(p: number): void {
    const ctx = this.#ctx;
    const sub = ctx.nc.subscribe(`${D.SUBJECT_PART_PREFIX}${p}.*`, {
      queue: D.VERIFIER_QUEUE,
      callback: (err, msg) => {
        if (err) {
          ctx.log.error({ err: err.message }, 'subscription error');
          return;
        }
        this.#onMessage(msg);
      },
    });
    this.#subs.set(p, sub);
    ctx.stats.partitions = [...this.#subs.keys()].sort((a, b) => a - b);
  }

  /** Stop serving a partition: unsubscribe, finish in-flight messages, store their audit events. */
  async #release(p: number): Promise<void> {
    const ctx = this.#ctx;
    const sub = this.#subs.get(p);
    this.#subs.delete(p);
    ctx.stats.partitions = [...this.#subs.keys()].sort((a, b) => a - b);
    await sub?.drain().catch(() => undefined);
    this.#shedding.flush(p); // no message of p arrives any more: its shed counts are final
    this.#shedding.answerHeld();
    await ctx.inflight.idle();
    await ctx.audit.flush();
  }

  /**
   * One message off a partition subscription: decide (the rejection budget first, before any
   * parsing), then either count and answer a shed message, or record its audit event and act.
   */
  #onMessage(msg: Msg): void {
    const now = Date.now();
    const subject = msg.subject;
    const route = this.#routes.get(subject) ?? this.#newRoute(subject);
    const pool = this.#pool;
    if (pool === undefined) {
      this.#handle(msg, route, now, undefined);
      return;
    }
    // Verify ahead: the signature check goes to a worker thread; messages are decided in the
    // order they arrived, each once its check (if it has one) is back. A message the cheap
    // checks would refuse anyway (shed, bad framing, unknown key) gets no check ahead.
    const ctx = this.#ctx;
    const input = this.#fillInput(msg, route, now, undefined);
    const pre = pool.pending < VERIFY_AHEAD_MAX ? signatureCheckOf(input, ctx.snap, ctx.state) : undefined;
    input.data = EMPTY;
    if (pre === undefined && this.#queueHead === this.#queue.length) {
      this.#handle(msg, route, now, undefined);
      return;
    }
    const entry: Queued = { msg, route, now, pre, ready: pre === undefined };
    this.#queue.push(entry);
    ctx.inflight.add();
    if (pre) {
      pool.submit(pre.key, pre.headerBytes, pre.signature, (ok) => {
        pre.ok = ok;
        if (ok !== undefined) ctx.stats.verifiedAhead++;
        entry.ready = true;
        this.#drainQueue();
      });
    }
  }

  /** Decide the queued messages whose checks are back, in arrival order. */
  #drainQueue(): void {
    const q = this.#queue;
    while (this.#queueHead < q.length && q[this.#queueHead]!.ready) {
      const e = q[this.#queueHead]!;
      q[this.#queueHead++] = undefined as unknown as Queued;
      this.#handle(e.msg, e.route, e.now, e.pre);
      this.#ctx.inflight.done();
    }
    if (this.#queueHead === q.length) {
      q.length = 0;
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024) {
      q.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }

  /** The one input object, refilled for this message (the caller empties `data` after use). */
  #fillInput(msg: Msg, route: Route, now: number, pre: SignatureCheck | undefined): DecisionInput {
    const input = this.#input;
    input.data = msg.data;
    input.subjectSender = route.sender;
    input.reply = msg.reply ?? '';
    input.now = now;
    input.partition = route.partition;
    input.pre = pre;
    return input;
  }

  #handle(msg: Msg, route: Route, now: number, pre: SignatureCheck | undefined): void {
    const ctx = this.#ctx;
    const input = this.#fillInput(msg, route, now, pre);
    const m = ctx.metrics;
    const t0 = m ? performance.now() : 0;
    const d = decide(input, ctx.snap, ctx.state);
    input.data = EMPTY; // keep no reference to the message
    input.pre = undefined;
    ctx.stats.received++;
    if (d.shed) {
      // a shed message costs a few counters and, if it may be answered, a slot in the ring
      this.#shedding.shed(route.sender, msg.reply, d.answer, now);
      return;
    }
    if (m) m.checkDuration(BigInt(Math.round((performance.now() - t0) * 1e6)));
    if (d.reason === Reason.REASON_SENDER_MISMATCH && d.detail === WRONG_PARTITION_DETAIL) {
      ctx.log.error({ subject: msg.subject }, 'message on the wrong partition: nats-server and verifier disagree on --partitions');
    }
    const inflight = ctx.inflight;
    inflight.add();
    this.#finisher.finish(msg, route.sender, d, t0).then(inflight.done, inflight.failed);
  }

  #newRoute(subject: string): Route {
    // agentbus.part.<p>.<sender> (the server's mapping of agentbus.in.<sender>)
    const dot = subject.indexOf('.', D.SUBJECT_PART_PREFIX.length);
    const route: Route = { sender: subject.slice(dot + 1), partition: Number(subject.slice(D.SUBJECT_PART_PREFIX.length, dot)) };
    this.#routes.set(subject, route);
    return route;
  }
}
