// The memory service (docs/design.md §13): an agent of its own on the bus (`memory`) that receives
// memory.* requests as verified deliveries, checks the caller's grant AGAIN (the verifier checks
// it first), and stores values in JetStream KV through a separate NATS service user (agents have
// no permission on KV subjects). One bucket per namespace (agentbus_mem_<kind>_<name>, history 1;
// session namespaces with max_age = the grant's TTL), values as JSON bytes, compare-and-set with
// KV create/update, quotas (keys, bytes, value size) per namespace, list paged by key order,
// watches pushed to the watcher as memory.event replies to its memory.watch request.
//
// Quotas are counted by this process (a usage table per namespace, loaded from the bucket on first
// use, reloaded for session namespaces whose keys expire): run ONE memory service per bus. Writes
// to one namespace are serialized.
//
// Per-agent limits (the manifest's `memory.limits`, refused with `limit_exceeded`): the session
// namespaces an agent created that still exist, and the watches it holds. Each session bucket's
// stream description names the agent whose write created it, so the count is rebuilt from the
// stream list at start (and whenever an agent reaches its limit); a session bucket whose keys have
// all expired (no message left in its stream) is deleted by the service ("reclaimed"), which frees
// its creator's slot. Only a put creates a bucket: a get, list or delete of a missing namespace
// creates nothing, and a watch on one waits (counted as a watch) until a put creates it.
import { createHash } from 'node:crypto';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { connectAgent, createLogger, MEMORY_CONTRACTS } from '@agentbus/sdk/internal';
import type { AgentClient, AgentIdentity, InboundMessage, Logger } from '@agentbus/sdk/internal';
import {
  checkMemoryAccess,
  jsonDepth,
  memoryLimitsOf,
  memoryBucket,
  memoryOpOf,
  parseNamespace,
  MemorySection,
  DEFAULT_MEMORY_LIST_LIMIT,
  DEFAULT_MEMORY_WATCH_LIMIT,
  MAX_MEMORY_VALUE_DEPTH,
  MEMORY_EVENT_TYPE,
  MEMORY_RESULT_TYPE,
  MEMORY_UNWATCH_TYPE,
} from '@agentbus/protocol';
import { loadManifestDir } from '@agentbus/protocol/manifest';
import type { MemoryAuditFields, MemoryErrorCode, MemoryEventPayload, MemoryResultPayload, MemorySectionInput, MemoryQuota } from '@agentbus/protocol';
import { loadServiceCreds } from '../common/service-creds.js';
import type { ServiceIdentity } from '../common/service-creds.js';

/** @deprecated the default of `memory.limits.watches` (DEFAULT_MEMORY_WATCH_LIMIT). */
export const MAX_WATCHES_PER_AGENT = DEFAULT_MEMORY_WATCH_LIMIT;

/** A session bucket's stream is KV_<this><id>. */
const SESSION_STREAM_PREFIX = 'KV_agentbus_mem_s_';
/** The stream description of a session bucket names its creator: `agentbus memory session/<id> created by <agent>`. */
const CREATOR_RE = / created by ([a-z0-9][a-z0-9_-]{0,63})$/;

/**
 * A put's value as the JSON bytes the service stores, or a Failure: nested deeper than
 * MAX_MEMORY_VALUE_DEPTH ('invalid', measured without recursion), or not serializable
 * (JSON.stringify throwing, e.g. RangeError). Never throws.
 */
export function encodeMemoryValue(v: unknown): { ok: true; bytes: Uint8Array } | { ok: false; code: MemoryErrorCode; detail: string } {
  if (v === undefined) return { ok: false, code: 'invalid', detail: 'a value is required (any JSON)' };
  if (jsonDepth(v, MAX_MEMORY_VALUE_DEPTH) > MAX_MEMORY_VALUE_DEPTH)
    return { ok: false, code: 'invalid', detail: `the value nests arrays and objects deeper than ${MAX_MEMORY_VALUE_DEPTH} levels` };
  try {
    return { ok: true, bytes: enc.encode(JSON.stringify(v)) };
  } catch (e) {
    return { ok: false, code: 'invalid', detail: `the value is not serializable as JSON (${(e as Error)?.name ?? 'error'})` };
  }
}

