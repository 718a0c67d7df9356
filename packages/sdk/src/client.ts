// The agent's client: connect with the credential file, send (resolves with the verifier's
// ack or rejects with a typed error), an inbox of end-to-end verified messages, topics,
// request/reply with causation, retries that resend the same envelope.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { statSync } from 'node:fs';
import { connect, headers as natsHeaders, nkeyAuthenticator, PermissionViolationError } from '@nats-io/transport-node';
import type { NatsConnection, Msg, Subscription } from '@nats-io/transport-node';
import { Ack, Delivery, Reason, Verdict } from '@agentbus/protocol';
import { DeliveryConfirmer } from './delivery.js';
import { sealEnvelope, openEnvelope, toHex, parseEnvelope, decodeHeader } from '@agentbus/protocol';
import type { HeaderFields, KeyResolver } from '@agentbus/protocol';
import { defaultBackend } from '@agentbus/protocol';
import type { Ed25519Backend } from '@agentbus/protocol';
import { loadCredentials } from './identity.js';
import type { AgentIdentity } from './identity.js';
import type { ContractRegistry, InputFor, PayloadFor, TypesOf } from './contracts.js';
import {
  BusConnectionError,
  ContractError,
  CredentialError,
  RefusedError,
  RejectedError,
  TimeoutError,
  EnvelopeError,
  UndeliveredError,
  AgentClosedError,
  PermissionError,
} from './errors.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { reasonName } from '@agentbus/protocol';
import { PeerKeys } from './keys.js';
import { MessageQueue } from './queue.js';
import { builtinToolContract, callTool, TOOL_RESULT_CONTRACT, TOOL_RESULT_TYPE } from './tools.js';
import type { CallToolOptions, ToolResult } from './tools.js';
import { builtinMemoryContract, memoryClient, MEMORY_SERVICE } from './memory.js';
import { builtinA2aContract } from './a2a.js';
import type { Memory, MemoryOptions } from './memory.js';
import {
  DEPTH_TOKEN_METADATA,
  checkMetadata,
  DEPTH_HEADER,
  DEPTH_TOKEN_HEADER,
  SUBJECT_IN_PREFIX,
  SUBJECT_TO_PREFIX,
  SUBJECT_TOPIC_PREFIX,
  SUBJECT_INBOX_PREFIX,
  WORKER_HEADER,
  WORKER_ID_RE,
  WORKER_ANSWER_TOKEN,
  REPLY_ROUTE_HEADER,
} from '@agentbus/protocol';
export { DEPTH_TOKEN_METADATA };

/** How long send() waits for the verifier's answer per attempt (ms), unless `timeoutMs` says otherwise. */
export const DEFAULT_SEND_TIMEOUT_MS = 2000;
/** How many times send() retries an unanswered attempt (the same msg_id: a retry is never delivered twice). */
export const DEFAULT_SEND_RETRIES = 2;
export const DEFAULT_DEDUP_WINDOW = 50_000;

/** What connectAgent() needs: where the bus is, who this agent is, and the message types it uses. */
export interface ConnectOptions<R extends ContractRegistry<any> = ContractRegistry> {
  /** NATS URL(s) of the bus, e.g. `nats://127.0.0.1:4222` (what `agentbus dev` prints). */
  servers: string | string[];
  /** Path of the agent's credential file (mode 0600), or a loaded identity. */
  credentials: string | AgentIdentity;
  /** The message types this agent sends and reads; a registry from createRegistry types the client's methods. */
  contracts: R;
  /** Where senders' public keys come from for the end-to-end check. */
  peerKeys?: KeyResolver;
  /** Or: the manifests directory (only `agent` and `keys` are read). */
  manifestsDir?: string;
  /** Check each received envelope's signature end to end (default true). */
  verifyEndToEnd?: boolean;
  /** Default per-attempt timeout of send() (ms; DEFAULT_SEND_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Default retries of send() (DEFAULT_SEND_RETRIES). */
  retries?: number;
  /** The Ed25519 implementation that signs and verifies (default: the fastest available, see `backends`). */
  backend?: Ed25519Backend;
  /** Extra nats.js connection options (tls, name, ...). */
  connectOptions?: Record<string, unknown>;
  /** Where the client logs what it refuses (default: pino, level warn, on stderr). */
  logger?: Logger;
  /**
   * This connection's worker id (docs/sdk.md "Several workers"): one NATS subject token,
   * `[A-Za-z0-9_-]{1,32}`, unique among the agent's live connections. Default: 16 random hex
   * characters. Answers to what this connection sends come back to it alone.
   */
  worker?: string;
  /**
   * false: this connection takes no share of the agent's messages until it calls inbox() (a
   * script that only sends with the agent's credential while the agent runs). Default true: it
   * is one of the agent's workers from the start, and holds what arrives until inbox() reads it.
   */
  inbox?: boolean;
}

