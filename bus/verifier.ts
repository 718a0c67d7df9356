// The broker-side verifier (DESIGN §4–5). Every message published on agentbus.in.<sender>
// passes here; the checks run cheap-first over precomputed state (manifests compiled to
// lookup tables), then the verifier claims the msg_id in the shared replay store, stores the
// audit event (group commit), forwards the envelope byte-for-byte and answers the sender.
//
// Cross-instance state (replay + chain depth) lives in a JetStream KV bucket: claim =
// kv.create(msg_id) which is atomic across every verifier instance (one round trip per
// accepted message; many are pipelined). See docs/decisions.md for the cost and the
// alternative (subject-mapping partitions).
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connect, headers as natsHeaders, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { Ack, Reason, Verdict, reasonName, verdictName } from '../sdk/proto.js';
import type { IAuditEvent } from '../sdk/proto.js';
import { parseEnvelope, decodeHeader, signingInput, sha256, equalBytes, toHex } from '../sdk/envelope.js';
import type { HeaderFields } from '../sdk/envelope.js';
import { defaultBackend } from '../sdk/ed25519.js';
import type { Ed25519Backend } from '../sdk/ed25519.js';
import type { ContractRegistry } from '../sdk/contracts.js';
import { createLogger } from '../sdk/log.js';
import { Policy, loadManifestDir, dirSignature } from './manifest.js';
import { AuditPublisher } from './audit-publisher.js';
import type { ServiceIdentity } from './service-creds.js';
import * as D from './defaults.js';

export interface VerifierOptions {
  servers: string | string[];
  credentials?: ServiceIdentity;
  manifestsDir: string;
  contracts: ContractRegistry;
  id?: string;
  maxSkewMs?: number;
  replayTtlMs?: number;
  auditBatchMax?: number;
  /** Replicas for the AUDIT stream and the replay bucket (3 on a 3-node cluster). */
  replicas?: number;
  manifestPollMs?: number;
  logger?: Logger;
  backend?: Ed25519Backend;
  /** Extra connection options (tls, ...). */
  connectOptions?: Record<string, unknown>;
}

export interface VerifierStats {
  received: number;
  accepted: number;
  duplicates: number;
  rejected: Record<string, number>;
  inflight: number;
  manifestReloads: number;
  manifestErrors: number;
}

/** Outcome of the synchronous checks. */
type Checked =
  | { ok: false; reason: Reason; detail: string; header?: HeaderFields; headerBytes?: Uint8Array; signature?: Uint8Array; payload?: Uint8Array }
  | { ok: true; header: HeaderFields; headerBytes: Uint8Array; signature: Uint8Array; payload: Uint8Array };

const DEPTH_CACHE_MAX = 200_000;

export class Verifier {
  readonly id: string;
  readonly nc: NatsConnection;
  #js: JetStreamClient;
  #kv: KV;
  #audit: AuditPublisher;
  #policy: Policy;
  #policySig: string;
  #opts: Required<Pick<VerifierOptions, 'maxSkewMs' | 'replayTtlMs' | 'manifestPollMs'>> & VerifierOptions;
  #log: Logger;
  #backend: Ed25519Backend;
  #sub: Subscription | undefined;
  #poll: NodeJS.Timeout | undefined;
  #buckets = new Map<string, { tokens: number; last: number }>();
  #depths = new Map<string, number>();
  #inflight = new Set<Promise<void>>();
  #closed = false;
  readonly stats: VerifierStats = { received: 0, accepted: 0, duplicates: 0, rejected: {}, inflight: 0, manifestReloads: 0, manifestErrors: 0 };

  private constructor(nc: NatsConnection, js: JetStreamClient, kv: KV, policy: Policy, policySig: string, opts: VerifierOptions) {
    this.nc = nc;
    this.#js = js;
    this.#kv = kv;
    this.#policy = policy;
    this.#policySig = policySig;
    this.#opts = { maxSkewMs: D.DEFAULT_MAX_SKEW_MS, replayTtlMs: D.DEFAULT_REPLAY_TTL_MS, manifestPollMs: D.DEFAULT_MANIFEST_POLL_MS, ...opts };
    this.id = opts.id ?? `${hostname()}-${process.pid}`;
    this.#log = (opts.logger ?? createLogger({ name: 'verifier' })).child({ verifier: this.id });
    this.#backend = opts.backend ?? defaultBackend();
    this.#audit = new AuditPublisher(js, this.#log, opts.auditBatchMax);
  }