/**
 * One audited memory operation (docs/design.md §13): hashes, never keys or values in clear — the fields
 * the verifier's audit event carries (MemoryAuditFields), with the service's own outcome.
 */
export interface MemoryAuditRecord extends Omit<MemoryAuditFields, 'status'> {
  at: string;
  msg_id: string;
  agent: string;
  /** 'ok' or the error code. */
  verdict: 'ok' | MemoryErrorCode;
  detail?: string;
}

export interface MemoryServiceOptions {
  servers: string | string[];
  /** The service's agent identity (agent id `memory`): credential file or loaded identity. */
  credentials: string | AgentIdentity;
  /** The NATS service user with JetStream KV permissions (natsconfig memoryPermissions). */
  serviceCreds: string | ServiceIdentity;
  manifestsDir: string;
  logger?: Logger;
  /**
   * Grants by agent, overriding the manifests' `memory:` sections. Until the Manifest schema
   * carries `memory:` this is how grants other than the defaults are given.
   */
  grants?: (agent: string) => MemorySectionInput | undefined;
  /** How often the manifests directory is re-read (ms, default 1000). */
  manifestPollMs?: number;
  /** Called with each audit record (they are also logged at info as `memory audit`). */
  onAudit?: (r: MemoryAuditRecord) => void;
  /** Extra nats.js options for both connections (tls, ...). */
  connectOptions?: Record<string, unknown>;
  /** Replicas of the buckets it creates (default 1). */
  replicas?: number;
  /** How often session buckets whose keys all expired are looked for and deleted (ms, default 30000; they are also looked for when an agent reaches its session limit). */
  sessionSweepMs?: number;
}

export interface MemoryService {
  readonly agent: AgentClient<any>;
  readonly stats: { requests: number; ok: number; refused: number; watches: number; events: number; reclaimed: number };
  /** Session namespaces that exist, by the agent whose write created them ('' when the bucket does not say). */
  sessionsByCreator(): Map<string, string[]>;
  /** Look for expired session buckets now and delete them (what the timer does). */
  sweepSessions(): Promise<void>;
  close(): Promise<void>;
}

interface Usage {
  sizes: Map<string, number>;
  bytes: number;
  loadedAt: number;
}

interface Watch {
  id: string;
  owner: string;
  ns: string;
  prefix: string;
  msg: InboundMessage;
  /** undefined while the namespace does not exist (the watch waits for the put that creates it). */
  iter: { stop(): void } | undefined;
  chain: Promise<void>;
  closed: boolean;
}

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const enc = new TextEncoder();
const dec = new TextDecoder();

class Failure extends Error {
  constructor(
    readonly code: MemoryErrorCode,
    detail: string,
  ) {
    super(detail);
  }
}

function isConflict(e: unknown): boolean {
  const m = String((e as Error)?.message ?? e);
  return (
    /wrong last sequence|key exists|10071/i.test(m) ||
    (e as { code?: number })?.code === 10071 ||
    (e as { api_error?: { err_code?: number } })?.api_error?.err_code === 10071
  );
}
function isNotFound(e: unknown): boolean {
  return /stream not found|bucket not found|10059|not found/i.test(String((e as Error)?.message ?? e));
}