/**
 * A message this agent received (from inbox() or a topic subscription): verified by the bus's
 * verifier and, by default, end to end by this client; its payload decoded and checked by its contract.
 */
export interface InboundMessage<T = unknown, Type extends string = string> {
  /** 32 hex characters: the id the sender gave it (what `agentbus audit trail --msg-id` takes). */
  msgId: string;
  /** The sending agent's id, as its signature and the NATS user it connected with prove. */
  sender: string;
  /** This agent's id for a direct message; '' for a topic publication. */
  recipient: string;
  /** The topic's name for a topic publication; '' for a direct message. */
  topic: string;
  /** The message type (e.g. `task.assign`): which contract decoded the payload. */
  type: Type;
  /** The payload, decoded and validated by the type's contract. */
  payload: T;
  /** The payload as sent (the signed bytes). */
  payloadBytes: Uint8Array;
  /** The sender's metadata (keys its manifest allows, e.g. `rationale`, `prompt_version`). */
  metadata: Record<string, string>;
  /** The chain depth the verifier assigned. */
  depth: number;
  /**
   * The verifier's MAC of (msg_id, recipient — this agent or `topic:<name>` —, depth). A reply
   * must carry it (the SDK copies it into the metadata): it proves to any verifier that this
   * agent received the message and how deep its chain is.
   */
  depthToken: string;
  /** The msg_id of the message this one answers or follows; '' for none. */
  causationId: string;
  /** The W3C trace context it carries (pass the message as `causation` to stay in its trace). */
  traceparent: string;
  /** When the sender says it sent it (its clock; the verifier checks it is fresh). */
  sentAt: Date;
  /** Every signed header field, as decoded. */
  header: HeaderFields;
  /**
   * The verifier's route back to the worker that sent this message ('' if none): a reply carries
   * it (the SDK sends it along), so the answer reaches that worker rather than any worker of the
   * sender (docs/design.md §18).
   */
  replyRoute?: string;
}

/** Options of send() (and publish()). */
export interface SendOptions {
  /** Metadata to sign with the message (keys the sender's manifest allows; a critical type requires `rationale` and `prompt_version`). */
  metadata?: Record<string, string>;
  /** The message this one answers or follows (sets causation, depth and trace). */
  causation?: InboundMessage;
  /** How long to wait for the verifier's answer per attempt (ms). */
  timeoutMs?: number;
  /** How many times to retry an unanswered attempt (the same msg_id). */
  retries?: number;
  /** W3C traceparent to join; default: the causation's trace, the active OpenTelemetry span, or a new trace. */
  traceparent?: string;
  /** A tool call held for approval: wait at most this long for the decision (default: until the hold expires). */
  approvalWaitMs?: number;
}

/** What send() resolves with once the verifier accepted the message (and, for a direct message, the recipient confirmed it). */
export interface SendResult {
  /** The message's id (32 hex characters). */
  msgId: string;
  /** The chain depth the verifier assigned. */
  depth: number;
  /** The verifier had accepted this msg_id already (a retry): it was not delivered twice. */
  duplicate: boolean;
  /** Which verifier instance decided. */
  verifierId: string;
  /** Attempts it took (1 without a retry). */
  attempts: number;
  /** The recipient's client confirmed it holds the message (false for topic publications). */
  delivered: boolean;
}

/**
 * The messages an agent with registry `R` receives: a union discriminated by `type`, so
 * `if (m.type === 'task.assign')` narrows `m.payload`. `InboundMessage` (unknown payload) for
 * an untyped registry.
 */
export type InboundOf<R> = { [K in TypesOf<R>]: InboundMessage<PayloadFor<R, K>, K> }[TypesOf<R>];
/** The inbound message of type `T` in registry `R`. */
export type InboundFor<R, T extends TypesOf<R>> = { [K in TypesOf<R>]: InboundMessage<PayloadFor<R, K>, K> }[T];

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

type OtelApi = { trace: { getActiveSpan(): { spanContext(): { traceId: string; spanId: string } } | undefined } };
let otel: OtelApi | null | undefined;
async function loadOtel(): Promise<void> {
  if (otel !== undefined) return;
  try {
    const name = '@opentelemetry/api';
    otel = (await import(name)) as OtelApi;
  } catch {
    otel = null;
  }
}

/**
 * An agent's connection to the bus. `R` is the registry passed as `contracts`: with a registry
 * from createRegistry, send/publish/request/reply accept only its type names, each with its
 * payload type, and inbox()/subscribe() yield messages whose payload narrows by `type`.
 */
