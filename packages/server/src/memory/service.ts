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
import { createHash } from 'node:crypto';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { connectAgent, createLogger, MEMORY_CONTRACTS } from '@agentbus/sdk/internal';
import type { AgentClient, AgentIdentity, InboundMessage, Logger } from '@agentbus/sdk/internal';
import { checkMemoryAccess, memoryBucket, memoryOpOf, parseNamespace, MemorySection, DEFAULT_MEMORY_LIST_LIMIT, MEMORY_EVENT_TYPE, MEMORY_RESULT_TYPE, MEMORY_UNWATCH_TYPE } from '@agentbus/protocol';
import { loadManifestDir } from '@agentbus/protocol/manifest';
import type { MemoryAuditFields, MemoryErrorCode, MemoryEventPayload, MemoryResultPayload, MemorySectionInput, MemoryQuota } from '@agentbus/protocol';
import { loadServiceCreds } from '../bus/service-creds.js';
import type { ServiceIdentity } from '../bus/service-creds.js';

export const MAX_WATCHES_PER_AGENT = 16;

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
}

export interface MemoryService {
  readonly agent: AgentClient<any>;
  readonly stats: { requests: number; ok: number; refused: number; watches: number; events: number };
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
  iter: { stop(): void } | undefined;
  chain: Promise<void>;
  closed: boolean;
}

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const enc = new TextEncoder();
const dec = new TextDecoder();

class Failure extends Error {
  constructor(readonly code: MemoryErrorCode, detail: string) {
    super(detail);
  }
}

