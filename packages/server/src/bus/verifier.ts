// The broker-side verifier (DESIGN §4–5, §9). Every message published on agentbus.in.<sender>
// passes here. First the subject sender's rejection budget (before any parsing: past it the
// message is shed, answered and counted, nothing more); then the checks run cheap-first over
// precomputed state (manifests compiled to lookup tables), then the verifier claims the msg_id
// in the shared replay store, stores the audit event (group commit), forwards the envelope
// byte-for-byte and answers the sender.
//
// Cross-instance state: nats-server routes each sender to one partition (subject mapping),
// and each partition has one owner verifier (bus/partitions.ts), so a sender's replay, depth
// and rate state live in that verifier's memory — no shared round trip per message. A new
// owner rebuilds replay state from the AUDIT stream. Chain depth across partitions travels
// with the message as a token the verifiers MAC (Agentbus-Depth-Token). docs/decisions.md
// has the design and its measured cost.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, headers as natsHeaders, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection, Msg, MsgHdrs, Subscription } from '@nats-io/transport-node';
import { jetstream, DeliverPolicy } from '@nats-io/jetstream';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { Ack, Delivery, Reason, Verdict, reasonName, verdictName, MAX_CONFIRM_IDS } from '@agentbus/protocol';
import type { IAuditEvent } from '@agentbus/protocol';
import { parseEnvelope, decodeHeader, sha256, equalBytes, toHex, SIGNING_DOMAIN, MAX_HEADER_BYTES } from '@agentbus/protocol';
import { metadataBytes, checkMetadata } from '@agentbus/protocol';
import type { HeaderFields } from '@agentbus/protocol';
import { defaultBackend, nativeHashes } from '@agentbus/protocol';
import type { Ed25519Backend } from '@agentbus/protocol';
import type { ContractRegistry } from 'agentbus/internal';
import { createLogger } from 'agentbus/internal';
import { Policy, loadManifestDir, dirSignature } from '@agentbus/protocol';
import type { CompiledAgent } from '@agentbus/protocol';
import { AuditPublisher } from './audit-publisher.js';
import { ensureAuditStream } from './audit-stream.js';
export { ensureAuditStream };
import { PartitionManager, partitionOf } from './partitions.js';
import { ReplayTable, ABSENT, OTHER_ENVELOPE } from './replay-table.js';
import { ChainSealer, openSignedBatch } from './audit-chain.js';
import type { AuditSigner } from './audit-chain.js';
import { SigningKey } from 'agentbus/internal';
import type { ServiceIdentity } from './service-creds.js';
import * as D from '@agentbus/protocol';
import { VerifierMetrics, startMetricsServer, watchConnection } from './metrics.js';
import type { MetricsServer } from './metrics.js';

export interface VerifierOptions {
  servers: string | string[];
  credentials?: ServiceIdentity;
  manifestsDir: string;
  contracts: ContractRegistry;
  id?: string;
  maxSkewMs?: number;
  /** How long accepted msg_ids are remembered (≥ 2 × skew; default 2 × skew + 5 s). */
  replayWindowMs?: number;
  /** Number of sender partitions; must match the nats-server mapping (nats-config --partitions). */
  partitions?: number;
  /** Shared by all verifiers: MAC key of the depth tokens (32 bytes). Random per process if absent. */
  depthKey?: Uint8Array;
  leaseTtlMs?: number;
  auditBatchMax?: number;
  /** Replicas for the AUDIT stream and the replay bucket (3 on a 3-node cluster). */
  replicas?: number;
  manifestPollMs?: number;
  logger?: Logger;
  backend?: Ed25519Backend;
  /** Extra connection options (tls, ...). */
  connectOptions?: Record<string, unknown>;
  /** Serve /metrics, /healthz and /readyz on this port (0 or absent: off). */
  metricsPort?: number;
  /** Re-forward a direct message until its recipient confirms, for this long (default 1000 ms). */
  deliveryTimeoutMs?: number;
  /** Bind address of the metrics server (default 127.0.0.1). */
  metricsHost?: string;
}

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
  /** Messages shed unverified because their sender's rejection budget was spent (also in rejected, per audit interval). */
  shed: number;
}

/**
 * Per subject (agentbus.part.<p>.<sender>): what the verifier knows before it looks at the
 * bytes — who NATS authenticated, whether the partition is right, the sender's inbox prefix —
 * and the sender's budget for rejected messages (a token bucket; docs/decisions.md). Shed
 * messages are only counted here, and reported in one audit event per interval.
 */
