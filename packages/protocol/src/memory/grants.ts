// Memory grants (docs/design.md §13): the manifest's `memory:` section and the one pure check both the
// verifier (before a memory.* request reaches the service) and the memory service (again, on
// receipt) apply. Deny by default: an agent gets its own namespace `agent/<self>` read-write
// (unless `own.access` says otherwise), the shared namespaces it lists, and session namespaces
// only with a `sessions:` grant. `agent/<other>` is never granted, by anything.
//
//   memory:
//     own: { max_keys: 1000, max_bytes: 1048576, max_value_bytes: 65536 }   # quotas for agent/<self>
//     shared:
//       - { ns: notes, access: read-write, max_keys: 500 }
//       - { ns: playbook, access: read }
//     sessions: { access: read-write, ttl_seconds: 3600, ids: ["*"] }     # session/<id>, expiring
//     limits: { sessions: 8, watches: 16 }                                 # per agent (the memory service enforces them)
//
// Quotas are per namespace (the whole namespace, whoever writes it); the writer's grant gives the
// limits a write is checked against. Omitted quotas take the defaults below. `limits` are per
// agent: how many session namespaces it may have created that still exist (each one is a
// JetStream stream; the agent whose write created a session's bucket spends the slot, whoever
// else writes to it later, until the bucket expires and is reclaimed) and how many watches it
// may hold open at once.
import { z } from 'zod';
import { AGENT_ID_RE } from '../envelope.js';
import { compileGlobs } from '../glob.js';

export const DEFAULT_MEMORY_MAX_KEYS = 10_000;
export const DEFAULT_MEMORY_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MEMORY_MAX_VALUE_BYTES = 64 * 1024;
/** A session namespace's default lifetime when `sessions.ttl_seconds` is omitted. */
export const DEFAULT_SESSION_TTL_SECONDS = 3600;
export const MAX_SESSION_TTL_SECONDS = 30 * 24 * 3600;
/** Session namespaces an agent may have created that still exist, when `limits.sessions` is omitted. */
export const DEFAULT_MEMORY_SESSION_LIMIT = 8;
/** Open watches per agent, when `limits.watches` is omitted. */
export const DEFAULT_MEMORY_WATCH_LIMIT = 16;
export const MAX_MEMORY_SESSION_LIMIT = 1000;
export const MAX_MEMORY_WATCH_LIMIT = 256;

/** A shared namespace's name (also the last part of `session/<id>`). */
export const SHARED_NS_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const SESSION_ID_RE = SHARED_NS_RE;
export const MEMORY_OPS = ['get', 'put', 'delete', 'list', 'watch'] as const;
export type MemoryOp = (typeof MEMORY_OPS)[number];
const WRITE_OPS: ReadonlySet<MemoryOp> = new Set(['put', 'delete']);

const quota = {
  /** Live keys in the namespace. */
  max_keys: z.number().int().positive().max(10_000_000).optional(),
  /** Sum of the stored values' sizes (JSON bytes) in the namespace. */
  max_bytes: z
    .number()
    .int()
    .positive()
    .max(2 ** 40)
    .optional(),
  /** One value's size (JSON bytes). */
  max_value_bytes: z
    .number()
    .int()
    .positive()
    .max(1024 * 1024)
    .optional(),
};
const access = z.enum(['read', 'read-write']);
const count = (max: number, what: string) =>
  z
    .number({ error: `${what}: a whole number 0–${max}` })
    .int(`${what}: a whole number 0–${max}`)
    .min(0, `${what}: a whole number 0–${max}`)
    .max(max, `${what}: a whole number 0–${max}`);

/**
 * `memory.limits`: per-agent bounds. `sessions`: session namespaces (`session/<id>`) this agent
 * may have created that still exist (0: it may only use sessions others created); `watches`:
 * memory.watch subscriptions it may hold open at once.
 */
export const MemoryLimits = z.strictObject({
  sessions: count(MAX_MEMORY_SESSION_LIMIT, 'the number of session namespaces this agent may create that exist at once').default(DEFAULT_MEMORY_SESSION_LIMIT),
  watches: count(MAX_MEMORY_WATCH_LIMIT, 'the number of watches this agent may hold open').default(DEFAULT_MEMORY_WATCH_LIMIT),
});
export type MemoryLimits = z.infer<typeof MemoryLimits>;

/** An agent's limits from its memory section (undefined or a section without `limits`: the defaults). */
export function memoryLimitsOf(section: { limits?: Partial<MemoryLimits> | undefined } | undefined): MemoryLimits {
  return { sessions: section?.limits?.sessions ?? DEFAULT_MEMORY_SESSION_LIMIT, watches: section?.limits?.watches ?? DEFAULT_MEMORY_WATCH_LIMIT };
}

export const MemorySection = z.strictObject({
  /** The agent's own namespace `agent/<self>`: read-write unless `access` narrows it (`none` turns it off). */
  own: z.strictObject({ access: z.enum(['none', 'read', 'read-write']).default('read-write'), ...quota }).default({ access: 'read-write' }),
  /** Shared namespaces by name, read or read-write. */
  shared: z
    .array(z.strictObject({ ns: z.string().regex(SHARED_NS_RE, 'a shared namespace matches [a-z0-9][a-z0-9_-]{0,63}'), access, ...quota }))
    .default([])
    .refine((a) => new Set(a.map((s) => s.ns)).size === a.length, 'a shared namespace is listed twice'),
  /** Session namespaces `session/<id>` (ids matching `ids` globs), which expire `ttl_seconds` after their last write. */
  sessions: z
    .strictObject({
      access: access.default('read-write'),
      ttl_seconds: z.number().int().positive().max(MAX_SESSION_TTL_SECONDS).default(DEFAULT_SESSION_TTL_SECONDS),
      ids: z
        .array(
          z
            .string()
            .min(1)
            .regex(/^[a-z0-9_*-]+$/, 'session id globs use a-z 0-9 _ - and *'),
        )
        .min(1)
        .default(['*']),
      ...quota,
    })
    .optional(),
  /** Per-agent resource bounds the memory service enforces (`limit_exceeded`). */
  limits: MemoryLimits.default({ sessions: DEFAULT_MEMORY_SESSION_LIMIT, watches: DEFAULT_MEMORY_WATCH_LIMIT }),
});
export type MemorySection = z.infer<typeof MemorySection>;
export type MemorySectionInput = z.input<typeof MemorySection>;