export class AgentClient<R extends ContractRegistry<any> = ContractRegistry> {
  readonly agentId: string;
  /** This connection's worker id: its acks and the answers to its messages come to it alone. */
  readonly workerId: string;
  readonly nc: NatsConnection;
  #identity: AgentIdentity;
  /** The agent's identity (reloaded when its credential file changes: key rotation). */
  get identity(): AgentIdentity {
    return this.#identity;
  }
  #credsWatch: NodeJS.Timeout | undefined;
  #contracts: ContractRegistry;
  #peerKeys: KeyResolver | undefined;
  #e2e: boolean;
  #backend: Ed25519Backend;
  #timeoutMs: number;
  #retries: number;
  #inbox: MessageQueue<InboundMessage>;
  #inboxSub: Subscription | undefined;
  /** Answers to this worker's messages (agentbus.inbox.<self>.<worker>.to.>). */
  #answerSub: Subscription | undefined;
  /** Topic subscriptions open per topic (the k-th of one topic forms its own queue group across workers). */
  #topicCount = new Map<string, number>();
  #confirmer: DeliveryConfirmer;
  #topicSubs = new Set<Subscription>();
  #seen = new Map<string, true>();
  #waiters = new Map<string, (m: InboundMessage) => void>();
  /** Long-lived reply streams (memory watches): every message caused by the key goes to its handler. */
  #streams = new Map<string, (m: InboundMessage) => void>();
  /**
   * notDelivered: messages that arrived after the inbox was closed (not confirmed to their
   * senders). refused: messages this client could not verify or decode (refused to the
   * verifier, which tells their senders; on topics only counted and logged). unclaimedAnswers:
   * tool and memory results that arrived after their request gave up waiting (confirmed, dropped).
   */
  readonly stats = { sent: 0, received: 0, duplicatesDropped: 0, refused: 0, notDelivered: 0, unclaimedAnswers: 0 };
  #log: Logger;
  #ownsIdentity = false;
  /** Sends waiting for the verifier's answer: close() lets them finish (within one send budget). */
  #inflight = new Set<Promise<unknown>>();
  #closed = false;