interface SenderBudget {
  readonly sender: string;
  /** The partition number in the subject, and whether it is the sender's own. */
  readonly partition: number;
  readonly partOk: boolean;
  readonly inboxPrefix: string;
  tokens: number;
  last: number;
  perMs: number;
  burst: number;
  /** The policy the rates above come from (refreshed when the manifests reload). */
  policy: Policy;
  /** Messages shed since the last audit event, the time of the first, and the bytes of the last. */
  shed: number;
  shedStart: number;
  lastShed: Uint8Array | undefined;
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


/** Outcome of the synchronous checks. */
type Checked =
  | { ok: false; reason: Reason; detail: string; header?: HeaderFields; headerBytes?: Uint8Array; signature?: Uint8Array; payload?: Uint8Array }
  | { ok: true; header: HeaderFields; headerBytes: Uint8Array; signature: Uint8Array; payload: Uint8Array };


export class Verifier {
  readonly id: string;
  readonly nc: NatsConnection;
  #js: JetStreamClient;
  #audit: AuditPublisher;
  #parts: PartitionManager;
  #subs = new Map<number, Subscription>();
  #replay!: ReplayTable;
  #depthKey: Uint8Array;
  #window: number;
  #policy: Policy;
  #policySig: string;
  #opts: Required<Pick<VerifierOptions, 'maxSkewMs' | 'manifestPollMs' | 'partitions'>> & VerifierOptions;
  #log: Logger;
  #backend: Ed25519Backend;
  #poll: NodeJS.Timeout | undefined;
  #prune: NodeJS.Timeout | undefined;
  #buckets = new Map<string, { tokens: number; last: number }>();
  /** Rejection budgets by subject (see SenderBudget). */
  #budgets = new Map<string, SenderBudget>();
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
  readonly stats: VerifierStats = { received: 0, accepted: 0, duplicates: 0, rejected: {}, inflight: 0, manifestReloads: 0, manifestErrors: 0, partitions: [], remembered: 0, rebuilt: 0, pendingDeliveries: 0, redeliveries: 0, unconfirmed: 0, shed: 0 };
  /** Direct messages waiting for their recipient's confirmation, by msg_id (hex). */
  #pending = new Map<string, PendingDelivery>();
  #confirmPrefix = '';
  #confirmSub: Subscription | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #deliveryTimeout = D.DEFAULT_DELIVERY_TIMEOUT_MS;

  private constructor(nc: NatsConnection, js: JetStreamClient, policy: Policy, policySig: string, opts: VerifierOptions) {
    this.nc = nc;
    this.#js = js;
    this.#policy = policy;
    this.#policySig = policySig;
    this.#opts = { maxSkewMs: D.DEFAULT_MAX_SKEW_MS, manifestPollMs: D.DEFAULT_MANIFEST_POLL_MS, partitions: D.DEFAULT_PARTITIONS, ...opts };
    this.#window = opts.replayWindowMs ?? 2 * this.#opts.maxSkewMs + 5000;
    if (this.#window < 2 * this.#opts.maxSkewMs) throw new RangeError('replayWindowMs must be at least 2 × maxSkewMs');
    this.#replay = new ReplayTable(this.#window);
    this.#deliveryTimeout = opts.deliveryTimeoutMs ?? D.DEFAULT_DELIVERY_TIMEOUT_MS;
    this.id = opts.id ?? `${hostname()}-${process.pid}`;
    this.#log = (opts.logger ?? createLogger({ name: 'verifier' })).child({ verifier: this.id });
    this.#shedAck = Ack.encode({ verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED, detail: 'rejection budget spent: message shed unverified', verifierId: this.id }).finish();
    this.#backend = opts.backend ?? defaultBackend();
    // DESIGN §10: audit batches are signed with the verifier's own service key.
    let signer: AuditSigner;
    if (opts.credentials) signer = opts.credentials.auditKey();
    else {
      this.#log.warn('no service credentials: audit batches are signed with a throwaway key that `audit verify` cannot check');
      signer = SigningKey.generate();
    }
    this.#audit = new AuditPublisher(js, this.#log, new ChainSealer(this.id, signer), opts.auditBatchMax);
    if (!opts.depthKey) this.#log.warn('no shared depth key: depth tokens of other verifier instances will not be accepted');
    this.#depthKey = opts.depthKey ?? randomBytes(32);
    this.#parts = new PartitionManager(nc, this.id, this.#opts.partitions, { acquire: (p) => this.#acquire(p), release: (p) => this.#release(p) }, this.#log, {
      ...(opts.leaseTtlMs ? { ttlMs: opts.leaseTtlMs } : {}),
      replicas: opts.replicas ?? 1,
    });
  }