export type Namespace = { kind: 'agent'; agent: string } | { kind: 'session'; id: string } | { kind: 'shared'; name: string };

/** `agent/<id>`, `session/<id>` or a shared name; null for anything else. */
export function parseNamespace(ns: string): Namespace | null {
  if (typeof ns !== 'string') return null;
  if (ns.startsWith('agent/')) {
    const a = ns.slice(6);
    return AGENT_ID_RE.test(a) ? { kind: 'agent', agent: a } : null;
  }
  if (ns.startsWith('session/')) {
    const id = ns.slice(8);
    return SESSION_ID_RE.test(id) ? { kind: 'session', id } : null;
  }
  return SHARED_NS_RE.test(ns) ? { kind: 'shared', name: ns } : null;
}

/** The JetStream KV bucket of a namespace (injective: the kind letter, then a name without `/`). */
export function memoryBucket(ns: string): string {
  const p = parseNamespace(ns);
  if (!p) throw new RangeError(`not a memory namespace: ${JSON.stringify(ns)}`);
  return `agentbus_mem_${p.kind === 'agent' ? `a_${p.agent}` : p.kind === 'session' ? `s_${p.id}` : `n_${p.name}`}`;
}

export interface MemoryQuota {
  maxKeys: number;
  maxBytes: number;
  maxValueBytes: number;
  /** Session namespaces: the bucket's max_age. */
  ttlSeconds?: number;
  access: 'read' | 'read-write';
}

export type MemoryAccess = { ok: true; quota: MemoryQuota } | { ok: false; code: 'not_allowed' | 'invalid' | 'too_large'; detail: string };

const globCache = new WeakMap<readonly string[], (s: string) => boolean>();

/**
 * May `agentId` (whose manifest has memory section `section`; undefined = the defaults) do `op`
 * on namespace `ns`? Read ops (get, list, watch) need read, write ops (put, delete) read-write.
 * With `sizes.valueBytes` a put is also checked against the value size limit. Pure.
 */
export function checkMemoryAccess(
  section: MemorySection | undefined,
  agentId: string,
  op: MemoryOp,
  ns: string,
  sizes?: { valueBytes?: number },
): MemoryAccess {
  if (!MEMORY_OPS.includes(op)) return { ok: false, code: 'invalid', detail: `unknown memory operation ${JSON.stringify(op)}` };
  const p = parseNamespace(ns);
  if (!p) return { ok: false, code: 'invalid', detail: `not a memory namespace: ${JSON.stringify(ns)} (agent/<id>, session/<id> or a shared name)` };
  const s = section ?? MemorySection.parse({});
  let grant:
    | { access: 'none' | 'read' | 'read-write'; max_keys?: number | undefined; max_bytes?: number | undefined; max_value_bytes?: number | undefined }
    | undefined;
  let ttlSeconds: number | undefined;
  if (p.kind === 'agent') {
    if (p.agent !== agentId) return { ok: false, code: 'not_allowed', detail: `${ns} is another agent's memory; no grant reaches it` };
    grant = s.own;
  } else if (p.kind === 'shared') {
    grant = s.shared.find((g) => g.ns === p.name);
    if (!grant) return { ok: false, code: 'not_allowed', detail: `shared namespace ${ns} is not granted to ${agentId} (memory.shared in its manifest)` };
  } else {
    const g = s.sessions;
    if (!g) return { ok: false, code: 'not_allowed', detail: `${agentId} has no session namespaces (memory.sessions in its manifest)` };
    let m = globCache.get(g.ids);
    if (!m) globCache.set(g.ids, (m = compileGlobs(g.ids)));
    if (!m(p.id)) return { ok: false, code: 'not_allowed', detail: `session id ${p.id} is outside ${agentId}'s memory.sessions.ids` };
    grant = g;
    ttlSeconds = g.ttl_seconds;
  }
  if (grant.access === 'none') return { ok: false, code: 'not_allowed', detail: `${agentId}'s own memory is turned off (memory.own.access: none)` };
  if (WRITE_OPS.has(op) && grant.access !== 'read-write')
    return { ok: false, code: 'not_allowed', detail: `${agentId} may only read ${ns} (${op} needs read-write)` };
  const quota: MemoryQuota = {
    maxKeys: grant.max_keys ?? DEFAULT_MEMORY_MAX_KEYS,
    maxBytes: grant.max_bytes ?? DEFAULT_MEMORY_MAX_BYTES,
    maxValueBytes: grant.max_value_bytes ?? DEFAULT_MEMORY_MAX_VALUE_BYTES,
    access: grant.access,
    ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
  };
  if (op === 'put' && sizes?.valueBytes !== undefined && sizes.valueBytes > quota.maxValueBytes) {
    return { ok: false, code: 'too_large', detail: `value of ${sizes.valueBytes} bytes exceeds max_value_bytes ${quota.maxValueBytes} for ${ns}` };
  }
  return { ok: true, quota };
}