  private constructor(nc: NatsConnection, identity: AgentIdentity, o: ConnectOptions<R>, peerKeys: KeyResolver | undefined, worker: string) {
    this.nc = nc;
    this.#identity = identity;
    this.agentId = identity.agentId;
    this.workerId = worker;
    this.#contracts = o.contracts;
    this.#peerKeys = peerKeys;
    this.#e2e = o.verifyEndToEnd ?? true;
    this.#backend = o.backend ?? defaultBackend();
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.#retries = o.retries ?? DEFAULT_SEND_RETRIES;
    this.#inbox = new MessageQueue(() => this.#releaseInbox());
    this.#confirmer = new DeliveryConfirmer(nc, this.agentId);
    this.#log = o.logger ?? createLogger({ name: `agentbus-${identity.agentId}`, level: process.env.AGENTBUS_LOG_LEVEL ?? 'warn', destination: pinoStderr() });
    if (o.inbox !== false) this.#subscribeInbox();
    this.#answerSub = nc.subscribe(`${SUBJECT_INBOX_PREFIX}${this.agentId}.${worker}.${WORKER_ANSWER_TOKEN}.>`, {
      callback: (_e, m) => this.#onMessage(m, this.#inbox),
    });
  }

  /** The agent's inbox is one NATS queue group (the agent id) across its workers: each delivery reaches one of them. */
  #subscribeInbox(): void {
    this.#inboxSub = this.nc.subscribe(`${SUBJECT_TO_PREFIX}${this.agentId}.>`, { queue: this.agentId, callback: (_e, m) => this.#onMessage(m, this.#inbox) });
  }

  /**
   * Nobody reads the inbox any more (a `break` out of inbox()): unsubscribe, unless a request()
   * still waits for its answer there (then once the last one is answered or timed out).
   */
  #releaseInbox(): void {
    if (!this.#inbox.done || this.#waiters.size > 0 || this.#streams.size > 0 || !this.#inboxSub) return;
    this.#inboxSub.unsubscribe();
    this.#inboxSub = undefined;
  }

  /** Connect as the agent of `o.credentials` (what connectAgent() does); BusConnectionError when no server answers. */
  static async connect<R extends ContractRegistry<any> = ContractRegistry>(o: ConnectOptions<R>): Promise<AgentClient<R>> {
    if (o.worker !== undefined && !WORKER_ID_RE.test(o.worker)) throw new TypeError(`worker: "${o.worker}" is not a worker id ([A-Za-z0-9_-]{1,32})`);
    const worker = o.worker ?? randomBytes(8).toString('hex');
    const identity = typeof o.credentials === 'string' ? loadCredentials(o.credentials) : o.credentials;
    const verify = o.verifyEndToEnd ?? true;
    const peerKeys = o.peerKeys ?? (o.manifestsDir ? new PeerKeys(o.manifestsDir).resolve : undefined);
    if (verify && !peerKeys) throw new TypeError('end-to-end verification needs peerKeys or manifestsDir (or set verifyEndToEnd: false)');
    await loadOtel();
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: o.servers,
        name: `agentbus-agent-${identity.agentId}/${worker}`,
        authenticator: nkeyAuthenticator(identity.natsSeed()),
        // acks come back to this connection under its worker id (answers too: the verifier's route)
        inboxPrefix: `${SUBJECT_INBOX_PREFIX}${identity.agentId}.${worker}`,
        // no stack captured for every request (each send is one): ~half a request's CPU
        // (docs/decisions.md, "Requests without async traces"); our errors carry their own
        noAsyncTraces: true,
        ...(o.connectOptions ?? {}),
      });
    } catch (e) {
      if (typeof o.credentials === 'string') identity.destroy();
      const msg = String((e as Error).message ?? e);
      if ((e as Error).name === 'AuthorizationError' || /authorization violation/i.test(msg)) {
        // a bare "Authorization Violation" says nothing about what to fix
        throw new CredentialError(
          `the bus at ${String(o.servers)} refused agent "${identity.agentId}" (NATS user ${identity.natsPublicKey}): no manifest of the bus's has that nats_user — is ${identity.agentId}.yaml in the manifests directory \`agentbus dev\` watches (its banner names it), with the nats_user of this credential file? A manifest added a moment ago is picked up within a second.`,
          typeof o.credentials === 'string' ? o.credentials : undefined,
          { cause: e },
        );
      }
      // a raw ConnectionError stack says neither where nor what to do: one line that does
      const servers = (Array.isArray(o.servers) ? o.servers : [o.servers]).map(String);
      const code = (e as { code?: unknown; cause?: { code?: unknown } }).cause?.code ?? (e as { code?: unknown }).code;
      const why = typeof code === 'string' && code !== msg ? `${msg} (${code})` : msg;
      throw new BusConnectionError(servers, why.split('\n')[0]!, e);
    }
    const client = new AgentClient<R>(nc, identity, o, peerKeys, worker);
    client.#ownsIdentity = typeof o.credentials === 'string';
    if (typeof o.credentials === 'string') client.#watchCredentials(o.credentials);
    return client;
  }

  /** Key rotation: pick up a rewritten credential file; the newest key valid now signs. */
  #watchCredentials(path: string): void {
    let last = statSync(path).mtimeMs;
    this.#credsWatch = setInterval(() => {
      let m: number;
      try {
        m = statSync(path).mtimeMs;
      } catch {
        return;
      }
      if (m === last) return;
      last = m;
      try {
        const next = loadCredentials(path);
        if (next.agentId !== this.agentId) return;
        const old = this.#identity;
        this.#identity = next;
        old.destroy();
      } catch {
        /* a half-written or bad file: keep the current identity */
      }
    }, 500);
    this.#credsWatch.unref();
  }

  /** A message this client cannot verify or decode: refused (so its sender learns why), logged, counted. */
  #refuse(m: Msg, msgId: Uint8Array | undefined, sender: string, type: string, reason: Reason, detail: string): void {
    this.stats.refused++;
    const told = msgId ? this.#confirmer.refuse(m, msgId, reason, detail) : false;
    this.#log.warn(
      { msg_id: msgId ? toHex(msgId) : undefined, sender, type, reason: reasonName(reason), detail, subject: m.subject, sender_told: told },
      'message refused: this client cannot verify or decode it',
    );
  }

  #onMessage(m: Msg, queue: MessageQueue<InboundMessage>): void {
    const resolve: KeyResolver = this.#e2e ? this.#peerKeys! : () => new Uint8Array(32);
    const r = openEnvelope(m.data, resolve, this.#e2e ? this.#backend : { ...this.#backend, verify: () => true });
    if (!r.ok) {
      // the msg_id (unverified) only addresses the refusal; the verifier checks it was sent here
      const parts = parseEnvelope(m.data);
      const h = parts.ok ? decodeHeader(parts.value.headerBytes) : undefined;
      const hint = h?.ok ? h.value : undefined;
      const why =
        r.reason === Reason.REASON_UNKNOWN_KEY || r.reason === Reason.REASON_UNKNOWN_SENDER
          ? `no public key of ${hint?.sender ?? 'the sender'} in this client's manifests (peerKeys / manifestsDir)`
          : r.detail || reasonName(r.reason);
      this.#refuse(m, hint?.msgId, hint?.sender ?? '', hint?.type ?? '', r.reason, why);
      return;
    }
    const header: HeaderFields = r.value.header;
    const payloadBytes: Uint8Array = r.value.payload;
    const msgId = toHex(header.msgId);
    // The verifier forwards a retried envelope again; deliver each msg_id once.
    if (this.#seen.has(msgId)) {
      this.stats.duplicatesDropped++;
      this.#confirmer.confirm(m, header.msgId); // held already: the first confirmation was lost
      return;
    }
    // tool.result, the answer to callTool, is built in (registries do not list it: tools.ts), for
    // answers to a request this client waits for; any other one stays an unknown type
    const contract =
      this.#contracts.get(header.type) ??
      (header.type === TOOL_RESULT_TYPE && this.#waiters.has(toHex(header.causationId)) ? TOOL_RESULT_CONTRACT : undefined) ??
      this.#memoryContract(header.type, toHex(header.causationId)) ??
      builtinA2aContract(header.type);
    if (!contract && header.causationId.length && (header.type === TOOL_RESULT_TYPE || header.type === 'memory.result' || header.type === 'memory.event')) {
      // an answer to a request of this client's that gave up waiting (timed out, watch ended):
      // it did arrive, so it is confirmed, not refused — nothing was wrong with it
      this.stats.unclaimedAnswers++;
      this.#confirmer.confirm(m, header.msgId);
      this.#log.warn(
        { msg_id: msgId, sender: header.sender, type: header.type, causation_id: toHex(header.causationId) },
        'an answer arrived after its request stopped waiting: dropped',
      );
      return;
    }
    if (!contract) {
      this.#refuse(m, header.msgId, header.sender, header.type, Reason.REASON_UNKNOWN_TYPE, `${header.type} has no contract in ${this.agentId}'s registry`);
      return;
    }
    const decoded = contract.decode(payloadBytes);
    if (!decoded.ok) {
      this.#refuse(m, header.msgId, header.sender, header.type, decoded.reason, `${header.type}: ${decoded.detail}`);
      return;
    }
    const causation = toHex(header.causationId);
    if (queue.done && !(causation && (this.#waiters.has(causation) || this.#streams.has(causation)))) {
      // Nobody reads this queue any more (a `break` out of inbox(), or a closed subscription):
      // not confirmed, so the sender hears "not delivered" (UndeliveredError) instead of a
      // delivery nobody saw.
      this.stats.notDelivered++;
      return;
    }
    this.#seen.set(msgId, true);
    if (this.#seen.size > DEFAULT_DEDUP_WINDOW) this.#seen.delete(this.#seen.keys().next().value!);
    const depthHeader = m.headers?.get(DEPTH_HEADER);
    const inbound: InboundMessage = {
      msgId,
      sender: header.sender,
      recipient: header.recipient,
      topic: header.topic,
      type: header.type,
      payload: decoded.value,
      payloadBytes,
      metadata: header.metadata,
      depth: depthHeader ? Number(depthHeader) : header.depth,
      depthToken: m.headers?.get(DEPTH_TOKEN_HEADER) ?? '',
      causationId: toHex(header.causationId),
      traceparent: header.traceId.length ? `00-${toHex(header.traceId)}-${toHex(header.spanId)}-01` : '',
      sentAt: new Date(header.sentAtMs),
      header,
      replyRoute: m.headers?.get(REPLY_ROUTE_HEADER) ?? '',
    };
    this.stats.received++;
    const waiter = inbound.causationId ? this.#waiters.get(inbound.causationId) : undefined;
    if (waiter) {
      this.#waiters.delete(inbound.causationId);
      waiter(inbound);
    } else if (inbound.causationId && this.#streams.has(inbound.causationId)) {
      this.#streams.get(inbound.causationId)!(inbound);
    } else {
      queue.push(inbound);
    }
    this.#confirmer.confirm(m, header.msgId);
  }

  /** Verified messages addressed to this agent. `break` stops the inbox. */
  inbox(): MessageQueue<InboundOf<R>> {
    // connected with inbox: false: a worker of the agent's from now on
    if (!this.#inboxSub && !this.#inbox.done) this.#subscribeInbox();
    return this.#inbox as MessageQueue<InboundOf<R>>;
  }

  /**
   * Verified messages on a topic this agent's manifest may subscribe to. Resolves once the
   * server has accepted the subscription; rejects with PermissionError when NATS refuses it
   * (the manifest does not list the topic under `topics.subscribe`).
   */
  async subscribe(topic: string, o: { everyWorker?: boolean } = {}): Promise<MessageQueue<InboundOf<R>>> {
    const subject = `${SUBJECT_TOPIC_PREFIX}${topic}.>`;
    // one worker of this agent gets each publication (a queue group: the agent id; the k-th open
    // subscription of one topic in a client is a group of its own, so two in one client both get
    // everything); everyWorker: every worker gets every publication
    const k = this.#topicCount.get(topic) ?? 0;
    this.#topicCount.set(topic, k + 1);
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      const n = (this.#topicCount.get(topic) ?? 1) - 1;
      if (n > 0) this.#topicCount.set(topic, n);
      else this.#topicCount.delete(topic);
    };
    const queue = o.everyWorker ? undefined : k === 0 ? this.agentId : `${this.agentId}-${k}`;
    let sub: Subscription | undefined;
    const q: MessageQueue<InboundMessage> = new MessageQueue(() => {
      sub?.unsubscribe();
      if (sub) this.#topicSubs.delete(sub);
      uncount();
    });
    let refused: Error | undefined;
    sub = this.nc.subscribe(subject, {
      ...(queue ? { queue } : {}),
      callback: (e, m) => {
        if (!e) {
          this.#onMessage(m, q);
          return;
        }
        // NATS reports a refused subscription (permissions violation) here and closes it
        // itself; end the queue with the error (a refusal reported later ends the iteration the same way).
        const err = e instanceof PermissionViolationError ? new PermissionError(topic, subject, { cause: e }) : e;
        refused ??= err;
        if (sub) this.#topicSubs.delete(sub);
        sub = undefined;
        uncount();
        q.stop(err);
      },
    });
    this.#topicSubs.add(sub);
    // The server answers the SUB before this PING's PONG: a refusal has arrived by now.
    await this.nc.flush();
    if (refused) throw refused;
    return q as MessageQueue<InboundOf<R>>;
  }

  #trace(o: SendOptions): { traceId: Uint8Array; spanId: Uint8Array } {
    const spanId = randomBytes(8);
    const tp = o.traceparent ?? o.causation?.traceparent;
    const m = tp ? TRACEPARENT_RE.exec(tp) : null;
    if (m) return { traceId: Buffer.from(m[1]!, 'hex'), spanId };
    const active = otel?.trace.getActiveSpan()?.spanContext();
    if (active && /^[0-9a-f]{32}$/.test(active.traceId) && !/^0+$/.test(active.traceId)) return { traceId: Buffer.from(active.traceId, 'hex'), spanId };
    return { traceId: randomBytes(16), spanId };
  }

  #seal(dest: { recipient?: string; topic?: string }, type: string, payload: unknown, o: SendOptions) {
    if (this.#closed) throw new AgentClosedError(`${this.agentId}'s client is closed: nothing was sent`);
    // Bypass for tool calls: `tool.<server>.<tool>` types come from the tool server's pinned
    // manifest, not from the registry; they get a passthrough JSON-object contract (the verifier
    // checks the arguments against the pinned schema), and `tool.result` its built-in one.
    const contract = this.#contracts.get(type) ?? builtinToolContract(type) ?? builtinMemoryContract(type) ?? builtinA2aContract(type);
    if (!contract) throw new ContractError(Reason.REASON_UNKNOWN_TYPE, type, 'no contract registered for this type');
    const enc = contract.encode(payload);
    if (!enc.ok) throw new ContractError(enc.reason, type, enc.detail);
    const metadata = { ...(o.metadata ?? {}) };
    if (o.causation) {
      // the verifier rejects a causation id without the token of the message it names
      if (!o.causation.depthToken)
        throw new ContractError(Reason.REASON_BAD_CAUSATION, type, 'the message this one answers carries no depth token (was it delivered by the verifier?)');
      metadata[DEPTH_TOKEN_METADATA] = o.causation.depthToken;
    }
    const md = checkMetadata(contract.allowedMetadata, metadata, type);
    if (!md.ok) throw new ContractError(md.reason, type, md.detail);
    for (const k of contract.requiredMetadata) {
      if (!metadata[k]) throw new ContractError(Reason.REASON_METADATA_MISSING, type, `metadata "${k}" is required for this type`);
    }
    const key = this.#identity.currentKey();
    return sealEnvelope({
      sender: this.agentId,
      keyId: key.keyId,
      sign: key.sign,
      ...dest,
      type,
      payload: enc.value,
      contentType: contract.contentType,
      metadata,
      ...(o.causation ? { causationId: Buffer.from(o.causation.msgId, 'hex'), depth: o.causation.depth + 1 } : {}),
      ...this.#trace(o),
    });
  }

  /** Send a typed message to an agent. Resolves with the verifier's ack; rejects with RejectedError(reason). */
  async send<T extends TypesOf<R>>(to: string, type: T, payload: NoInfer<InputFor<R, T>>, o: SendOptions = {}): Promise<SendResult> {
    const sealed = this.#seal({ recipient: to }, type, payload, o);
    return this.sendRaw(sealed.bytes, toHex(sealed.header.msgId), { ...o, recipient: to, route: o.causation?.replyRoute ?? '' });
  }

  /** Publish a typed message on a topic (delivered to the topic's subscribers). */
  async publish<T extends TypesOf<R>>(topic: string, type: T, payload: NoInfer<InputFor<R, T>>, o: SendOptions = {}): Promise<SendResult> {
    const sealed = this.#seal({ topic }, type, payload, o);
    return this.sendRaw(sealed.bytes, toHex(sealed.header.msgId), o);
  }

  /**
   * Send already-sealed envelope bytes (retries resend exactly these bytes, so the verifier
   * sees a duplicate, never a second message).
   */
  sendRaw(
    bytes: Uint8Array,
    msgId: string,
    o: { timeoutMs?: number; retries?: number; recipient?: string; approvalWaitMs?: number; route?: string } = {},
  ): Promise<SendResult> {
    if (this.#closed) return Promise.reject(new AgentClosedError(`${this.agentId}'s client is closed: ${msgId} was not sent`));
    const p = this.#sendRaw(bytes, msgId, o);
    this.#inflight.add(p);
    const done = () => this.#inflight.delete(p);
    p.then(done, done);
    return p;
  }

  async #sendRaw(
    bytes: Uint8Array,
    msgId: string,
    o: { timeoutMs?: number; retries?: number; recipient?: string; approvalWaitMs?: number; route?: string },
  ): Promise<SendResult> {
    // this connection's worker id (its answers come back to it), and, for an answer, the route
    // back to the worker that asked (InboundMessage.replyRoute)
    const headers = natsHeaders();
    headers.set(WORKER_HEADER, this.workerId);
    if (o.route) headers.set(REPLY_ROUTE_HEADER, o.route);
    const timeout = o.timeoutMs ?? this.#timeoutMs;
    const retries = o.retries ?? this.#retries;
    // The whole budget: (retries + 1) × timeout. A timeout spends one attempt; "no responders"
    // (no verifier owns the partition this instant: a takeover or rebalance in progress) is
    // retried with a short backoff until the budget runs out.
    const deadline = Date.now() + timeout * (retries + 1);
    let lastErr: unknown;
    let attempts = 0;
    let timeouts = 0;
    let backoff = 50;
    let held = 0; // > 0: a tool call held for approval, waiting until then (ms since epoch)
    while (timeouts <= retries && (Date.now() < deadline || held > Date.now())) {
      attempts++;
      let reply: Msg;
      try {
        const wait = held ? held - Date.now() : Math.min(timeout, deadline - Date.now());
        reply = await this.nc.request(`${SUBJECT_IN_PREFIX}${this.agentId}`, bytes, { timeout: Math.max(50, wait), headers });
      } catch (e) {
        lastErr = e;
        if (this.nc.isClosed())
          throw new AgentClosedError(`${this.agentId}'s connection closed while ${msgId} waited for the verifier's answer (it may have been delivered)`);
        if (/no responders|503/i.test(String((e as Error).message ?? e)) || (e as Error).name === 'NoRespondersError') {
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, 500);
        } else {
          timeouts++;
        }
        continue;
      }
      let ack: Ack;
      try {
        ack = Ack.decode(reply.data);
      } catch {
        throw new EnvelopeError(Reason.REASON_MALFORMED, 'the verifier answered with an undecodable ack');
      }
      if (ack.verdict === Verdict.VERDICT_ACCEPTED || ack.verdict === Verdict.VERDICT_DUPLICATE) {
        if (ack.delivery === Delivery.DELIVERY_HELD) {
          // a tool call its policy holds for approval: the same bytes again, answered once an
          // approver decided or the hold expired (its end is in the detail)
          const until = Date.parse(/until (\S+)$/.exec(ack.detail)?.[1] ?? '');
          held = Math.min(
            Number.isFinite(until) ? until + 5000 : Date.now() + 125_000,
            o.approvalWaitMs !== undefined ? Date.now() + o.approvalWaitMs : Infinity,
          );
          lastErr = new TimeoutError(`${msgId} is held for approval and no approver decided in time`);
          continue;
        }
        if (ack.delivery === Delivery.DELIVERY_DENIED) {
          // held for approval, then denied or expired: reason approval_denied | approval_timeout
          this.stats.sent++;
          throw new RejectedError(ack.reason, msgId, ack.detail);
        }
        if (ack.delivery === Delivery.DELIVERY_REFUSED) {
          // the recipient could not verify or decode it; sending it again would not change that
          this.stats.sent++;
          throw new RefusedError(ack.reason, msgId, o.recipient ?? '', ack.detail);
        }
        if (ack.delivery === Delivery.DELIVERY_UNCONFIRMED) {
          // accepted and audited, but the recipient did not confirm: resend the same bytes
          // (a duplicate to the verifier, which forwards it again) within the budget
          lastErr = new UndeliveredError(
            msgId,
            `${msgId} was accepted but its recipient did not confirm delivery (${attempts} attempts): is the recipient connected?`,
          );
          timeouts++;
          continue;
        }
        this.stats.sent++;
        return {
          msgId,
          depth: ack.depth,
          duplicate: ack.verdict === Verdict.VERDICT_DUPLICATE,
          verifierId: ack.verifierId,
          attempts,
          delivered: ack.delivery === Delivery.DELIVERY_CONFIRMED,
        };
      }
      this.stats.sent++;
      throw new RejectedError(ack.reason, msgId, ack.detail);
    }
    if (lastErr instanceof UndeliveredError) throw lastErr;
    throw new TimeoutError(`no answer from the verifier for ${msgId} after ${attempts} attempts (${(lastErr as Error)?.message ?? 'timeout'})`);
  }

  /**
   * Send and wait for the message that answers it (its causation_id is our msg_id). The answer
   * may be any type of the registry (nothing checks which one the peer picks): narrow it by `type`.
   */
  async request<T extends TypesOf<R>>(to: string, type: T, payload: NoInfer<InputFor<R, T>>, o: SendOptions = {}): Promise<InboundOf<R>> {
    const sealed = this.#seal({ recipient: to }, type, payload, o);
    const msgId = toHex(sealed.header.msgId);
    const timeout = o.timeoutMs ?? 10_000;
    const route = o.causation?.replyRoute ?? '';
    // the answer arrives on this worker's answer subscription (the verifier's reply route,
    // PROTOCOL.md §11.1), also after a `break` ended the inbox or with inbox: false
    const answer = new Promise<InboundMessage>((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters.delete(msgId);
        this.#releaseInbox();
        reject(new TimeoutError(`no reply to ${msgId} within ${timeout} ms`));
      }, timeout);
      this.#waiters.set(msgId, (m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
    try {
      await this.sendRaw(sealed.bytes, msgId, { ...o, recipient: to, route });
    } catch (e) {
      this.#waiters.delete(msgId);
      this.#releaseInbox();
      answer.catch(() => undefined);
      throw e;
    }
    void answer.then(
      () => this.#releaseInbox(),
      () => undefined,
    );
    return answer as Promise<InboundOf<R>>;
  }

  /** Answer a received message: to its sender, with causation, depth + 1 and its trace. */
  reply<T extends TypesOf<R>>(to: InboundMessage, type: T, payload: NoInfer<InputFor<R, T>>, o: SendOptions = {}): Promise<SendResult> {
    return this.send(to.sender, type, payload, { ...o, causation: to });
  }

  /**
   * Call `tool` on the tool server `server` (tools.ts): resolves with its result; RejectedError
   * when the verifier refuses the call, ToolError when the result has `isError: true`.
   */
  callTool(server: string, tool: string, args: Record<string, unknown> = {}, o: CallToolOptions = {}): Promise<ToolResult> {
    return callTool(this, server, tool, args, o);
  }

  /**
   * Memory namespace `ns` of the memory service (default: this agent's own, `agent/<self>`):
   * get/put/delete/list/watch as signed requests (memory.ts).
   */
  memory<T = unknown>(ns?: string, o?: MemoryOptions<T>): Memory<T> {
    return memoryClient<T>(this, ns, o);
  }

  /** Memory types are built in (memory.ts): answers to a request or watch of this client's, and requests to the memory service. */
  #memoryContract(type: string, causation: string) {
    if (!type.startsWith('memory.')) return undefined;
    const answer = type === 'memory.result' || type === 'memory.event';
    if (answer ? !(causation && (this.#waiters.has(causation) || this.#streams.has(causation))) : this.agentId !== MEMORY_SERVICE) return undefined;
    return builtinMemoryContract(type);
  }

  /** @internal Route every later message caused by `msgId` to `fn` instead of the inbox (memory watches). */
  onReplies(msgId: string, fn: (m: InboundMessage) => void): () => void {
    this.#streams.set(msgId, fn);
    return () => {
      this.#streams.delete(msgId);
      this.#releaseInbox();
    };
  }

  /**
   * Stop receiving, let the sends in flight get their answers (a reply sent from an inbox loop
   * while the program closes is not cut off: at most one send budget, timeout × (retries + 1)),
   * then drain the connection. Sends after close() are refused with AgentClosedError.
   */
  async close(): Promise<void> {
    if (this.#credsWatch) clearInterval(this.#credsWatch);
    this.#inbox.stop();
    for (const s of this.#topicSubs) s.unsubscribe();
    this.#inboxSub?.unsubscribe();
    this.#answerSub?.unsubscribe();
    this.#confirmer.flush();
    this.#closed = true;
    if (this.#inflight.size) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.#inflight]), new Promise((r) => (timer = setTimeout(r, this.#timeoutMs * (this.#retries + 1))))]);
      clearTimeout(timer);
    }
    await this.nc.drain().catch(() => undefined);
    if (this.#ownsIdentity) this.identity.destroy();
  }
}

/** pino's stderr destination (fd 2), created once. */
let stderrDest: ReturnType<typeof pino.destination> | undefined;
function pinoStderr() {
  return (stderrDest ??= pino.destination({ fd: 2, sync: false }));
}

/** Connect an agent. Pass a registry from createRegistry as `contracts` to get a typed client. */
export function connectAgent<R extends ContractRegistry<any> = ContractRegistry>(o: ConnectOptions<R>): Promise<AgentClient<R>> {
  return AgentClient.connect(o);
}