  static async start(opts: VerifierOptions): Promise<Verifier> {
    const dt = opts.deliveryTimeoutMs;
    if (dt !== undefined && (!Number.isInteger(dt) || dt < 100)) throw new RangeError(`deliveryTimeoutMs must be an integer ≥ 100, got ${dt}`);
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
    const replicas = opts.replicas ?? 1;
    try {
      await ensureAuditStream(nc, replicas);
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
      v.#replay.rotate();
      v.stats.remembered = v.#replay.size;
    }, 1000);
    v.#prune.unref();
    v.#shedTimer = setInterval(() => v.#flushShed(), D.SHED_AUDIT_INTERVAL_MS);
    v.#shedTimer.unref();
    v.#shedAnswerTimer = setInterval(() => v.#answerShed(Date.now() - D.SHED_ANSWER_DELAY_MS), SHED_ANSWER_TICK_MS);
    v.#shedAnswerTimer.unref();
    v.#startDelivery();
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
      replayEntries: () => this.#replay.size,
      replayBytes: () => this.#replay.bytes,
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
        for (let i = 0; i < data.length; i += 16) {
          const id = toHex(data.subarray(i, i + 16));
          const p = this.#pending.get(id);
          if (!p || p.recipient !== recipient) continue;
          this.#pending.delete(id);
          this.#replay.markDelivered(p.msgId);
          this.#record(p, Delivery.DELIVERY_CONFIRMED);
        }
      },
    });
    this.#sweep = setInterval(() => this.#sweepDeliveries(Date.now()), 50);
    this.#sweep.unref();
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
   * The delivery outcome goes into the audit stream before the sender hears it (DESIGN §9): a
   * verifier that takes this sender's partition over then knows the message was delivered and
   * answers a retry without forwarding it again.
   */
  #record(p: PendingDelivery, delivery: Delivery): void {
    this.#inflightN++;
    this.#audit.addDelivery({ msgId: p.msgId, recipient: p.recipient, delivery, atMs: Date.now() }).then(
      () => {
        this.#settle(p, delivery);
        this.#done();
      },
      (e: unknown) => {
        // not stored (the publisher is closing): the sender's retry will be delivered again, never lost
        this.#log.error({ err: (e as Error).message }, 'delivery record not stored');
        this.#done();
      },
    );
  }

  #settle(p: PendingDelivery, delivery: Delivery): void {
    for (const w of p.waiters) this.#answer(w.reply, w.verdict, Reason.REASON_UNSPECIFIED, p.msgId, '', p.depth, delivery);
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
          this.#replay.add(hd.value.msgId, envelopeKey(header, ev.signature ?? new Uint8Array(0)), ev.effectiveDepth ?? 0);
          this.stats.rebuilt++;
        }
      }
      if (got === 0) break;
      pending -= got;
    }
    // after the events: a delivery record always follows its message's accepted event
    for (const id of delivered) this.#replay.markDelivered(id);
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
        // the rejection budget first, before any parsing: a shed message costs a counter
        const now = Date.now();
        const b = this.#admit(msg, now);
        if (!b) return;
        this.stats.inflight = ++this.#inflightN;
        this.#handle(msg, b, now).then(this.#done, this.#failed);
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

  // "agentbus/v1/depth\0" ‖ msg_id (16) ‖ len (2, big-endian) ‖ recipient ‖ depth (4, big-endian),
  // recipient = the agent id, or "topic:<name>" for a topic publication: one scratch buffer
  #depthInput = (() => {
    const b = Buffer.alloc(DEPTH_DOMAIN.length + 16 + 2 + MAX_DEPTH_RECIPIENT_BYTES + 4);
    DEPTH_DOMAIN.copy(b);
    return b;
  })();
  #mac = Buffer.alloc(32);
  /**
   * `<depth>.<HMAC-SHA-512-256(key, domain ‖ msg_id ‖ recipient ‖ depth)[0..16] base64url>`:
   * proves that a verifier delivered msg_id to `recipient` (or on `topic`) at that depth.
   */
  #depthToken(msgId: Uint8Array, recipient: string, topic: string, depth: number): string {
    const b = this.#depthInput;
    let o = DEPTH_DOMAIN.length;
    b.fill(0, o, o + 16);
    b.set(msgId.subarray(0, 16), o);
    o += 16;
    const lenAt = o;
    o += 2;
    // ids and topic names are ASCII (AGENT_ID_RE, TOPIC_RE), far below the room left
    let n = recipient ? b.write(recipient, o, 'latin1') : b.write(TOPIC_RECIPIENT_PREFIX, o, 'latin1');
    if (!recipient) n += b.write(topic, o + n, 'latin1');
    if (n >= MAX_DEPTH_RECIPIENT_BYTES) throw new RangeError('depth token: recipient too long');
    b.writeUInt16BE(n, lenAt);
    o += n;
    b.writeUInt32BE(depth >>> 0, o);
    o += 4;
    hmacSha512_256(this.#mac, b.subarray(0, o), this.#depthKey);
    return `${depth}.${this.#mac.toString('base64url', 0, 16)}`;
  }

  /** The depth a valid token (made by any verifier sharing the key) vouches for, or undefined. */
  #tokenDepth(causation: Uint8Array, recipient: string, topic: string, token: string): number | undefined {
    const m = DEPTH_TOKEN_RE.exec(token);
    if (!m) return undefined;
    const depth = Number(m[1]);
    if (depth > 0xffffffff) return undefined;
    const expected = Buffer.from(this.#depthToken(causation, recipient, topic, depth));
    const given = Buffer.from(token);
    return expected.length === given.length && timingSafeEqual(expected, given) ? depth : undefined;
  }

  /**
   * DESIGN §9: a causation id must name a message a verifier delivered to this sender — directly,
   * or on a topic its manifest lets it subscribe to — proven by that delivery's depth token in
   * the metadata. Returns the parent's depth, NO_DEPTH_TOKEN or BAD_DEPTH_TOKEN.
   */
  #causationDepth(h: HeaderFields, agent: CompiledAgent): number {
    const token = h.metadata[D.DEPTH_TOKEN_METADATA];
    if (!token) return NO_DEPTH_TOKEN;
    const direct = this.#tokenDepth(h.causationId, h.sender, '', token);
    if (direct !== undefined) return direct;
    for (const t of agent.subscribeTopics) {
      const d = this.#tokenDepth(h.causationId, '', t, token);
      if (d !== undefined) return d;
    }
    return BAD_DEPTH_TOKEN;
  }

  /** Reload manifests if the directory changed. Keeps the old policy when the new one is bad. */
  reloadIfChanged(force = false): boolean {
    const sig = dirSignature(this.#opts.manifestsDir);
    if (!force && sig === this.#policySig) return false;
    this.#policySig = sig;
    try {
      this.#policy = new Policy(loadManifestDir(this.#opts.manifestsDir));
      this.stats.manifestReloads++;
      this.#log.info({ agents: this.#policy.agents.size }, 'manifests reloaded');
      return true;
    } catch (e) {
      this.stats.manifestErrors++;
      this.#log.error({ err: (e as Error).message }, 'manifest reload failed; keeping the previous policy');
      return false;
    }
  }

  get policy(): Policy {
    return this.#policy;
  }

  /** The synchronous checks, cheap first. */
  check(subjectSender: string, data: Uint8Array, now: number): Checked {
    const parts = parseEnvelope(data);
    if (!parts.ok) return parts;
    const { headerBytes, payload, signature } = parts.value;
    const hd = decodeHeader(headerBytes);
    if (!hd.ok) return { ...hd, headerBytes, signature, payload };
    const h = hd.value;
    const base = { header: h, headerBytes, signature, payload };
    const rej = (reason: Reason, detail = '') => ({ ok: false as const, reason, detail, ...base });
    if (h.sender !== subjectSender) return rej(Reason.REASON_SENDER_MISMATCH, `subject says ${subjectSender}`);
    const agent = this.#policy.agents.get(h.sender);
    if (!agent) return rej(Reason.REASON_UNKNOWN_SENDER);
    const key = this.#policy.resolveKey(h.sender, h.keyId, now);
    if (typeof key === 'number') return rej(key);
    // header metadata counts against max_payload_bytes together with the payload (DESIGN §9)
    const metaBytes = metadataBytes(h.metadata);
    if (payload.length + metaBytes > agent.maxPayload) return rej(Reason.REASON_PAYLOAD_TOO_LARGE, metaBytes ? `${payload.length} + ${metaBytes} metadata > ${agent.maxPayload} bytes` : `${payload.length} > ${agent.maxPayload} bytes`);
    const skew = this.#opts.maxSkewMs;
    if (h.sentAtMs < now - skew) return rej(Reason.REASON_STALE_TIMESTAMP, `${now - h.sentAtMs} ms old`);
    if (h.sentAtMs > now + skew) return rej(Reason.REASON_FUTURE_TIMESTAMP, `${h.sentAtMs - now} ms ahead`);
    if (h.recipient) {
      if (!this.#policy.agents.has(h.recipient)) return rej(Reason.REASON_UNKNOWN_RECIPIENT, h.recipient);
      if (!agent.canSendTo(h.recipient)) return rej(Reason.REASON_DESTINATION_NOT_ALLOWED, h.recipient);
    } else {
      if (!agent.canPublishTopic(h.topic)) return rej(Reason.REASON_DESTINATION_NOT_ALLOWED, `topic ${h.topic}`);
    }
    const contract = this.#opts.contracts.get(h.type);
    if (!contract) return rej(Reason.REASON_UNKNOWN_TYPE, h.type);
    if (h.recipient ? !agent.canSendType(h.recipient, h.type) : !agent.canPublishTopicType(h.topic, h.type)) return rej(Reason.REASON_TYPE_NOT_ALLOWED, h.type);
    // metadata keys from the declared set only, each value and the whole map bounded
    const md = checkMetadata(contract.allowedMetadata, h.metadata, h.type);
    if (!md.ok) return rej(md.reason, md.detail);
    for (const k of contract.requiredMetadata) {
      if (!h.metadata[k]) return rej(Reason.REASON_METADATA_MISSING, k);
    }
    if (!this.#backend.verify(key, this.#signingInput(headerBytes), signature)) return rej(Reason.REASON_BAD_SIGNATURE);
    // the header's payload hash is now authentic; the audit event records the payload's real hash
    if (!equalBytes(sha256(payload), h.payloadSha256)) return rej(Reason.REASON_PAYLOAD_HASH_MISMATCH);
    if (h.contentType !== contract.contentType) return rej(Reason.REASON_SCHEMA_INVALID, `content type must be ${contract.contentType}`);
    const decoded = contract.decode(payload);
    if (!decoded.ok) return rej(Reason.REASON_SCHEMA_INVALID, decoded.detail);
    // Rate limit last among the local checks: only authenticated, well-formed messages spend tokens.
    let b = this.#buckets.get(h.sender);
    if (!b) this.#buckets.set(h.sender, (b = { tokens: agent.burst, last: now }));
    b.tokens = Math.min(agent.burst, b.tokens + (now - b.last) * agent.ratePerMs);
    b.last = now;
    if (b.tokens < 1) return rej(Reason.REASON_RATE_LIMITED, `${agent.manifest.rate.per_second}/s`);
    b.tokens -= 1;
    return { ok: true, ...base };
  }


  /** check(), timed into the histogram when metrics are on. */
  #timedCheck(subjectSender: string, data: Uint8Array, now: number): Checked {
    const m = this.#metrics;
    if (!m) return this.check(subjectSender, data, now);
    const t0 = process.hrtime.bigint();
    const c = this.check(subjectSender, data, now);
    m.checkDuration(process.hrtime.bigint() - t0);
    return c;
  }

  /**
   * The rejection budget, before anything looks at the bytes (DESIGN §9): the sender's bucket
   * refilled, and the message passed on (its budget returned) or shed. A shed message costs a
   * map lookup and a few counters; it gets the one precomputed answer when its reply subject is
   * inside the sender's inbox — SHED_ANSWER_DELAY_MS later, so a sender that waits for its
   * answers floods at most its window per delay — and is counted in the next aggregated audit
   * event.
   */
  #admit(msg: Msg, now: number): SenderBudget | undefined {
    const subject = msg.subject;
    let b = this.#budgets.get(subject);
    if (!b) b = this.#newBudget(subject, now);
    else if (b.policy !== this.#policy) this.#refreshBudget(b);
    const tokens = Math.min(b.burst, b.tokens + Math.max(0, now - b.last) * b.perMs);
    b.tokens = tokens;
    b.last = now;
    if (tokens >= 1) return b;
    this.stats.received++;
    this.stats.shed++;
    if (b.shed++ === 0) b.shedStart = now;
    b.lastShed = msg.data;
    this.#metrics?.verdict(Verdict.VERDICT_REJECTED, Reason.REASON_REJECTION_BUDGET_EXCEEDED);
    const reply = msg.reply;
    if (reply && reply.startsWith(b.inboxPrefix)) {
      const cap = this.#held.length;
      if (this.#heldN < cap) {
        const i = (this.#heldHead + this.#heldN++) % cap;
        this.#held[i] = reply;
        this.#heldAt[i] = now;
      } else this.nc.publish(reply, this.#shedAck);
    }
    return undefined;
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

  #newBudget(subject: string, now: number): SenderBudget {
    // agentbus.part.<p>.<sender> (the server's mapping of agentbus.in.<sender>)
    const dot = subject.indexOf('.', D.SUBJECT_PART_PREFIX.length);
    const sender = subject.slice(dot + 1);
    const partition = Number(subject.slice(D.SUBJECT_PART_PREFIX.length, dot));
    const b: SenderBudget = {
      sender,
      partition,
      partOk: partition === partitionOf(sender, this.#opts.partitions),
      inboxPrefix: `${D.SUBJECT_INBOX_PREFIX}${sender}.`,
      tokens: 0, last: now, perMs: 0, burst: 0, policy: this.#policy,
      shed: 0, shedStart: 0, lastShed: undefined,
    };
    this.#refreshBudget(b);
    b.tokens = b.burst;
    this.#budgets.set(subject, b);
    return b;
  }

  /** The budget of the sender's manifest, or the defaults for a sender without one. */
  #refreshBudget(b: SenderBudget): void {
    const a = this.#policy.agents.get(b.sender);
    b.policy = this.#policy;
    b.perMs = (a?.rejectPerMs ?? D.DEFAULT_REJECTIONS_PER_SECOND / 1000);
    b.burst = a?.rejectBurst ?? D.DEFAULT_REJECTION_BURST;
    b.tokens = Math.min(b.tokens, b.burst);
  }

  /**
   * One audit event per sender with shed messages (all senders, or those of one partition):
   * shed_count, the window it covers, and the header and signature of the last one if it
   * parses. Called every SHED_AUDIT_INTERVAL_MS, when a partition is released and at drain.
   */
  #flushShed(partition?: number): void {
    const now = Date.now();
    for (const b of this.#budgets.values()) {
      if (b.shed === 0 || (partition !== undefined && b.partition !== partition)) continue;
      const n = b.shed;
      const last = b.lastShed;
      b.shed = 0;
      b.lastShed = undefined;
      const parts = last ? parseEnvelope(last) : undefined;
      const name = reasonName(Reason.REASON_REJECTION_BUDGET_EXCEEDED);
      this.stats.rejected[name] = (this.stats.rejected[name] ?? 0) + n;
      const event: IAuditEvent = {
        eventId: this.#nextEventId(),
        verifierId: this.id,
        verifiedAtMs: now,
        verdict: Verdict.VERDICT_REJECTED,
        reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED,
        detail: `${n} shed unverified: rejection budget ${Math.round(b.perMs * 1000 * 1000) / 1000}/s, burst ${b.burst} spent`,
        subjectSender: b.sender,
        header: parts?.ok ? parts.value.headerBytes : new Uint8Array(0),
        signature: parts?.ok ? parts.value.signature : new Uint8Array(0),
        payloadSize: parts?.ok ? parts.value.payload.length : 0,
        payloadSha256: parts?.ok ? sha256(parts.value.payload) : new Uint8Array(0),
        effectiveDepth: 0,
        rawSize: parts?.ok || !last ? 0 : last.length,
        shedCount: n,
        windowStartMs: b.shedStart,
      };
      this.#log.warn({ sender: b.sender, shed: n, window_ms: now - b.shedStart, reason: name }, 'rejection budget spent: messages shed unverified');
      this.#audit.add(event).catch((e: unknown) => this.#log.error({ err: (e as Error).message, sender: b.sender, shed: n }, 'audit event of shed messages not stored'));
    }
  }

  async #handle(msg: Msg, b: SenderBudget, now: number): Promise<void> {
    this.stats.received++;
    const t0 = this.#metrics ? performance.now() : 0;
    const subjectSender = b.sender;
    // A sender's messages must all reach its own partition's owner, or its replay state would
    // split. NATS permissions already pin each agent to its partition; this is the second fence.
    if (!b.partOk) {
      this.#log.error({ subject: msg.subject }, 'message on the wrong partition: nats-server and verifier disagree on --partitions');
      b.tokens -= 1;
      await this.#finish(msg, subjectSender, Verdict.VERDICT_REJECTED, Reason.REASON_SENDER_MISMATCH, 'wrong partition', {}, 0, true, msg.data.length);
      return;
    }
    const data = msg.data;
    const reply = msg.reply ?? '';
    // The reply subject must be inside the sender's own inbox, or the verifier could be made
    // to publish into another agent's inbox. Such a message is audited and otherwise ignored.
    const replyOk = reply === '' || reply.startsWith(b.inboxPrefix);
    let c: Checked = replyOk ? this.#timedCheck(subjectSender, data, now) : { ok: false, reason: Reason.REASON_BAD_REPLY_SUBJECT, detail: reply.slice(0, 128) };
    if (!replyOk) {
      const parts = parseEnvelope(data);
      if (parts.ok) {
        const hd = decodeHeader(parts.value.headerBytes);
        c = { ...c, headerBytes: parts.value.headerBytes, signature: parts.value.signature, payload: parts.value.payload, ...(hd.ok ? { header: hd.value } : {}) };
      }
    }
    if (!c.ok) {
      b.tokens -= 1; // every rejected message spends from the sender's rejection budget
      await this.#finish(msg, subjectSender, Verdict.VERDICT_REJECTED, c.reason, c.detail, c, 0, replyOk, data.length);
      return;
    }
    const h = c.header;
    const agent = this.#policy.agents.get(h.sender)!;
    // Depth: the verifier's count, not the sender's claim (DESIGN §5, §9). A causation id must
    // come with the depth token of the message it names, delivered to this sender; the parent's
    // depth is the token's (any verifier can check it, long after the replay window), or what
    // this verifier remembers of it if that is higher.
    let depth = h.depth;
    if (h.causationId.length) {
      const parent = this.#causationDepth(h, agent);
      if (parent < 0) {
        b.tokens -= 1;
        const detail = parent === NO_DEPTH_TOKEN ? 'causation_id without a depth token' : 'depth token does not prove causation_id was delivered to this sender';
        await this.#finish(msg, subjectSender, Verdict.VERDICT_REJECTED, Reason.REASON_BAD_CAUSATION, detail, c, depth, true, data.length);
        return;
      }
      depth = Math.max(depth, parent + 1);
      const remembered = this.#replay.depthOf(h.causationId);
      if (remembered !== undefined) depth = Math.max(depth, remembered + 1);
    }
    if (depth > agent.maxDepth) {
      b.tokens -= 1;
      await this.#finish(msg, subjectSender, Verdict.VERDICT_REJECTED, Reason.REASON_DEPTH_EXCEEDED, `${depth} > ${agent.maxDepth}`, c, depth, true, data.length);
      return;
    }
    // Replay: this verifier owns the sender's partition, so its memory is the whole truth
    // (rebuilt from the audit stream when it took the partition over). Claimed synchronously.
    const key = envelopeKey(c.headerBytes, c.signature);
    const prev = this.#replay.check(h.msgId, key);
    let verdict: Verdict = Verdict.VERDICT_ACCEPTED;
    if (prev === OTHER_ENVELOPE) {
      b.tokens -= 1;
      await this.#finish(msg, subjectSender, Verdict.VERDICT_REJECTED, Reason.REASON_REPLAY, '', c, depth, true, data.length);
      return;
    } else if (prev === ABSENT) {
      this.#replay.add(h.msgId, key, depth);
    } else {
      verdict = Verdict.VERDICT_DUPLICATE;
      depth = prev;
    }
    await this.#finish(msg, subjectSender, verdict, Reason.REASON_UNSPECIFIED, '', c, depth, true, data.length, t0);
  }

  async #finish(
    msg: Msg,
    subjectSender: string,
    verdict: Verdict,
    reason: Reason,
    detail: string,
    c: Partial<{ header: HeaderFields; headerBytes: Uint8Array; signature: Uint8Array; payload: Uint8Array }>,
    depth: number,
    answer: boolean,
    rawSize: number,
    t0 = 0,
  ): Promise<void> {
    const h = c.header;
    this.#metrics?.verdict(verdict, reason);
    const event: IAuditEvent = {
      eventId: this.#nextEventId(),
      verifierId: this.id,
      verifiedAtMs: Date.now(),
      verdict,
      reason,
      detail,
      subjectSender,
      header: c.headerBytes ?? new Uint8Array(0),
      signature: c.signature ?? new Uint8Array(0),
      payloadSize: c.payload?.length ?? 0,
      // accepted: the verified header hash is the payload's hash; otherwise compute it
      payloadSha256: verdict !== Verdict.VERDICT_REJECTED && h ? h.payloadSha256 : c.payload ? sha256(c.payload) : new Uint8Array(0),
      effectiveDepth: depth,
      rawSize,
    };
    // DESIGN §6: the audit event is stored before the message is delivered or answered.
    await this.#audit.add(event);
    let delivery: Delivery = Delivery.DELIVERY_UNSPECIFIED;
    if (t0) this.#metrics?.inVerifier((performance.now() - t0) / 1000);
    if (verdict === Verdict.VERDICT_ACCEPTED || verdict === Verdict.VERDICT_DUPLICATE) {
      // A duplicate (a client retry) is forwarded again unless this verifier saw its recipient
      // confirm it: the first attempt may have died between claim and forward, or the forward on
      // the way. Receivers drop a msg_id they already delivered (SDK inbox dedup).
      // (a confirmed msg_id is never pending again: confirming ends its delivery)
      const confirmedRetry = verdict === Verdict.VERDICT_DUPLICATE && h!.recipient !== '' && this.#replay.delivered(h!.msgId);
      const hdrs = confirmedRetry ? undefined : natsHeaders();
      hdrs?.set(D.DEPTH_HEADER, String(depth));
      hdrs?.set(D.DEPTH_TOKEN_HEADER, this.#depthToken(h!.msgId, h!.recipient, h!.topic, depth));
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
    const rejected = verdict === Verdict.VERDICT_REJECTED;
    if (!rejected && !this.#log.isLevelEnabled('debug')) {
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

  #answer(reply: string, verdict: Verdict, reason: Reason, msgId: Uint8Array | undefined, detail: string, depth: number, delivery: Delivery): void {
    this.nc.publish(reply, Ack.encode({ verdict, reason, msgId: msgId ?? new Uint8Array(0), detail, depth, verifierId: this.id, delivery }).finish());
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

  // One scratch buffer for "agentbus/v1/envelope\0" ‖ header: no allocation per verify.
  #scratch = (() => {
    const b = Buffer.alloc(SIGNING_DOMAIN.length + MAX_HEADER_BYTES);
    b.set(SIGNING_DOMAIN, 0);
    return b;
  })();
  #signingInput(header: Uint8Array): Uint8Array {
    this.#scratch.set(header, SIGNING_DOMAIN.length);
    return this.#scratch.subarray(0, SIGNING_DOMAIN.length + header.length);
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
    this.#confirmSub?.unsubscribe();
    await this.#audit.close();
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
    if (this.#poll) clearInterval(this.#poll);
    if (this.#prune) clearInterval(this.#prune);
    await this.nc.close().catch(() => undefined);
    await this.#metricsServer?.close();
  }
}

export function startVerifier(opts: VerifierOptions): Promise<Verifier> {
  return Verifier.start(opts);
}

const DEPTH_DOMAIN = Buffer.from('agentbus/v1/depth\0');
const TOPIC_RECIPIENT_PREFIX = 'topic:';
/** Room for the recipient in the depth token's MAC input (an agent id, or "topic:" + a topic name ≤ 519). */
const MAX_DEPTH_RECIPIENT_BYTES = 1024;
const DEPTH_TOKEN_RE = /^(\d{1,10})\.([A-Za-z0-9_-]{22})$/;
const NO_DEPTH_TOKEN = -1;
const BAD_DEPTH_TOKEN = -2;
/** How often held shed answers are released (small steps: the answers, and what they pace, stay smooth). */
const SHED_ANSWER_TICK_MS = 5;
/** At most this many msg_ids per confirmation message (the SDK splits its batches to fit). */
export { MAX_CONFIRM_IDS };

const NATIVE = nativeHashes();

/** HMAC-SHA-512 truncated to 32 bytes (libsodium's crypto_auth), natively or with node:crypto: the same bytes. */
function hmacSha512_256(out: Buffer, input: Uint8Array, key: Uint8Array): void {
  if (NATIVE && key.length === 32) NATIVE.crypto_auth(out, input, key);
  else createHmac('sha512', key).update(input).digest().copy(out, 0, 0, 32);
}

/** SHA-256(header ‖ signature), first 16 bytes: equal for a retried envelope, different for any other. */
export function envelopeKey(header: Uint8Array, signature: Uint8Array): Uint8Array {
  return sha256(Buffer.concat([header, signature])).subarray(0, 16);
}