function isConflict(e: unknown): boolean {
  const m = String((e as Error)?.message ?? e);
  return /wrong last sequence|key exists|10071/i.test(m) || (e as { code?: number })?.code === 10071 || (e as { api_error?: { err_code?: number } })?.api_error?.err_code === 10071;
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
    ...(o.connectOptions ?? {}),
  });
  const kvm = new Kvm(nc);
  const agent = await connectAgent({ servers: o.servers, credentials: o.credentials, contracts: MEMORY_CONTRACTS, manifestsDir: o.manifestsDir, logger: log, ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}) });

  // grants: from the manifests (their `memory:` section, when the schema carries it) or o.grants
  let known = new Map<string, MemorySection>();
  const reload = () => {
    try {
      const next = new Map<string, MemorySection>();
      for (const m of loadManifestDir(o.manifestsDir)) {
        const raw = o.grants?.(m.agent) ?? (m as { memory?: unknown }).memory ?? {};
        const r = MemorySection.safeParse(raw);
        if (r.success) next.set(m.agent, r.data);
        else log.warn({ agent: m.agent, detail: r.error.issues[0]?.message }, 'memory: bad memory grant; the agent gets none');
      }
      known = next;
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
  const stats = { requests: 0, ok: 0, refused: 0, watches: 0, events: 0 };

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

  /** The bucket of `ns`; undefined when it does not exist and `create` is false. */
  const bucket = async (ns: string, create: boolean, quota?: MemoryQuota): Promise<KV | undefined> => {
    const have = buckets.get(ns);
    if (have) return have;
    const name = memoryBucket(ns);
    let kv: KV | undefined;
    try {
      kv = await kvm.open(name);
      await kv.status(); // open does not fail on a missing bucket in every nats.js version
    } catch (e) {
      if (!isNotFound(e)) throw e;
      kv = undefined;
    }
    if (!kv) {
      if (!create) return undefined;
      const ttl = parseNamespace(ns)?.kind === 'session' ? (quota?.ttlSeconds ?? 3600) * 1000 : 0;
      kv = await kvm.create(name, { history: 1, replicas: o.replicas ?? 1, description: `agentbus memory ${ns}`, ...(ttl ? { ttl } : {}) });
      log.info({ ns, bucket: name, ttl_ms: ttl || undefined }, 'memory: namespace created');
    }
    buckets.set(ns, kv);
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

  const audit = (m: InboundMessage, op: string, ns: string, key: string | undefined, r: { verdict: 'ok' | MemoryErrorCode; valueHash?: string; valueSize?: number; revision?: number; detail?: string }) => {
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

  const answer = (m: InboundMessage, p: MemoryResultPayload) => agent.reply(m, MEMORY_RESULT_TYPE as never, p as never).catch((e: unknown) => log.warn({ msg_id: m.msgId, to: m.sender, err: String((e as Error).message ?? e) }, 'memory: the result was not delivered'));

  const stopWatch = (w: Watch, why: string) => {
    if (w.closed) return;
    w.closed = true;
    w.iter?.stop();
    watches.delete(w.id);
    log.info({ watch: w.id, agent: w.owner, ns: w.ns, why }, 'memory: watch ended');
  };

  /** Starts the watch; its events wait until the returned function is called (after the watch's result went out, so the watcher holds the watch first). */
  const startWatch = async (m: InboundMessage, ns: string, prefix: string): Promise<() => void> => {
    if ([...watches.values()].filter((w) => w.owner === m.sender).length >= MAX_WATCHES_PER_AGENT) throw new Failure('quota_exceeded', `at most ${MAX_WATCHES_PER_AGENT} watches per agent`);
    // a watch on a namespace nobody wrote yet creates it (empty), so the watch sees the first put
    const kv = (await bucket(ns, true, checkOk(m.sender, 'watch', ns).quota))!;
    let release!: () => void;
    const w: Watch = { id: m.msgId, owner: m.sender, ns, prefix, msg: m, iter: undefined, chain: new Promise<void>((r) => (release = r)), closed: false };
    watches.set(w.id, w);
    stats.watches++;
    const it = await kv.watch({ include: 'updates' as never });
    w.iter = it;
    void (async () => {
      for await (const e of it as AsyncIterable<KvWatchEntry>) {
        if (w.closed) break;
        if (!e.key.startsWith(prefix)) continue;
        const ev: MemoryEventPayload = { ns, key: e.key, op: e.operation === 'PUT' ? 'put' : 'delete', revision: e.revision };
        if (e.operation === 'PUT') {
          try {
            ev.value = JSON.parse(dec.decode(e.value));
          } catch {
            continue;
          }
        }
        w.chain = w.chain.then(async () => {
          if (w.closed) return;
          // the grant may have been withdrawn since the watch began
          if (!checkMemoryAccess(known.get(w.owner), w.owner, 'watch', ns).ok) return stopWatch(w, 'grant withdrawn');
          try {
            await agent.reply(w.msg, MEMORY_EVENT_TYPE as never, ev as never);
            stats.events++;
          } catch (err) {
            stopWatch(w, `event not delivered: ${String((err as Error).message ?? err)}`);
          }
        });
      }
    })().catch((e: unknown) => stopWatch(w, String((e as Error).message ?? e)));
    return release;
  };

  const checkOk = (agentId: string, op: 'get' | 'put' | 'delete' | 'list' | 'watch', ns: string, valueBytes?: number) => {
    const grant = known.get(agentId);
    if (!grant) throw new Failure('not_allowed', `${agentId} has no manifest on this bus`);
    const a = checkMemoryAccess(grant, agentId, op, ns, valueBytes !== undefined ? { valueBytes } : undefined);
    if (!a.ok) throw new Failure(a.code, a.detail);
    return a;
  };

  const handle = async (m: InboundMessage): Promise<void> => {
    stats.requests++;
    const p = m.payload as { ns?: string; key?: string; value?: unknown; if_revision?: number; prefix?: string; cursor?: string; limit?: number; watch?: string };
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
    if (op === 'put') bytes = enc.encode(JSON.stringify(p.value));
    try {
      const a = checkOk(m.sender, op, ns, bytes?.length);
      let release: (() => void) | undefined;
      const r = await locked(ns, async (): Promise<{ res: MemoryResultPayload; valueHash?: string; valueSize?: number }> => {
        switch (op) {
          case 'get': {
            const kv = await bucket(ns, false);
            const e = kv ? await kv.get(key!) : null;
            if (!e || e.operation !== 'PUT') throw new Failure('not_found', `${key} is not in ${ns}`);
            return { res: { ok: true, op, ns, key, value: JSON.parse(dec.decode(e.value)), revision: e.revision }, valueHash: sha(e.value), valueSize: e.length };
          }
          case 'put': {
            const kv = (await bucket(ns, true, a.quota))!;
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
              if (isConflict(e)) throw new Failure('conflict', p.if_revision === 0 ? `${key} exists in ${ns}` : `${key} in ${ns} is not at revision ${p.if_revision}`);
              throw e;
            }
            u.sizes.set(key!, bytes!.length);
            u.bytes = total;
            return { res: { ok: true, op, ns, key, revision: rev }, valueHash: sha(bytes!), valueSize: bytes!.length };
          }
          case 'delete': {
            const kv = await bucket(ns, false);
            const e = kv ? await kv.get(key!) : null;
            if (!kv || !e || e.operation !== 'PUT') throw new Failure('not_found', `${key} is not in ${ns}`);
            if (p.if_revision !== undefined && p.if_revision !== e.revision) throw new Failure('conflict', `${key} in ${ns} is at revision ${e.revision}, not ${p.if_revision}`);
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
            const kv = await bucket(ns, false);
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
      audit(m, op, ns, key, { verdict: 'ok', ...(r.valueHash ? { valueHash: r.valueHash } : {}), ...(r.valueSize !== undefined ? { valueSize: r.valueSize } : {}), ...(r.res.revision !== undefined ? { revision: r.res.revision } : {}) });
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
    async close() {
      closed = true;
      clearInterval(poll);
      for (const w of [...watches.values()]) stopWatch(w, 'service closing');
      await Promise.allSettled([...locks.values()]);
      await agent.close();
      await loop.catch(() => undefined);
      await nc.drain().catch(() => undefined);
    },
  };
}
