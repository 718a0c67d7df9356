// The broker-side verifier (docs/design.md §4–§5, §9). Every message published on agentbus.in.<sender>
// passes here. The decision is a pure function, `decide` in verifier/decide.ts (docs/design.md §14): the
// subject sender's rejection budget first (before any parsing: past it the message is shed,
// answered and counted, nothing more), then every check in its documented order over
// precomputed state (manifests compiled to lookup tables), ending with the msg_id's claim in the
// replay memory. This class does the I/O around it: receive, decide, store the audit event (group
// commit), forward the envelope byte-for-byte and answer the sender.
//
// Cross-instance state: nats-server routes each sender to one partition (subject mapping),
// and each partition has one owner verifier (bus/partitions.ts), so a sender's replay, depth
// and rate state live in that verifier's memory — no shared round trip per message. A new
// owner rebuilds replay state from the AUDIT stream. Chain depth across partitions travels
// with the message as a token the verifiers MAC (Agentbus-Depth-Token). docs/decisions.md
// has the design and its measured cost.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, headers as natsHeaders, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection, Msg, MsgHdrs, Subscription } from '@nats-io/transport-node';
import { jetstream, DeliverPolicy } from '@nats-io/jetstream';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { Ack, Delivery, Reason, Verdict, reasonName, verdictName, MAX_CONFIRM_IDS } from '@agentbus/protocol';
import type { IAuditEvent } from '@agentbus/protocol';
import { parseEnvelope, decodeHeader, sha256, toHex, VerifyPool } from '@agentbus/protocol';
import { parseToolType, APPROVAL_TYPE, approvalArgsSha256, visibleDetail } from '@agentbus/protocol';
import type { PendingApproval } from '@agentbus/protocol';
import type { HeaderFields } from '@agentbus/protocol';
import { defaultBackend } from '@agentbus/protocol';
import { createLogger } from '@agentbus/sdk/internal';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import { Policy, loadManifestDir, dirSignature } from '@agentbus/protocol/manifest';
import { AuditPublisher } from './audit-publisher.js';
import { ensureAuditStream } from '../common/audit-stream.js';
export { ensureAuditStream };
import { PartitionManager, partitionOf } from '../common/partitions.js';
import { decide, signatureCheckOf, DecisionState, policySnapshot, auditEventOf, envelopeKey, SHED_DETAIL, WRONG_PARTITION_DETAIL } from './decide.js';
import type { Decision, DecisionInput, PolicySnapshot, SenderBudget, SignatureCheck } from './decide.js';
import { parseVerifierOptions } from './options.js';
import type { VerifierOptions, ResolvedVerifierOptions } from './options.js';
import { ChainSealer, openSignedBatch } from '../common/audit-chain.js';
import type { AuditSigner } from '../common/audit-chain.js';
import { SigningKey } from '@agentbus/sdk/internal';
import type { ServiceIdentity } from '../common/service-creds.js';
import * as D from '@agentbus/protocol';
import { VerifierMetrics, startMetricsServer, watchConnection } from '../common/metrics.js';
import { QuarantineWatch, coolDownMs, nextLevel, encodeRecord, quarantineDetail } from '../common/quarantine.js';
import type { QuarantineRecord } from '../common/quarantine.js';
import type { MetricsServer } from '../common/metrics.js';

export type { VerifierOptions } from './options.js';
export { verifierOptionsSchema } from './options.js';
export { envelopeKey };

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

/** A tool call held until an approver decides (docs/design.md §11). */
interface Hold {
  h: HeaderFields;
  id: string;
  data: Uint8Array;
  depth: number;
  verdict: Verdict;
  server: string;
  tool: string;
  args: string;
  argsSha256: string;
  heldAt: number;
  deadline: number;
  waiters: { reply: string; verdict: Verdict }[];
}

interface PendingDelivery {
  recipient: string;
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs;
  depth: number;
  msgId: Uint8Array;
  /** Senders' requests (the first, then retries) waiting for the outcome. */
  waiters: { reply: string; verdict: Verdict }[];
  attempts: number;
  nextAt: number;
  deadline: number;
}