export async function startMemoryService(o: MemoryServiceOptions): Promise<MemoryService> {
  const log = o.logger ?? createLogger({ level: 'info' });
  const svc = typeof o.serviceCreds === 'string' ? loadServiceCreds(o.serviceCreds) : o.serviceCreds;
  const nc: NatsConnection = await connect({
    servers: o.servers,
    name: 'agentbus-memory-store',
    authenticator: nkeyAuthenticator(svc.natsSeed()),
    inboxPrefix: '_INBOX_memory',
    maxReconnectAttempts: -1,
    noAsyncTraces: true, // a KV request per operation (docs/decisions.md, "Requests without async traces")
    ...(o.connectOptions ?? {}),
  });
  const kvm = new Kvm(nc);
  const jsm = await jetstreamManager(nc);
  const agent = await connectAgent({
    servers: o.servers,
    credentials: o.credentials,
    contracts: MEMORY_CONTRACTS,
    manifestsDir: o.manifestsDir,
    logger: log,
    ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}),
  });

  // grants: from the manifests (their `memory:` section, when the schema carries it) or o.grants
  let known = new Map<string, MemorySection>();
  // monitor mode (docs/design.md §18): the agents whose manifest grants only record "would refuse", with those grants (what the verifier checked)
  let monitored = new Map<string, MemorySection>();
  const reload = () => {
    try {
      const next = new Map<string, MemorySection>();
      const nextMonitored = new Map<string, MemorySection>();
      for (const m of loadManifestDir(o.manifestsDir)) {
        if (m.enforce === 'monitor') nextMonitored.set(m.agent, m.memory);
        const raw = o.grants?.(m.agent) ?? (m as { memory?: unknown }).memory ?? {};
        const r = MemorySection.safeParse(raw);
        if (r.success) next.set(m.agent, r.data);
        else
          log.warn(
            { agent: m.agent, detail: `memory${r.error.issues[0]?.path.length ? `.${r.error.issues[0].path.join('.')}` : ''}: ${r.error.issues[0]?.message}` },
            'memory: bad memory grant; the agent gets none',
          );
      }
      known = next;
      monitored = nextMonitored;
    } catch (e) {
      log.warn({ err: String((e as Error).message ?? e) }, 'memory: manifests did not load; keeping the previous grants');
    }
  };
  reload();
  const poll = setInterval(reload, o.manifestPollMs ?? 1000);
  poll.unref();

  const buckets = new Map<string, KV>();
  const usage = new Map<string, Usage>();
  const locks = new Map<string, Promise<unknown>>();
  const watches = new Map<string, Watch>();
  const stats = { requests: 0, ok: 0, refused: 0, watches: 0, events: 0, reclaimed: 0 };
  /** Every session namespace whose bucket exists (or is being created), with its creator. */
  const sessions = new Map<string, string>();
  /** Session namespaces whose bucket is being created right now (not yet in the stream list). */
  const creating = new Set<string>();
  /** Session namespaces created since the running sweep began listing (it may not have seen them). */
  const recent = new Set<string>();
  let deniedDelete = false;

  const locked = <T>(ns: string, fn: () => Promise<T>): Promise<T> => {
    const prev = locks.get(ns) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    locks.set(ns, tail);
    void tail.then(() => {
      if (locks.get(ns) === tail) locks.delete(ns);
    });
    return next;
  };

  const sessionsOf = (agentId: string) => {
    let n = 0;
    for (const a of sessions.values()) if (a === agentId) n++;
    return n;
  };

  /** Reclaim one session bucket if its stream holds no message (every key expired): delete it, free its creator's slot, park its watches. Under the namespace's lock. */
  const reclaim = (ns: string) =>
    locked(ns, async () => {
      const name = `KV_${memoryBucket(ns)}`;
      let messages: number;
      try {
        messages = (await jsm.streams.info(name)).state.messages;
      } catch (e) {
        if (!isNotFound(e)) throw e;
        messages = -1; // gone already (an operator deleted it)
      }
      if (messages > 0) return;
      if (messages === 0) {
        try {
          await jsm.streams.delete(name);
        } catch (e) {
          if (!isNotFound(e)) {
            if (!deniedDelete)
              log.warn(
                { ns, stream: name, err: String((e as Error).message ?? e) },
                'memory: an expired session bucket could not be deleted (its slot stays taken); regenerate nats.conf with `agentbus nats-config` so the memory user may delete session buckets',
              );
            deniedDelete = true;
            return;
          }
        }
        stats.reclaimed++;
        log.info({ ns, bucket: name, creator: sessions.get(ns) || undefined }, 'memory: expired session namespace deleted');
      }
      sessions.delete(ns);
      buckets.delete(ns);
      usage.delete(ns);
      // its watches wait for the namespace to be created again
      for (const w of watches.values()) {
        if (w.ns !== ns || !w.iter) continue;
        const it = w.iter;
        w.iter = undefined;
        it.stop();
      }
    });

  let sweeping: Promise<void> = Promise.resolve();
  /** Rebuild the session table from the stream list and reclaim the session buckets that hold nothing. Serialized. */
  const sweep = (): Promise<void> => {
    const run = async () => {
      recent.clear();
      const listed = new Map<string, { creator: string; messages: number }>();
      for await (const si of jsm.streams.list()) {
        const name = si.config.name;
        if (!name.startsWith(SESSION_STREAM_PREFIX)) continue;
        const ns = `session/${name.slice(SESSION_STREAM_PREFIX.length)}`;
        if (!parseNamespace(ns)) continue;
        listed.set(ns, { creator: CREATOR_RE.exec(si.config.description ?? '')?.[1] ?? '', messages: si.state.messages });
      }
      for (const ns of [...sessions.keys()])
        if (!listed.has(ns) && !creating.has(ns) && !recent.has(ns)) {
          sessions.delete(ns);
          buckets.delete(ns);
          usage.delete(ns);
        }
      for (const [ns, l] of listed) if (!creating.has(ns)) sessions.set(ns, l.creator);
      // a namespace in use right now (its lock held) is not expired: skip it, and never wait on a lock a caller may hold
      await Promise.allSettled([...listed].filter(([ns, l]) => l.messages === 0 && !locks.has(ns) && !creating.has(ns)).map(([ns]) => reclaim(ns)));
    };
    const next = sweeping.then(run, run);
    sweeping = next.catch((e: unknown) => log.warn({ err: String((e as Error).message ?? e) }, 'memory: session sweep failed'));
    return next;
  };

  /** The bucket of `ns`, or undefined when it does not exist. */
  const bucket = async (ns: string): Promise<KV | undefined> => {
    const have = buckets.get(ns);
    if (have) return have;
    let kv: KV | undefined;
    try {
      kv = await kvm.open(memoryBucket(ns));
      await kv.status(); // open does not fail on a missing bucket in every nats.js version
    } catch (e) {
      if (!isNotFound(e)) throw e;
      return undefined;
    }
    buckets.set(ns, kv);
    return kv;
  };

  /**
   * Create the bucket of `ns` for `agentId`'s put (under the namespace's lock). A session
   * namespace spends one of the creator's `limits.sessions` slots: past the limit (after a sweep
   * found nothing to reclaim) it is refused with limit_exceeded and nothing is created. Watches
   * waiting for the namespace begin.
   */
  const createBucket = async (ns: string, agentId: string, quota: MemoryQuota): Promise<KV> => {
    const name = memoryBucket(ns);
    const session = parseNamespace(ns)?.kind === 'session';
    if (session) {
      const limit = memoryLimitsOf(known.get(agentId)).sessions;
      if (sessionsOf(agentId) >= limit) await sweep().catch(() => undefined);
      const have = sessionsOf(agentId);
      // no await between this check and the reservation: concurrent puts cannot both take the last slot
      if (have >= limit)
        throw new Failure(
          'limit_exceeded',
          `${agentId} has created ${have} session namespaces that still exist; memory.limits.sessions is ${limit} (one is freed when a session's keys have all expired)`,
        );
      sessions.set(ns, agentId);
      creating.add(ns);
    }
    let kv: KV;
    try {
      const ttl = session ? (quota.ttlSeconds ?? 3600) * 1000 : 0;
      kv = await kvm.create(name, {
        history: 1,
        replicas: o.replicas ?? 1,
        description: `agentbus memory ${ns}${session ? ` created by ${agentId}` : ''}`,
        ...(ttl ? { ttl } : {}),
      });
      log.info({ ns, bucket: name, ttl_ms: ttl || undefined, creator: session ? agentId : undefined }, 'memory: namespace created');
    } catch (e) {
      if (session) sessions.delete(ns);
      throw e;
    } finally {
      creating.delete(ns);
    }
    if (session) recent.add(ns);
    buckets.set(ns, kv);
    for (const w of watches.values())
      if (w.ns === ns && !w.iter && !w.closed) await attach(w, kv).catch((e: unknown) => stopWatch(w, String((e as Error).message ?? e)));
    return kv;
  };

  const loadUsage = async (ns: string, kv: KV): Promise<Usage> => {
    const have = usage.get(ns);
    // session keys expire on the server: re-count at most once a second
    if (have && (parseNamespace(ns)?.kind !== 'session' || Date.now() - have.loadedAt < 1000)) return have;
    const u: Usage = { sizes: new Map(), bytes: 0, loadedAt: Date.now() };
    for await (const k of await kv.keys()) {
      const e = await kv.get(k);
      if (!e || e.operation !== 'PUT') continue;
      u.sizes.set(k, e.length);
      u.bytes += e.length;
    }
    usage.set(ns, u);
    return u;
  };

  const audit = (
    m: InboundMessage,
    op: string,
    ns: string,
    key: string | undefined,
    r: { verdict: 'ok' | MemoryErrorCode; valueHash?: string; valueSize?: number; revision?: number; detail?: string },
  ) => {
    const rec: MemoryAuditRecord = {
      at: new Date().toISOString(),
      msg_id: m.msgId,
      agent: m.sender,
      op,
      ns,
      key_hash: key ? sha(key) : '',
      value_hash: r.valueHash ?? '',
      value_size: r.valueSize ?? 0,
      revision: r.revision ?? 0,
      verdict: r.verdict,
      ...(r.detail ? { detail: r.detail } : {}),
    };
    log.info({ memory_audit: rec }, 'memory audit');
    try {
      o.onAudit?.(rec);
    } catch {
      /* an observer's error is not the caller's */
    }
  };

  const answer = (m: InboundMessage, p: MemoryResultPayload) =>
    agent
      .reply(m, MEMORY_RESULT_TYPE as never, p as never)
      .catch((e: unknown) => log.warn({ msg_id: m.msgId, to: m.sender, err: String((e as Error).message ?? e) }, 'memory: the result was not delivered'));

  const stopWatch = (w: Watch, why: string) => {
    if (w.closed) return;
    w.closed = true;
    w.iter?.stop();
    watches.delete(w.id);
    log.info({ watch: w.id, agent: w.owner, ns: w.ns, why }, 'memory: watch ended');
  };

  /** Begin delivering `w`'s events from `kv` (the namespace exists). */
  const attach = async (w: Watch, kv: KV) => {
    const it = await kv.watch({ include: 'updates' as never });
    if (w.closed) return it.stop();
    w.iter = it;
    const { ns, prefix } = w;
    void (async () => {
      for await (const e of it as AsyncIterable<KvWatchEntry>) {
        if (w.closed || w.iter !== it) break;
        if (!e.key.startsWith(prefix)) continue;
        const ev: MemoryEventPayload = { ns, key: e.key, op: e.operation === 'PUT' ? 'put' : 'delete', revision: e.revision };
        if (e.operation === 'PUT') {
          try {
            ev.value = JSON.parse(dec.decode(e.value));
          } catch {
            continue;
          }
          // a stored value too deep to answer with (written around this service) is not an event
          if (jsonDepth(ev.value) > MAX_MEMORY_VALUE_DEPTH) continue;
        }
        w.chain = w.chain.then(async () => {
          if (w.closed) return;
          // the grant may have been withdrawn since the watch began
          if (!access(w.owner, 'watch', ns).ok) return stopWatch(w, 'grant withdrawn');
          try {
            await agent.reply(w.msg, MEMORY_EVENT_TYPE as never, ev as never);
            stats.events++;
          } catch (err) {
            stopWatch(w, `event not delivered: ${String((err as Error).message ?? err)}`);
          }
        });
      }
    })().catch((e: unknown) => {
      if (w.iter === it) stopWatch(w, String((e as Error).message ?? e));
    });
  };

  /**
   * Starts the watch; its events wait until the returned function is called (after the watch's
   * result went out, so the watcher holds the watch first). A watch on a namespace that does not
   * exist creates nothing: it waits for the put that creates it. Past the agent's
   * `limits.watches`: limit_exceeded.
   */
  const startWatch = async (m: InboundMessage, ns: string, prefix: string): Promise<() => void> => {
    const limit = memoryLimitsOf(known.get(m.sender)).watches;
    let open = 0;
    for (const w of watches.values()) if (w.owner === m.sender) open++;
    if (open >= limit) throw new Failure('limit_exceeded', `${m.sender} holds ${open} watches; memory.limits.watches is ${limit}`);
    let release!: () => void;
    const w: Watch = { id: m.msgId, owner: m.sender, ns, prefix, msg: m, iter: undefined, chain: new Promise<void>((r) => (release = r)), closed: false };
    watches.set(w.id, w);
    stats.watches++;
    const kv = await bucket(ns);
    if (kv) {
      try {
        await attach(w, kv);
      } catch (e) {
        stopWatch(w, 'not started');
        throw e;
      }
    }
    return release;
  };

  const access = (agentId: string, op: 'get' | 'put' | 'delete' | 'list' | 'watch', ns: string, valueBytes?: number) => {
    const grant = known.get(agentId);
    if (!grant) return { ok: false as const, code: 'not_allowed' as const, detail: `${agentId} has no manifest on this bus` };
    const sizes = valueBytes !== undefined ? { valueBytes } : undefined;
    const a = checkMemoryAccess(grant, agentId, op, ns, sizes);
    const manifestGrant = monitored.get(agentId);
    if (a.ok || a.code !== 'not_allowed' || !manifestGrant) return a;
    // Monitor mode: the verifier, checking the manifest's grant, recorded this request as "would
    // refuse: memory_not_allowed" in the signed audit trail and delivered it; the service does what
    // the namespace's own default grant allows (read-write, default quotas, a session's default
    // TTL). Only then: a refusal of the service's own policy (the `grants` option) that the
    // manifest does not make has no signed record, and stands. The store's bounds (quotas, value
    // size, limits) are not policy: enforced in every mode.
    if (checkMemoryAccess(manifestGrant, agentId, op, ns).ok) return a;
    log.warn({ agent: agentId, op, ns, detail: a.detail }, 'memory: would refuse (monitor mode): served');
    return checkMemoryAccess(monitorGrant(ns), ownerOf(ns, agentId), op, ns, sizes);
  };
  const checkOk = (agentId: string, op: 'get' | 'put' | 'delete' | 'list' | 'watch', ns: string, valueBytes?: number) => {
    const a = access(agentId, op, ns, valueBytes);
    if (!a.ok) throw new Failure(a.code, a.detail);
    return a;
  };

  const handle = async (m: InboundMessage): Promise<void> => {
    stats.requests++;
    const p = m.payload as {
      ns?: string;
      key?: string;
      value?: unknown;
      if_revision?: number;
      prefix?: string;
      cursor?: string;
      limit?: number;
      watch?: string;
    };
    if (m.type === MEMORY_UNWATCH_TYPE) {
      const w = watches.get(p.watch ?? '');
      if (w && w.owner === m.sender) stopWatch(w, 'unwatched');
      stats.ok++;
      await answer(m, { ok: true, op: 'unwatch', ns: w?.ns ?? '' });
      return;
    }
    const op = memoryOpOf(m.type);
    const ns = p.ns ?? '';
    if (!op) {
      await answer(m, { ok: false, op: 'get', ns, error: { code: 'invalid', detail: `${m.type} is not a memory request` } });
      return;
    }
    const key = p.key;
    let bytes: Uint8Array | undefined;
    try {
      if (op === 'put') {
        const v = encodeMemoryValue(p.value);
        if (!v.ok) throw new Failure(v.code, v.detail);
        bytes = v.bytes;
      }
      const a = checkOk(m.sender, op, ns, bytes?.length);
      let release: (() => void) | undefined;
      const r = await locked(ns, async (): Promise<{ res: MemoryResultPayload; valueHash?: string; valueSize?: number }> => {
        switch (op) {
          case 'get': {
            const kv = await bucket(ns);
            const e = kv ? await kv.get(key!) : null;
            if (!e || e.operation !== 'PUT') throw new Failure('not_found', `${key} is not in ${ns}`);
            const value: unknown = JSON.parse(dec.decode(e.value));
            if (jsonDepth(value) > MAX_MEMORY_VALUE_DEPTH) throw new Failure('invalid', `the stored value nests deeper than ${MAX_MEMORY_VALUE_DEPTH} levels`);
            return { res: { ok: true, op, ns, key, value, revision: e.revision }, valueHash: sha(e.value), valueSize: e.length };
          }
          case 'put': {
            let kv = await bucket(ns);
            if (!kv) {
              // nothing to create for a write that cannot succeed
              if (p.if_revision !== undefined && p.if_revision > 0) throw new Failure('conflict', `${key} in ${ns} is not at revision ${p.if_revision}`);
              if (bytes!.length > a.quota.maxBytes)
                throw new Failure('quota_exceeded', `${ns} would hold ${bytes!.length} bytes; max_bytes is ${a.quota.maxBytes}`);
              kv = await createBucket(ns, m.sender, a.quota);
            }
            const u = await loadUsage(ns, kv);
            const old = u.sizes.get(key!);
            const keys = u.sizes.size + (old === undefined ? 1 : 0);
            const total = u.bytes - (old ?? 0) + bytes!.length;
            if (keys > a.quota.maxKeys) throw new Failure('quota_exceeded', `${ns} holds ${u.sizes.size} keys; max_keys is ${a.quota.maxKeys}`);
            if (total > a.quota.maxBytes) throw new Failure('quota_exceeded', `${ns} would hold ${total} bytes; max_bytes is ${a.quota.maxBytes}`);
            let rev: number;
            try {
              if (p.if_revision === undefined) rev = await kv.put(key!, bytes!);
              else if (p.if_revision === 0) rev = await kv.create(key!, bytes!);
              else rev = await kv.update(key!, bytes!, p.if_revision);
            } catch (e) {
              if (isConflict(e))
                throw new Failure('conflict', p.if_revision === 0 ? `${key} exists in ${ns}` : `${key} in ${ns} is not at revision ${p.if_revision}`);
              throw e;
            }
            u.sizes.set(key!, bytes!.length);
            u.bytes = total;
            return { res: { ok: true, op, ns, key, revision: rev }, valueHash: sha(bytes!), valueSize: bytes!.length };
          }
          case 'delete': {
            const kv = await bucket(ns);
            const e = kv ? await kv.get(key!) : null;
            if (!kv || !e || e.operation !== 'PUT') throw new Failure('not_found', `${key} is not in ${ns}`);
            if (p.if_revision !== undefined && p.if_revision !== e.revision)
              throw new Failure('conflict', `${key} in ${ns} is at revision ${e.revision}, not ${p.if_revision}`);
            try {
              await kv.delete(key!, { previousSeq: e.revision });
            } catch (err) {
              if (isConflict(err)) throw new Failure('conflict', `${key} in ${ns} changed meanwhile`);
              throw err;
            }
            const u = await loadUsage(ns, kv);
            const old = u.sizes.get(key!);
            if (old !== undefined) {
              u.sizes.delete(key!);
              u.bytes -= old;
            }
            const after = await kv.get(key!);
            return { res: { ok: true, op, ns, key, revision: after?.revision ?? e.revision + 1 } };
          }
          case 'list': {
            const kv = await bucket(ns);
            const limit = p.limit ?? DEFAULT_MEMORY_LIST_LIMIT;
            const all: string[] = [];
            if (kv) for await (const k of await kv.keys()) if (k.startsWith(p.prefix ?? '') && (p.cursor === undefined || k > p.cursor)) all.push(k);
            all.sort();
            const page = all.slice(0, limit);
            return { res: { ok: true, op, ns, keys: page, ...(all.length > limit ? { cursor: page[page.length - 1]! } : {}) } };
          }
          case 'watch': {
            release = await startWatch(m, ns, p.prefix ?? '');
            return { res: { ok: true, op, ns } };
          }
        }
      });
      stats.ok++;
      audit(m, op, ns, key, {
        verdict: 'ok',
        ...(r.valueHash ? { valueHash: r.valueHash } : {}),
        ...(r.valueSize !== undefined ? { valueSize: r.valueSize } : {}),
        ...(r.res.revision !== undefined ? { revision: r.res.revision } : {}),
      });
      await answer(m, r.res);
      release?.();
    } catch (e) {
      const f = e instanceof Failure ? e : new Failure('unavailable', String((e as Error).message ?? e));
      if (!(e instanceof Failure)) log.error({ err: f.message, ns, op }, 'memory: store error');
      stats.refused++;
      audit(m, op, ns, key, { verdict: f.code, detail: f.message, ...(bytes ? { valueHash: sha(bytes), valueSize: bytes.length } : {}) });
      await answer(m, { ok: false, op, ns, ...(key ? { key } : {}), error: { code: f.code, detail: f.message.slice(0, 2000) } });
    }
  };

  // the session table from the streams that exist (counts survive a restart), expired ones reclaimed
  await sweep().catch(() => undefined);
  const sweepTimer = setInterval(() => void sweep().catch(() => undefined), o.sessionSweepMs ?? 30_000);
  sweepTimer.unref();

  let closed = false;
  const loop = (async () => {
    for await (const m of agent.inbox()) {
      if (closed) break;
      void handle(m as InboundMessage);
    }
  })();
  log.info({ agent: agent.agentId }, 'memory service started');

  return {
    agent,
    stats,
    sessionsByCreator() {
      const out = new Map<string, string[]>();
      for (const [ns, a] of sessions) out.set(a, [...(out.get(a) ?? []), ns].sort());
      return out;
    },
    sweepSessions: () => sweep(),
    async close() {
      closed = true;
      clearInterval(poll);
      clearInterval(sweepTimer);
      await sweeping;
      for (const w of [...watches.values()]) stopWatch(w, 'service closing');
      await Promise.allSettled([...locks.values()]);
      await agent.close();
      await loop.catch(() => undefined);
      await nc.drain().catch(() => undefined);
    },
  };
}

/** Monitor mode: the grant a namespace has by default for whoever may use it at all (docs/design.md §18). */
function monitorGrant(ns: string): MemorySection {
  const p = parseNamespace(ns);
  if (p?.kind === 'shared') return MemorySection.parse({ shared: [{ ns: p.name, access: 'read-write' }] });
  if (p?.kind === 'session') return MemorySection.parse({ sessions: { access: 'read-write', ids: ['*'] } });
  return MemorySection.parse({});
}
/** Whose grant monitorGrant stands for: the owner of an agent namespace, else the caller. */
function ownerOf(ns: string, agentId: string): string {
  const p = parseNamespace(ns);
  return p?.kind === 'agent' ? p.agent : agentId;
}