  static async start(opts: VerifierOptions): Promise<Verifier> {
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
    await ensureAuditStream(nc, replicas);
    const ttl = opts.replayTtlMs ?? D.DEFAULT_REPLAY_TTL_MS;
    const kv = await new Kvm(nc).create(D.REPLAY_BUCKET, { ttl, replicas, history: 1 });
    const js = jetstream(nc);
    const v = new Verifier(nc, js, kv, policy, sig, opts);
    v.#subscribe();
    v.#poll = setInterval(() => v.reloadIfChanged(), v.#opts.manifestPollMs);
    v.#poll.unref();
    v.#log.info({ agents: policy.agents.size, types: opts.contracts.size }, 'verifier started');
    return v;
  }

  #subscribe(): void {
    this.#sub = this.nc.subscribe(`${D.SUBJECT_IN_PREFIX}*`, {
      queue: D.VERIFIER_QUEUE,
      callback: (err, msg) => {
        if (err) {
          this.#log.error({ err: err.message }, 'subscription error');
          return;
        }
        const p = this.#handle(msg).catch((e) => this.#log.error({ err: (e as Error).message }, 'handler failed'));
        this.#inflight.add(p);
        this.stats.inflight = this.#inflight.size;
        p.finally(() => {
          this.#inflight.delete(p);
          this.stats.inflight = this.#inflight.size;
        });
      },
    });
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
    if (payload.length > agent.maxPayload) return rej(Reason.REASON_PAYLOAD_TOO_LARGE, `${payload.length} > ${agent.maxPayload} bytes`);
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
    for (const k of contract.requiredMetadata) {
      if (!h.metadata[k]) return rej(Reason.REASON_METADATA_MISSING, k);
    }
    if (!this.#backend.verify(key, signingInput(headerBytes), signature)) return rej(Reason.REASON_BAD_SIGNATURE);
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

  async #parentDepth(causation: Uint8Array): Promise<number | undefined> {
    const key = toHex(causation);
    const local = this.#depths.get(key);
    if (local !== undefined) return local;
    const e = await this.#kv.get(key);
    if (!e || e.operation !== 'PUT' || e.value.length < 36) return undefined;
    return Buffer.from(e.value).readUInt32BE(32);
  }

  #remember(msgIdHex: string, depth: number): void {
    if (this.#depths.size >= DEPTH_CACHE_MAX) {
      const first = this.#depths.keys().next().value;
      if (first !== undefined) this.#depths.delete(first);
    }
    this.#depths.set(msgIdHex, depth);
  }

  async #handle(msg: Msg): Promise<void> {
    this.stats.received++;
    const now = Date.now();
    const subjectSender = msg.subject.slice(D.SUBJECT_IN_PREFIX.length);
    const data = msg.data;
    const reply = msg.reply ?? '';
    // The reply subject must be inside the sender's own inbox, or the verifier could be made
    // to publish into another agent's inbox. Such a message is audited and otherwise ignored.
    const replyOk = reply === '' || reply.startsWith(`${D.SUBJECT_INBOX_PREFIX}${subjectSender}.`);
    let c: Checked = replyOk ? this.check(subjectSender, data, now) : { ok: false, reason: Reason.REASON_BAD_REPLY_SUBJECT, detail: reply.slice(0, 128) };
    if (!replyOk) {
      const parts = parseEnvelope(data);
      if (parts.ok) {
        const hd = decodeHeader(parts.value.headerBytes);
        c = { ...c, headerBytes: parts.value.headerBytes, signature: parts.value.signature, payload: parts.value.payload, ...(hd.ok ? { header: hd.value } : {}) };
      }
    }
    if (!c.ok) {
      await this.#finish(msg, subjectSender, Verdict.VERDICT_REJECTED, c.reason, c.detail, c, 0, replyOk, data.length);
      return;
    }
    const h = c.header;
    const agent = this.#policy.agents.get(h.sender)!;
    // Depth: the verifier's count, not the sender's claim (DESIGN §5).
    let depth = h.depth;
    if (h.causationId.length) {
      const parent = await this.#parentDepth(h.causationId);
      if (parent !== undefined) depth = Math.max(depth, parent + 1);
    }
    if (depth > agent.maxDepth) {
      await this.#finish(msg, subjectSender, Verdict.VERDICT_REJECTED, Reason.REASON_DEPTH_EXCEEDED, `${depth} > ${agent.maxDepth}`, c, depth, true, data.length);
      return;
    }
    // Replay: claim the msg_id across all verifier instances.
    const msgIdHex = toHex(h.msgId);
    const envHash = sha256(data);
    const value = Buffer.alloc(36);
    value.set(envHash, 0);
    value.writeUInt32BE(depth, 32);
    let verdict: Verdict = Verdict.VERDICT_ACCEPTED;
    try {
      await this.#kv.create(msgIdHex, value);
    } catch (e) {
      const existing = await this.#kv.get(msgIdHex).catch(() => null);
      if (!existing || existing.value.length < 36) throw e;
      if (equalBytes(existing.value.subarray(0, 32), envHash)) {
        verdict = Verdict.VERDICT_DUPLICATE;
        depth = Buffer.from(existing.value).readUInt32BE(32);
      } else {
        await this.#finish(msg, subjectSender, Verdict.VERDICT_REJECTED, Reason.REASON_REPLAY, '', c, depth, true, data.length);
        return;
      }
    }
    this.#remember(msgIdHex, depth);
    await this.#finish(msg, subjectSender, verdict, Reason.REASON_UNSPECIFIED, '', c, depth, true, data.length);
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
  ): Promise<void> {
    const h = c.header;
    const event: IAuditEvent = {
      eventId: randomBytes(16),
      verifierId: this.id,
      verifiedAtMs: Date.now(),
      verdict,
      reason,
      detail,
      subjectSender,
      header: c.headerBytes ?? new Uint8Array(0),
      signature: c.signature ?? new Uint8Array(0),
      payloadSize: c.payload?.length ?? 0,
      payloadSha256: c.payload ? sha256(c.payload) : new Uint8Array(0),
      effectiveDepth: depth,
      rawSize,
    };
    // DESIGN §6: the audit event is stored before the message is delivered or answered.
    await this.#audit.add(event);
    if (verdict === Verdict.VERDICT_ACCEPTED || verdict === Verdict.VERDICT_DUPLICATE) {
      // Duplicates are forwarded again: the first attempt may have died between claim and
      // forward. Receivers drop a msg_id they already delivered (SDK inbox dedup).
      const hdrs = natsHeaders();
      hdrs.set(D.DEPTH_HEADER, String(depth));
      const subject = h!.recipient ? `${D.SUBJECT_TO_PREFIX}${h!.recipient}.${h!.type}` : `${D.SUBJECT_TOPIC_PREFIX}${h!.topic}.${h!.type}`;
      this.nc.publish(subject, msg.data, { headers: hdrs });
      if (verdict === Verdict.VERDICT_ACCEPTED) this.stats.accepted++;
      else this.stats.duplicates++;
    } else {
      const name = reasonName(reason);
      this.stats.rejected[name] = (this.stats.rejected[name] ?? 0) + 1;
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
    if (answer && msg.reply) {
      const ack = Ack.encode({ verdict, reason, msgId: h?.msgId ?? new Uint8Array(0), detail, depth, verifierId: this.id }).finish();
      this.nc.publish(msg.reply, ack);
    }
  }

  /** Stop taking messages, finish the ones in flight, store their audit events, close. */
  async drain(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    await this.#sub?.drain().catch(() => undefined);
    while (this.#inflight.size) await Promise.allSettled([...this.#inflight]);
    await this.#audit.close();
    await this.nc.drain().catch(() => undefined);
    this.#log.info({ stats: this.stats }, 'verifier drained');
  }

  /** Close at once (tests). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    await this.nc.close().catch(() => undefined);
  }
}

export async function ensureAuditStream(nc: NatsConnection, replicas = 1): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const subjects = [`${D.SUBJECT_AUDIT_PREFIX}>`];
  try {
    await jsm.streams.info(D.AUDIT_STREAM);
  } catch {
    try {
      await jsm.streams.add({
        name: D.AUDIT_STREAM,
        subjects,
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_age: D.DEFAULT_AUDIT_MAX_AGE_MS * 1_000_000,
        duplicate_window: 120 * 1_000_000_000,
        num_replicas: replicas,
      });
    } catch (e) {
      // another instance may have created it meanwhile
      await jsm.streams.info(D.AUDIT_STREAM).catch(() => {
        throw e;
      });
    }
  }
}

export function startVerifier(opts: VerifierOptions): Promise<Verifier> {
  return Verifier.start(opts);
}

export function envelopeHash(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