export class Verifier {
  readonly id: string;
  readonly nc: NatsConnection;
  #js: JetStreamClient;
  #audit: AuditPublisher;
  #parts: PartitionManager;
  #subs = new Map<number, Subscription>();
  /** Everything decide() reads and changes: replay memory, rate buckets, rejection budgets, the depth-token key. */
  #state: DecisionState;
  /** Manifests, contracts, skew, partitions, backend: swapped whole on a manifest reload. */
  #snap: PolicySnapshot;
  /** One input object, refilled per message (decide keeps no reference to it). */
  #input: DecisionInput = { data: new Uint8Array(0), subjectSender: '', reply: '', now: 0, partition: undefined };
  /** Subjects parsed once (see Route). */
  #routes = new Map<string, Route>();
  #window: number;
  #policySig: string;
  #opts: ResolvedVerifierOptions;
  #log: Logger;
  #poll: NodeJS.Timeout | undefined;
  #prune: NodeJS.Timeout | undefined;
  /** The one answer to every shed message (encoded once). */
  #shedAck: Uint8Array;
  #shedTimer: NodeJS.Timeout | undefined;
  /**
   * Shed messages waiting for their answer: a ring of reply subjects and arrival times,
   * preallocated (holding one allocates nothing), answered SHED_ANSWER_DELAY_MS after arrival.
   */
  #held: string[] = new Array<string>(D.SHED_ANSWER_MAX_HELD).fill('');
  #heldAt = new Float64Array(D.SHED_ANSWER_MAX_HELD);
  #heldHead = 0;
  #heldN = 0;
  #shedAnswerTimer: NodeJS.Timeout | undefined;
  /** The quarantine bucket, watched (undefined: quarantine off); senders whose quarantine is being written. */
  #quarantine: QuarantineWatch | undefined;
  #quarantining = new Set<string>();
  /** Signature checks on worker threads (verifyThreads > 0 and the sodium backend), else undefined: inline. */
  #pool: VerifyPool | undefined;
  /** Messages waiting for their check, in arrival order, from #queueHead on. */
  #queue: Queued[] = [];
  #queueHead = 0;
  /** Messages being handled (checked, waiting for their audit event): a counter, no per-message bookkeeping objects. */
  #inflightN = 0;
  #idleWaiters: (() => void)[] = [];
  readonly #done = (): void => {
    this.stats.inflight = --this.#inflightN;
    if (this.#inflightN === 0 && this.#idleWaiters.length) for (const w of this.#idleWaiters.splice(0)) w();
  };
  readonly #failed = (e: unknown): void => {
    this.#log.error({ err: (e as Error).message }, 'handler failed');
    this.#done();
  };
  #idle(): Promise<void> {
    return this.#inflightN === 0 ? Promise.resolve() : new Promise((r) => this.#idleWaiters.push(r));
  }
  #closed = false;
  #started = false;
  #metrics: VerifierMetrics | undefined;
  #metricsServer: MetricsServer | undefined;
  readonly stats: VerifierStats = { received: 0, accepted: 0, duplicates: 0, rejected: {}, inflight: 0, manifestReloads: 0, manifestErrors: 0, partitions: [], remembered: 0, rebuilt: 0, pendingDeliveries: 0, redeliveries: 0, unconfirmed: 0, refused: 0, shed: 0, verifiedAhead: 0 };
  /** Direct messages waiting for their recipient's confirmation, by msg_id (hex). */
  #pending = new Map<string, PendingDelivery>();
  #confirmPrefix = '';
  /** Tool calls held for approval, by msg_id (hex); and those decided (kept for the replay window, for retries). */
  #holds = new Map<string, Hold>();
  #decidedHolds = new Map<string, { delivery: Delivery; reason: Reason; detail: string; at: number }>();
  #approvalSub: Subscription | undefined;
  #approvalTimer: NodeJS.Timeout | undefined;
  #approvalTimeout = D.DEFAULT_APPROVAL_TIMEOUT_MS;
  #confirmSub: Subscription | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #deliveryTimeout = D.DEFAULT_DELIVERY_TIMEOUT_MS;

  private constructor(nc: NatsConnection, js: JetStreamClient, policy: Policy, policySig: string, opts: ResolvedVerifierOptions) {
    this.nc = nc;
    this.#js = js;
    this.#policySig = policySig;
    this.#opts = opts;
    this.#window = opts.replayWindowMs;
    this.#deliveryTimeout = opts.deliveryTimeoutMs;
    this.#approvalTimeout = opts.approvalTimeoutMs;
    this.id = opts.id ?? `${hostname()}-${process.pid}`;
    this.#log = (opts.logger ?? createLogger({ name: 'verifier' })).child({ verifier: this.id });
    this.#shedAck = Ack.encode({ verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED, detail: SHED_DETAIL, verifierId: this.id }).finish();
    this.#snap = policySnapshot({ policy, contracts: opts.contracts, maxSkewMs: opts.maxSkewMs, partitions: opts.partitions, backend: opts.backend ?? defaultBackend() });
    // docs/design.md §10: audit batches are signed with the verifier's own service key.
    let signer: AuditSigner;
    if (opts.credentials) signer = opts.credentials.auditKey();
    else {
      this.#log.warn('no service credentials: audit batches are signed with a throwaway key that `audit verify` cannot check');
      signer = SigningKey.generate();
    }
    this.#audit = new AuditPublisher(js, this.#log, new ChainSealer(this.id, signer), opts.auditBatchMax);
    if (!opts.depthKey) this.#log.warn('no shared depth key: depth tokens of other verifier instances will not be accepted');
    this.#state = new DecisionState({ replayWindowMs: this.#window, depthKey: opts.depthKey ?? randomBytes(32), now: Date.now() });
    if (opts.verifyThreads > 0 && this.#snap.backend.name === 'sodium') {
      this.#pool = VerifyPool.create(opts.verifyThreads);
      if (this.#pool) this.#pool.onError = (e) => this.#log.error({ err: e.message }, 'a verify thread died; its checks are done inline');
      else this.#log.warn('sodium-native cannot be loaded for verify threads: signatures are checked on the event loop');
    }
    this.#parts = new PartitionManager(nc, this.id, this.#opts.partitions, { acquire: (p) => this.#acquire(p), release: (p) => this.#release(p) }, this.#log, {
      ...(opts.leaseTtlMs ? { ttlMs: opts.leaseTtlMs } : {}),
      replicas: opts.replicas,
    });
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
      ...(opts.connectOptions ?? {}),
    });
    try {
      await ensureAuditStream(nc, opts.replicas);
    } catch (e) {
      await nc.close().catch(() => undefined); // a failed start must not leave a reconnecting connection
      throw e;
    }
    const js = jetstream(nc);
    const v = new Verifier(nc, js, policy, sig, opts);
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
    v.#prune = setInterval(() => {
      v.#state.replay.rotate();
      v.stats.remembered = v.#state.replay.size;
    }, 1000);
    v.#prune.unref();
    v.#shedTimer = setInterval(() => v.#flushShed(), D.SHED_AUDIT_INTERVAL_MS);
    v.#shedTimer.unref();
    v.#shedAnswerTimer = setInterval(() => v.#answerShed(Date.now() - D.SHED_ANSWER_DELAY_MS), SHED_ANSWER_TICK_MS);
    v.#shedAnswerTimer.unref();
    if (opts.quarantine) {
      try {
        v.#quarantine = await QuarantineWatch.start(nc, () => undefined, { replicas: opts.replicas, log: v.#log });
      } catch (e) {
        await v.close();
        throw e;
      }
    }
    v.#startDelivery();
    v.#startApprovals();
    try {
      await v.#parts.start();
    } catch (e) {
      await v.close();
      throw e;
    }
    v.#started = true;
    v.#log.info({ agents: policy.agents.size, types: opts.contracts.size, partitions: v.#parts.owned() }, 'verifier started');
    return v;
  }

  /** The metrics server's address (http://host:port), when metrics are on. */
  get metricsUrl(): string | undefined {
    return this.#metricsServer?.url;
  }

  /** The Prometheus registry of this instance, when metrics are on. */
  get metricsRegistry() {
    return this.#metrics?.registry;
  }

  async #startMetrics(port: number, host: string | undefined): Promise<void> {
    const m = new VerifierMetrics({
      partitionsOwned: () => this.#subs.size,
      inflight: () => this.#inflightN,
      replayEntries: () => this.#state.replay.size,
      replayBytes: () => this.#state.replay.bytes,
      pendingDeliveries: () => this.#pending.size,
      redeliveries: () => this.stats.redeliveries,
      unconfirmed: () => this.stats.unconfirmed,
      auditPublishErrors: () => this.#audit.stats.publishErrors,
      manifestReloads: () => this.stats.manifestReloads,
      manifestErrors: () => this.stats.manifestErrors,
      shed: () => this.stats.shed,
    });
    const conn = watchConnection(this.nc);
    this.#metricsServer = await startMetricsServer({
      port, registry: m.registry, ...(host ? { host } : {}),
      healthz: () => (conn.closed ? { ok: false, reason: 'nats connection closed' } : { ok: true }),
      readyz: () => {
        const detail = { partitions: this.#subs.size };
        if (this.#closed) return { ok: false, reason: 'draining', detail };
        if (!this.#started) return { ok: false, reason: 'starting', detail };
        if (!conn.connected) return { ok: false, reason: 'nats disconnected', detail };
        return { ok: true, detail };
      },
    });
    this.#metrics = m;
    this.#audit.onCommit = (s) => m.auditCommit(s);
    this.#log.info({ url: this.#metricsServer.url }, 'metrics server listening');
  }

  /**
   * Confirmed delivery: a direct message is forwarded with the reply subject
   * agentbus.delivered.<this verifier>.<recipient>; the recipient's client publishes the msg_ids
   * it now holds there (NATS permissions let it publish only under its own name). Until then the
   * verifier re-forwards it; the sender's ack waits for the confirmation, so an acknowledged
   * message has reached its recipient even if a NATS node died with the first forward in flight.
   */
  #startDelivery(): void {
    const token = this.id.replace(/[^A-Za-z0-9_-]/g, '_');
    this.#confirmPrefix = `${D.SUBJECT_DELIVERED_PREFIX}${token}.`;
    const skip = this.#confirmPrefix.length;
    this.#confirmSub = this.nc.subscribe(`${this.#confirmPrefix}*`, {
      callback: (_err, m) => {
        const data = m.data;
        // "no responders" status, junk, or more ids than a client sends at once (a cap on the work
        // one message can cause: an agent could otherwise flood the verifier with huge lists)
        if (data.length === 0 || data.length % 16 !== 0 || data.length > MAX_CONFIRM_IDS * 16 || this.#pending.size === 0) return;
        const recipient = m.subject.slice(skip);
        const refusal = m.headers?.get(D.REFUSAL_HEADER);
        if (refusal) {
          // the recipient could not verify or decode it: one msg_id, the recipient's reason
          if (data.length !== 16) return;
          const id = toHex(data);
          const p = this.#pending.get(id);
          if (!p || p.recipient !== recipient) return;
          this.#pending.delete(id);
          const n = Number(refusal);
          const reason = Number.isInteger(n) && n > 0 && reasonName(n as Reason) !== `reason_${n}` ? (n as Reason) : Reason.REASON_MALFORMED;
          const detail = boundedDetail(m.headers?.get(D.REFUSAL_DETAIL_HEADER) ?? '');
          this.#log.warn({ msg_id: id, recipient, reason: reasonName(reason), detail }, 'delivery refused by the recipient');
          this.stats.refused++;
          this.#record(p, Delivery.DELIVERY_REFUSED, { reason, detail });
          return;
        }
        for (let i = 0; i < data.length; i += 16) {
          const id = toHex(data.subarray(i, i + 16));
          const p = this.#pending.get(id);
          if (!p || p.recipient !== recipient) continue;
          this.#pending.delete(id);
          this.#state.replay.markDelivered(p.msgId);
          this.#record(p, Delivery.DELIVERY_CONFIRMED);
        }
      },
    });
    this.#sweep = setInterval(() => this.#sweepDeliveries(Date.now()), 50);
    this.#sweep.unref();
  }

  /**
   * Approvals (docs/design.md §11): the verifier that holds a call listens on
   * agentbus.internal.approval.<msg_id> (only verifiers may publish there) for the approval that
   * any verifier accepted, announces each held call every second on
   * agentbus.approval.pending.<server>, and refuses it approval_timeout at its deadline.
   */
  #startApprovals(): void {
    const skip = D.SUBJECT_INTERNAL_APPROVAL_PREFIX.length;
    this.#approvalSub = this.nc.subscribe(`${D.SUBJECT_INTERNAL_APPROVAL_PREFIX}*`, {
      callback: (_e, m) => {
        const hold = this.#holds.get(m.subject.slice(skip));
        if (!hold) return; // another verifier holds it, or nobody (the approver hears "no call held")
        let a: { approve?: unknown; approver?: unknown; approval_msg_id?: unknown; reason?: unknown; server?: unknown; args_sha256?: unknown };
        try {
          a = JSON.parse(new TextDecoder().decode(m.data));
        } catch {
          return;
        }
        if (a.server !== hold.server) return void m.respond(JSON.stringify({ ok: false, detail: `the call ${hold.id} is held for ${hold.server}, not ${String(a.server)}` }));
        // four eyes (docs/design.md §15): the caller never decides its own call (its notice carries no token for it either)
        if (a.approver === hold.h.sender) return void m.respond(JSON.stringify({ ok: false, detail: `${hold.h.sender} made the call ${hold.id} and may not decide it` }));
        const by = `${String(a.approver)} (approval ${String(a.approval_msg_id)})`;
        if (a.approve === true && a.args_sha256 !== hold.argsSha256) {
          // the approver was shown other arguments than the held call's: never delivered
          this.#denyHold(hold, Reason.REASON_APPROVAL_DENIED, `approved by ${by} for arguments sha256:${String(a.args_sha256).slice(0, 16)}…, but the held call's are sha256:${hold.argsSha256.slice(0, 16)}…: not delivered`);
          return void m.respond(JSON.stringify({ ok: false, detail: `the approval's args_sha256 is not the held call's (${hold.argsSha256}): the call was refused, not delivered` }));
        }
        if (a.approve === true) this.#approveHold(hold, `approved by ${by}`);
        else this.#denyHold(hold, Reason.REASON_APPROVAL_DENIED, `denied by ${by}${typeof a.reason === 'string' && a.reason ? `: ${boundedDetail(a.reason)}` : ''}`);
        m.respond(JSON.stringify({ ok: true }));
      },
    });
    this.#approvalTimer = setInterval(() => {
      const now = Date.now();
      for (const hold of this.#holds.values()) {
        if (now >= hold.deadline) this.#denyHold(hold, Reason.REASON_APPROVAL_TIMEOUT, `no approval within ${Math.round(this.#approvalTimeout / 1000)} s`);
        else this.#announce(hold);
      }
      for (const [id, d] of this.#decidedHolds) if (now - d.at > this.#window) this.#decidedHolds.delete(id);
    }, 1000);
    this.#approvalTimer.unref();
  }

  #announce(hold: Hold): void {
    if (this.nc.isClosed()) return;
    const tokens: Record<string, string> = {};
    for (const [name, a] of this.#snap.policy.agents) if (a.canApprove(hold.server) && name !== hold.h.sender) tokens[name] = this.#state.depthTokens.mint(hold.h.msgId, name, '', hold.depth);
    const notice: PendingApproval = {
      msg_id: hold.id, caller: hold.h.sender, server: hold.server, tool: hold.tool, args: hold.args, args_sha256: hold.argsSha256,
      held_at: new Date(hold.heldAt).toISOString(), expires_at: new Date(hold.deadline).toISOString(), verifier_id: this.id, depth: hold.depth, tokens,
    };
    this.nc.publish(`${D.SUBJECT_APPROVAL_PENDING_PREFIX}${hold.server}`, JSON.stringify(notice));
  }

  /** A tool call whose policy asks for approval: held (answered HELD now; a resend waits for the outcome). */
  #hold(h: HeaderFields, data: Uint8Array, args: string, reply: string, verdict: Verdict, depth: number): void {
    const id = toHex(h.msgId);
    let hold = this.#holds.get(id);
    if (hold) {
      if (reply) hold.waiters.push({ reply, verdict });
      return;
    }
    const tool = parseToolType(h.type)!;
    const now = Date.now();
    hold = {
      h, id, data, depth, verdict, server: tool.server, tool: tool.tool, args, argsSha256: approvalArgsSha256(args),
      heldAt: now, deadline: now + this.#approvalTimeout, waiters: [],
    };
    this.#holds.set(id, hold);
    this.#log.info({ msg_id: id, sender: h.sender, server: tool.server, tool: tool.tool }, 'tool call held for approval');
    this.#announce(hold);
    if (reply) this.#answer(reply, verdict, Reason.REASON_UNSPECIFIED, h.msgId, `held for approval until ${new Date(hold.deadline).toISOString()}`, depth, Delivery.DELIVERY_HELD);
  }

  #approveHold(hold: Hold, detail: string): void {
    this.#holds.delete(hold.id);
    this.#decidedHolds.set(hold.id, { delivery: Delivery.DELIVERY_APPROVED, reason: Reason.REASON_UNSPECIFIED, detail, at: Date.now() });
    this.#log.info({ msg_id: hold.id, detail }, 'tool call approved');
    const h = hold.h;
    this.#inflightN++;
    // the decision is in the audit stream before the call goes out
    this.#audit.addDelivery({ msgId: h.msgId, recipient: h.recipient, delivery: Delivery.DELIVERY_APPROVED, atMs: Date.now(), detail }).then(
      () => {
        const hdrs = natsHeaders();
        hdrs.set(D.DEPTH_HEADER, String(hold.depth));
        hdrs.set(D.DEPTH_TOKEN_HEADER, this.#state.depthTokens.mint(h.msgId, h.recipient, h.topic, hold.depth));
        const subject = `${D.SUBJECT_TO_PREFIX}${h.recipient}.${h.type}`;
        this.#deliver(h, subject, hold.data, hdrs, '', hold.verdict, hold.depth);
        const p = this.#pending.get(hold.id);
        if (p) p.waiters.push(...hold.waiters);
        this.#done();
      },
      (e: unknown) => {
        this.#log.error({ err: (e as Error).message, msg_id: hold.id }, 'approval record not stored; the call is not delivered');
        this.#done();
      },
    );
  }

  #denyHold(hold: Hold, reason: Reason, detail: string): void {
    this.#holds.delete(hold.id);
    this.#decidedHolds.set(hold.id, { delivery: Delivery.DELIVERY_DENIED, reason, detail, at: Date.now() });
    this.#log.warn({ msg_id: hold.id, reason: reasonName(reason), detail }, 'tool call not approved');
    const p = { recipient: hold.h.recipient, msgId: hold.h.msgId, depth: hold.depth, waiters: hold.waiters } as PendingDelivery;
    this.#record(p, Delivery.DELIVERY_DENIED, { reason, detail });
  }

  /** An accepted approval: to the verifier that holds the call; the approver hears whether one did. */
  #applyApproval(h: HeaderFields, payload: Uint8Array, reply: string, verdict: Verdict, depth: number): void {
    let a: { msg_id: string; approve: boolean; reason?: string; args_sha256?: string };
    try {
      a = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return;
    }
    const body = JSON.stringify({ approve: a.approve, approver: h.sender, approval_msg_id: toHex(h.msgId), reason: a.reason ?? '', server: h.recipient, args_sha256: a.args_sha256 ?? '' });
    this.#inflightN++;
    this.nc.request(`${D.SUBJECT_INTERNAL_APPROVAL_PREFIX}${a.msg_id}`, body, { timeout: 2000 }).then(
      (m) => {
        const r = JSON.parse(new TextDecoder().decode(m.data)) as { ok: boolean; detail?: string };
        if (reply) this.#answer(reply, verdict, Reason.REASON_UNSPECIFIED, h.msgId, r.ok ? `${a.approve ? 'approved' : 'denied'} ${a.msg_id}` : (r.detail ?? ''), depth, r.ok ? Delivery.DELIVERY_CONFIRMED : Delivery.DELIVERY_UNCONFIRMED);
        this.#done();
      },
      () => {
        if (reply) this.#answer(reply, verdict, Reason.REASON_UNSPECIFIED, h.msgId, `no call ${a.msg_id} is held for approval (decided, expired, or never held)`, depth, Delivery.DELIVERY_UNCONFIRMED);
        this.#done();
      },
    );
  }

  #deliver(h: HeaderFields, subject: string, data: Uint8Array, headers: MsgHdrs, reply: string, verdict: Verdict, depth: number): void {
    const id = toHex(h.msgId);
    const now = Date.now();
    let p = this.#pending.get(id);
    if (!p) {
      p = { recipient: h.recipient, subject, data, headers, depth, msgId: h.msgId, waiters: [], attempts: 0, nextAt: 0, deadline: 0 };
      this.#pending.set(id, p);
    }
    if (reply) p.waiters.push({ reply, verdict });
    p.deadline = now + this.#deliveryTimeout;
    this.#forward(p, now);
  }

  #forward(p: PendingDelivery, now: number): void {
    if (p.attempts++ > 0) this.stats.redeliveries++;
    p.nextAt = now + 150 * Math.min(p.attempts, 4); // again after 150, 450, 900, 1500 ms…
    this.nc.publish(p.subject, p.data, { headers: p.headers, reply: this.#confirmPrefix + p.recipient });
  }

  #sweepDeliveries(now: number): void {
    for (const [id, p] of this.#pending) {
      if (now >= p.deadline) {
        this.#pending.delete(id);
        this.stats.unconfirmed++;
        this.#log.warn({ msg_id: id, recipient: p.recipient, attempts: p.attempts }, 'delivery not confirmed: is the recipient connected?');
        this.#record(p, Delivery.DELIVERY_UNCONFIRMED);
      } else if (now >= p.nextAt) this.#forward(p, now);
    }
    this.stats.pendingDeliveries = this.#pending.size;
  }

  /**
   * The delivery outcome goes into the audit stream before the sender hears it (docs/design.md §9): a
   * verifier that takes this sender's partition over then knows the message was delivered and
   * answers a retry without forwarding it again.
   */
  #record(p: PendingDelivery, delivery: Delivery, refusal?: { reason: Reason; detail: string }): void {
    this.#inflightN++;
    this.#audit.addDelivery({ msgId: p.msgId, recipient: p.recipient, delivery, atMs: Date.now(), ...(refusal ?? {}) }).then(
      () => {
        this.#settle(p, delivery, refusal);
        this.#done();
      },
      (e: unknown) => {
        // not stored (the publisher is closing): the sender's retry will be delivered again, never lost
        this.#log.error({ err: (e as Error).message }, 'delivery record not stored');
        this.#done();
      },
    );
  }

  #settle(p: PendingDelivery, delivery: Delivery, refusal?: { reason: Reason; detail: string }): void {
    const reason = refusal?.reason ?? Reason.REASON_UNSPECIFIED;
    const detail = !refusal ? '' : delivery === Delivery.DELIVERY_REFUSED ? `refused by ${p.recipient}: ${refusal.detail}` : refusal.detail;
    for (const w of p.waiters) this.#answer(w.reply, w.verdict, reason, p.msgId, detail, p.depth, delivery);
  }

  /** Partitions this instance owns now. */
  get partitions(): number[] {
    return this.#parts.owned();
  }

  /** Rebuild the partitions' replay state from the audit stream (one read for all), then subscribe. */
  async #acquire(ps: number[]): Promise<void> {
    const want = new Set(ps);
    const since = Date.now() - this.#window;
    const c = await this.#js.consumers.get(D.AUDIT_STREAM, {
      filter_subjects: `${D.SUBJECT_AUDIT_PREFIX}accepted`,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(since).toISOString(),
    });
    let pending = (await c.info()).num_pending;
    const delivered: Uint8Array[] = [];
    while (pending > 0) {
      const batch = await c.fetch({ max_messages: Math.min(pending, 1000), expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        const opened = openSignedBatch(m.data);
        if (!opened.ok) continue;
        const { events, deliveries } = opened.value.batch;
        for (const d of deliveries) if (d.delivery === Delivery.DELIVERY_CONFIRMED && d.msgId?.length === 16) delivered.push(d.msgId);
        for (const ev of events) {
          if (!want.has(partitionOf(ev.subjectSender ?? '', this.#opts.partitions))) continue;
          const header = ev.header ?? new Uint8Array(0);
          const hd = header.length ? decodeHeader(header) : undefined;
          if (!hd?.ok) continue;
          this.#state.replay.add(hd.value.msgId, envelopeKey(header, ev.signature ?? new Uint8Array(0)), ev.effectiveDepth ?? 0);
          this.stats.rebuilt++;
        }
      }
      if (got === 0) break;
      pending -= got;
    }
    // after the events: a delivery record always follows its message's accepted event
    for (const id of delivered) this.#state.replay.markDelivered(id);
    for (const p of ps) this.#subscribePartition(p);
  }

  #subscribePartition(p: number): void {
    const sub = this.nc.subscribe(`${D.SUBJECT_PART_PREFIX}${p}.*`, {
      queue: D.VERIFIER_QUEUE,
      callback: (err, msg) => {
        if (err) {
          this.#log.error({ err: err.message }, 'subscription error');
          return;
        }
        this.#onMessage(msg);
      },
    });
    this.#subs.set(p, sub);
    this.stats.partitions = [...this.#subs.keys()].sort((a, b) => a - b);
  }

  /** Stop serving a partition: unsubscribe, finish in-flight messages, store their audit events. */
  async #release(p: number): Promise<void> {
    const sub = this.#subs.get(p);
    this.#subs.delete(p);
    this.stats.partitions = [...this.#subs.keys()].sort((a, b) => a - b);
    await sub?.drain().catch(() => undefined);
    this.#flushShed(p); // no message of p arrives any more: its shed counts are final
    this.#answerShed();
    await this.#idle();
    await this.#audit.flush();
  }

  /** Reload manifests if the directory changed. Keeps the old policy when the new one is bad. */
  reloadIfChanged(force = false): boolean {
    const sig = dirSignature(this.#opts.manifestsDir);
    if (!force && sig === this.#policySig) return false;
    this.#policySig = sig;
    try {
      this.#snap = policySnapshot({ ...this.#snap, policy: new Policy(loadManifestDir(this.#opts.manifestsDir)) });
      this.stats.manifestReloads++;
      this.#log.info({ agents: this.#snap.policy.agents.size }, 'manifests reloaded');
      return true;
    } catch (e) {
      this.stats.manifestErrors++;
      this.#log.error({ err: (e as Error).message }, 'manifest reload failed; keeping the previous policy');
      return false;
    }
  }

  get policy(): Policy {
    return this.#snap.policy;
  }

  /** Swap the contract registry (a reloaded contracts module); in-flight messages finish on the old one. */
  setContracts(contracts: ContractRegistry): void {
    this.#snap = policySnapshot({ ...this.#snap, contracts });
    this.#log.info({ types: contracts.size }, 'contracts reloaded');
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
    const input = this.#fillInput(msg, route, now, undefined);
    const pre = pool.pending < VERIFY_AHEAD_MAX ? signatureCheckOf(input, this.#snap, this.#state) : undefined;
    input.data = EMPTY;
    if (pre === undefined && this.#queueHead === this.#queue.length) {
      this.#handle(msg, route, now, undefined);
      return;
    }
    const entry: Queued = { msg, route, now, pre, ready: pre === undefined };
    this.#queue.push(entry);
    this.stats.inflight = ++this.#inflightN;
    if (pre) {
      pool.submit(pre.key, pre.headerBytes, pre.signature, (ok) => {
        pre.ok = ok;
        if (ok !== undefined) this.stats.verifiedAhead++;
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
      this.#done();
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
    const subject = msg.subject;
    const input = this.#fillInput(msg, route, now, pre);
    const m = this.#metrics;
    const t0 = m ? performance.now() : 0;
    const d = decide(input, this.#snap, this.#state);
    input.data = EMPTY; // keep no reference to the message
    input.pre = undefined;
    this.stats.received++;
    if (d.shed) {
      // a shed message costs a few counters and, if it may be answered, a slot in the ring
      this.stats.shed++;
      m?.verdict(Verdict.VERDICT_REJECTED, Reason.REASON_REJECTION_BUDGET_EXCEEDED);
      const q = this.#quarantine;
      if (q !== undefined && !this.#quarantining.has(route.sender) && !q.isActive(route.sender, now)) this.#quarantineSender(route.sender, now);
      const reply = msg.reply;
      if (reply && d.answer) {
        const cap = this.#held.length;
        if (this.#heldN < cap) {
          const i = (this.#heldHead + this.#heldN++) % cap;
          this.#held[i] = reply;
          this.#heldAt[i] = now;
        } else this.nc.publish(reply, this.#shedAck);
      }
      return;
    }
    if (m) m.checkDuration(BigInt(Math.round((performance.now() - t0) * 1e6)));
    if (d.reason === Reason.REASON_SENDER_MISMATCH && d.detail === WRONG_PARTITION_DETAIL) {
      this.#log.error({ subject }, 'message on the wrong partition: nats-server and verifier disagree on --partitions');
    }
    this.stats.inflight = ++this.#inflightN;
    this.#finish(msg, route.sender, d, t0).then(this.#done, this.#failed);
  }

  #newRoute(subject: string): Route {
    // agentbus.part.<p>.<sender> (the server's mapping of agentbus.in.<sender>)
    const dot = subject.indexOf('.', D.SUBJECT_PART_PREFIX.length);
    const route: Route = { sender: subject.slice(dot + 1), partition: Number(subject.slice(D.SUBJECT_PART_PREFIX.length, dot)) };
    this.#routes.set(subject, route);
    return route;
  }

  /** Answer the held shed messages that arrived at or before `upTo` (all: Infinity), oldest first. */
  #answerShed(upTo = Infinity): void {
    if (this.#heldN === 0 || this.nc.isClosed()) return;
    const cap = this.#held.length;
    while (this.#heldN > 0 && this.#heldAt[this.#heldHead]! <= upTo) {
      const i = this.#heldHead;
      this.nc.publish(this.#held[i]!, this.#shedAck);
      this.#held[i] = '';
      this.#heldHead = (i + 1) % cap;
      this.#heldN--;
    }
  }

  /**
   * One audit event per sender with shed messages (all senders, or those of one partition):
   * the subject sender (what NATS authenticated), shed_count and the window it covers — nothing
   * taken from the shed bytes, which nobody checked. Called every SHED_AUDIT_INTERVAL_MS, when a
   * partition is released and at drain.
   */
  #flushShed(partition?: number): void {
    const now = Date.now();
    for (const b of this.#state.budgets.values()) {
      if (b.shed === 0 || (partition !== undefined && b.ownPartition !== partition)) continue;
      this.#auditShed(b, now, '');
    }
  }

  /**
   * The sender (the subject token: what NATS authenticated) has spent its rejection budget and is
   * not quarantined: quarantine it at NATS (common/quarantine.ts) — its record in the bucket, which
   * the config followers apply — and audit it at once with its shed count.
   */
  #quarantineSender(sender: string, now: number): void {
    const q = this.#quarantine!;
    const b = this.#state.budgets.get(sender);
    if (!b || b.shed === 0) return;
    const base = this.#opts.quarantineMs;
    const max = this.#opts.quarantineMaxMs;
    const level = nextLevel(q.records.get(sender), now, base, max);
    const cool = coolDownMs(level, base, max);
    const rec: QuarantineRecord = { agent: sender, until_ms: now + cool, level, shed: b.shed, at_ms: now, by: this.id };
    this.#quarantining.add(sender);
    this.#auditShed(b, now, `; ${quarantineDetail(rec.until_ms, cool, level)}`);
    this.#log.warn({ sender, until: new Date(rec.until_ms).toISOString(), cool_down_ms: cool, level }, 'sender quarantined at NATS: disconnected and refused for the cool-down');
    q.kv.put(sender, encodeRecord(rec)).then(
      () => void q.records.set(sender, rec),
      (e: unknown) => this.#log.error({ err: (e as Error).message, sender }, 'quarantine not recorded'),
    ).finally(() => this.#quarantining.delete(sender));
  }

  /** The shed summary of one sender (its count reset); `more` is appended to its detail. */
  #auditShed(b: SenderBudget, now: number, more: string): void {
    const n = b.shed;
    b.shed = 0;
    const name = reasonName(Reason.REASON_REJECTION_BUDGET_EXCEEDED);
    this.stats.rejected[name] = (this.stats.rejected[name] ?? 0) + n;
    const event: IAuditEvent = {
      eventId: this.#nextEventId(),
      verifierId: this.id,
      verifiedAtMs: now,
      verdict: Verdict.VERDICT_REJECTED,
      reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED,
      detail: `${n} shed unverified: rejection budget ${Math.round(b.perMs * 1000 * 1000) / 1000}/s, burst ${b.burst} spent${more}`,
      subjectSender: b.sender,
      // no header, signature, payload hash or size: a shed message's bytes are the sender's unverified claim
      header: EMPTY,
      signature: EMPTY,
      payloadSize: 0,
      payloadSha256: EMPTY,
      effectiveDepth: 0,
      rawSize: 0,
      shedCount: n,
      windowStartMs: b.shedStart,
    };
    this.#log.warn({ sender: b.sender, shed: n, window_ms: now - b.shedStart, reason: name }, 'rejection budget spent: messages shed unverified');
    this.#audit.add(event).catch((e: unknown) => this.#log.error({ err: (e as Error).message, sender: b.sender, shed: n }, 'audit event of shed messages not stored'));
  }

  async #finish(msg: Msg, subjectSender: string, d: Decision, t0: number): Promise<void> {
    const h = d.header;
    const verdict = d.verdict;
    const reason = d.reason;
    const depth = d.depth;
    let answer = d.answer;
    this.#metrics?.verdict(verdict, reason);
    // docs/design.md §6: the audit event is stored before the message is delivered or answered.
    await this.#audit.add(auditEventOf(d, subjectSender, msg.data.length, this.#nextEventId(), this.id, Date.now()));
    let delivery: Delivery = Delivery.DELIVERY_UNSPECIFIED;
    if (t0 && verdict !== Verdict.VERDICT_REJECTED) this.#metrics?.inVerifier((performance.now() - t0) / 1000);
    const approvalGate = (verdict === Verdict.VERDICT_ACCEPTED || verdict === Verdict.VERDICT_DUPLICATE) && h && h.recipient !== '' ? this.#approvalGate(d, msg.reply && answer ? msg.reply : '', msg.data) : false;
    if (approvalGate) {
      if (verdict === Verdict.VERDICT_ACCEPTED) this.stats.accepted++;
      else this.stats.duplicates++;
      return;
    }
    if (verdict === Verdict.VERDICT_ACCEPTED || verdict === Verdict.VERDICT_DUPLICATE) {
      // A duplicate (a client retry) is forwarded again unless this verifier saw its recipient
      // confirm it: the first attempt may have died between claim and forward, or the forward on
      // the way. Receivers drop a msg_id they already delivered (SDK inbox dedup).
      // (a confirmed msg_id is never pending again: confirming ends its delivery)
      const confirmedRetry = verdict === Verdict.VERDICT_DUPLICATE && h!.recipient !== '' && this.#state.replay.delivered(h!.msgId);
      const hdrs = confirmedRetry ? undefined : natsHeaders();
      hdrs?.set(D.DEPTH_HEADER, String(depth));
      hdrs?.set(D.DEPTH_TOKEN_HEADER, this.#state.depthTokens.mint(h!.msgId, h!.recipient, h!.topic, depth));
      if (!hdrs) {
        // delivered and confirmed already (the sender's first ack was lost): answer, no re-send
        delivery = Delivery.DELIVERY_CONFIRMED;
      } else if (h!.recipient) {
        // answered when the recipient confirms (or at the delivery timeout)
        this.#deliver(h!, `${D.SUBJECT_TO_PREFIX}${h!.recipient}.${h!.type}`, msg.data, hdrs, answer && msg.reply ? msg.reply : '', verdict, depth);
        answer = false;
      } else {
        this.nc.publish(`${D.SUBJECT_TOPIC_PREFIX}${h!.topic}.${h!.type}`, msg.data, { headers: hdrs });
        delivery = Delivery.DELIVERY_BROADCAST;
      }
      if (verdict === Verdict.VERDICT_ACCEPTED) this.stats.accepted++;
      else this.stats.duplicates++;
    } else {
      const name = reasonName(reason);
      this.stats.rejected[name] = (this.stats.rejected[name] ?? 0) + 1;
    }
    const detail = d.detail;
    if (verdict !== Verdict.VERDICT_REJECTED && !this.#log.isLevelEnabled('debug')) {
      if (answer && msg.reply) this.#answer(msg.reply, verdict, reason, h?.msgId, detail, depth, delivery);
      return;
    }
    const logFields = {
      msg_id: h ? toHex(h.msgId) : undefined,
      trace_id: h && h.traceId.length ? toHex(h.traceId) : undefined,
      sender: subjectSender,
      recipient: h ? h.recipient || `topic:${h.topic}` : undefined,
      type: h?.type,
      verdict: verdictName(verdict),
      reason: verdict === Verdict.VERDICT_REJECTED ? reasonName(reason) : undefined,
      depth,
    };
    if (verdict === Verdict.VERDICT_REJECTED) this.#log.warn(logFields, 'rejected');
    else this.#log.debug(logFields, verdictName(verdict));
    if (answer && msg.reply) this.#answer(msg.reply, verdict, reason, h?.msgId, detail, depth, delivery);
  }

  /**
   * Held tool calls and approvals take over from the normal delivery: true when handled here
   * (a call held or still held, a call denied earlier, an approval passed to its holder).
   */
  #approvalGate(d: Decision, reply: string, data: Uint8Array): boolean {
    const h = d.header!;
    if (h.type === APPROVAL_TYPE) {
      this.#applyApproval(h, d.payload!, reply, d.verdict, d.depth);
      return true;
    }
    if (!d.approval) return false;
    const decided = this.#decidedHolds.get(toHex(h.msgId));
    if (decided?.delivery === Delivery.DELIVERY_APPROVED) return false; // approved: delivered like any message
    if (decided) {
      if (reply) this.#answer(reply, d.verdict, decided.reason, h.msgId, decided.detail, d.depth, Delivery.DELIVERY_DENIED);
      return true;
    }
    this.#hold(h, data, d.approvalArgs ?? '', reply, d.verdict, d.depth);
    return true;
  }

  /** Every answer to an agent: its detail may reach a model, so hidden characters are only counted (docs/design.md §15). */
  #answer(reply: string, verdict: Verdict, reason: Reason, msgId: Uint8Array | undefined, detail: string, depth: number, delivery: Delivery): void {
    this.nc.publish(reply, Ack.encode({ verdict, reason, msgId: msgId ?? new Uint8Array(0), detail: visibleDetail(detail), depth, verifierId: this.id, delivery }).finish());
  }

  // Event ids: 8 random bytes per process ‖ a 64-bit counter — unique, and no CSPRNG call per message.
  #eventPrefix = randomBytes(8);
  #eventCounter = 0n;
  #nextEventId(): Uint8Array {
    const id = Buffer.allocUnsafe(16);
    this.#eventPrefix.copy(id, 0);
    id.writeBigUInt64BE(++this.#eventCounter, 8);
    return id;
  }

  /** Stop taking messages, finish the ones in flight, store their audit events, close. */
  async drain(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    if (this.#prune) clearInterval(this.#prune);
    await this.#parts.stop(); // releases every partition: unsubscribe, finish in-flight, flush audit
    if (this.#shedTimer) clearInterval(this.#shedTimer);
    if (this.#shedAnswerTimer) clearInterval(this.#shedAnswerTimer);
    this.#flushShed(); // (each release flushed its partition's counts; this is the remainder)
    this.#answerShed();
    await this.#idle();
    // deliveries in flight settle (confirmed, or unconfirmed at their timeout) before we go
    const until = Date.now() + this.#deliveryTimeout + 200;
    while (this.#pending.size && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    if (this.#sweep) clearInterval(this.#sweep);
    if (this.#approvalTimer) clearInterval(this.#approvalTimer);
    this.#approvalSub?.unsubscribe();
    this.#confirmSub?.unsubscribe();
    this.#quarantine?.stop();
    await this.#audit.close();
    await this.#pool?.close();
    await this.nc.drain().catch(() => undefined);
    await this.#metricsServer?.close();
    this.#log.info({ stats: this.stats }, 'verifier drained');
  }

  /** Close at once, without releasing partitions (tests; like a crash). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#parts.abandon();
    if (this.#shedTimer) clearInterval(this.#shedTimer);
    if (this.#shedAnswerTimer) clearInterval(this.#shedAnswerTimer);
    if (this.#sweep) clearInterval(this.#sweep);
    if (this.#approvalTimer) clearInterval(this.#approvalTimer);
    if (this.#poll) clearInterval(this.#poll);
    if (this.#prune) clearInterval(this.#prune);
    this.#quarantine?.stop();
    await this.nc.close().catch(() => undefined);
    this.#queue = []; // like a crash: what waited for its check is never decided
    this.#queueHead = 0;
    await this.#pool?.close();
    await this.#metricsServer?.close();
  }
}

export function startVerifier(opts: VerifierOptions): Promise<Verifier> {
  return Verifier.start(opts);
}

const EMPTY = new Uint8Array(0);

/** How often held shed answers are released (small steps: the answers, and what they pace, stay smooth). */
const SHED_ANSWER_TICK_MS = 5;
/** The recipient's refusal detail: valid UTF-8 from the header, at most MAX_REFUSAL_DETAIL_BYTES, no control characters. */
function boundedDetail(s: string): string {
  // eslint-disable-next-line no-control-regex
  let out = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  while (Buffer.byteLength(out) > D.MAX_REFUSAL_DETAIL_BYTES) out = out.slice(0, -1);
  return out.replace(/[\ud800-\udbff]$/, '');
}

/** At most this many msg_ids per confirmation message (the SDK splits its batches to fit). */
export { MAX_CONFIRM_IDS };
