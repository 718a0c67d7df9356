// The memory service's message types (docs/design.md §13): requests an agent sends to the `memory`
// agent, the `memory.result` reply, and `memory.event`s pushed to a watcher (each one a reply to
// the watch request: its causation is the memory.watch message). JSON payloads, zod-checked by
// the SDK before signing, by the verifier, and by the service.
import { z } from 'zod';
import { MAX_JSON_DEPTH } from '../json-strict.js';
import { parseNamespace } from './grants.js';

/** The memory service's agent id. */
export const MEMORY_SERVICE = 'memory';
export const MEMORY_GET_TYPE = 'memory.get';
export const MEMORY_PUT_TYPE = 'memory.put';
export const MEMORY_DELETE_TYPE = 'memory.delete';
export const MEMORY_LIST_TYPE = 'memory.list';
export const MEMORY_WATCH_TYPE = 'memory.watch';
/** Ends a watch: `{ watch }` is the msg_id of the memory.watch request. */
export const MEMORY_UNWATCH_TYPE = 'memory.unwatch';
export const MEMORY_RESULT_TYPE = 'memory.result';
export const MEMORY_EVENT_TYPE = 'memory.event';
export const MEMORY_REQUEST_TYPES = [MEMORY_GET_TYPE, MEMORY_PUT_TYPE, MEMORY_DELETE_TYPE, MEMORY_LIST_TYPE, MEMORY_WATCH_TYPE, MEMORY_UNWATCH_TYPE] as const;
export const MEMORY_TYPES = [...MEMORY_REQUEST_TYPES, MEMORY_RESULT_TYPE, MEMORY_EVENT_TYPE] as const;
export const MAX_MEMORY_LIST_LIMIT = 1000;
export const DEFAULT_MEMORY_LIST_LIMIT = 100;

/** 1–256 chars of [A-Za-z0-9_.=/-]; no `..`, no leading or trailing `/` or `.` (KV keys are subject tokens). */
export const MEMORY_KEY_RE = /^[A-Za-z0-9_=-](?:[A-Za-z0-9_.=/-]{0,254}[A-Za-z0-9_=-])?$/;
export function isMemoryKey(k: unknown): k is string {
  return typeof k === 'string' && MEMORY_KEY_RE.test(k) && !k.includes('..') && !k.includes('//');
}
/** A prefix: like a key but may be empty and may end in `/` or `.`. */
export function isMemoryPrefix(p: unknown): p is string {
  return typeof p === 'string' && p.length <= 256 && /^[A-Za-z0-9_.=/-]*$/.test(p) && !p.includes('..') && !p.startsWith('/') && !p.startsWith('.');
}

export const MemoryNs = z
  .string()
  .max(80)
  .refine((s) => parseNamespace(s) !== null, 'not a memory namespace (agent/<id>, session/<id> or a shared name)');
export const MemoryKey = z.string().refine(isMemoryKey, 'a key is 1–256 chars of [A-Za-z0-9_.=/-], no "..", "//", leading or trailing "/" or "."');
const Prefix = z.string().refine(isMemoryPrefix, 'a prefix is up to 256 chars of [A-Za-z0-9_.=/-], no "..", no leading "/" or "."');
const Revision = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Any JSON value (kept as it is). */
const Json = z.unknown().refine((v) => v !== undefined, 'a value is required (any JSON)');

export const MemoryGetPayload = z.strictObject({ ns: MemoryNs, key: MemoryKey });
/** `if_revision`: compare-and-set — the key's current revision must be this one; 0 = it must not exist. */
export const MemoryPutPayload = z.strictObject({ ns: MemoryNs, key: MemoryKey, value: Json, if_revision: Revision.optional() });
export const MemoryDeletePayload = z.strictObject({ ns: MemoryNs, key: MemoryKey, if_revision: Revision.optional() });
/** Keys in order; `cursor` is the previous page's `cursor` (the last key it returned). */
export const MemoryListPayload = z.strictObject({
  ns: MemoryNs,
  prefix: Prefix.optional(),
  cursor: MemoryKey.optional(),
  limit: z.number().int().min(1).max(MAX_MEMORY_LIST_LIMIT).optional(),
});
export const MemoryWatchPayload = z.strictObject({ ns: MemoryNs, prefix: Prefix.optional() });
export const MemoryUnwatchPayload = z.strictObject({ watch: z.string().regex(/^[0-9a-f]{32}$/, 'the msg_id of the memory.watch request') });

/**
 * `quota_exceeded`: a namespace's keys or bytes; `limit_exceeded`: a per-agent bound of the
 * sender's `memory.limits` (session namespaces it created, watches it holds); `too_large`: one
 * value's size; `invalid`: also a value nested deeper than MAX_MEMORY_VALUE_DEPTH.
 */
export const MEMORY_ERROR_CODES = ['not_found', 'conflict', 'quota_exceeded', 'limit_exceeded', 'too_large', 'not_allowed', 'invalid', 'unavailable'] as const;
export type MemoryErrorCode = (typeof MEMORY_ERROR_CODES)[number];
export const MemoryOpName = z.enum(['get', 'put', 'delete', 'list', 'watch', 'unwatch']);

export const MemoryResultPayload = z.strictObject({
  ok: z.boolean(),
  op: MemoryOpName,
  ns: z.string().max(80),
  key: z.string().max(256).optional(),
  value: z.unknown().optional(),
  /** get: the value's revision; put/delete: the new revision. */
  revision: Revision.optional(),
  /** list: this page's keys. */
  keys: z.array(z.string().max(256)).max(MAX_MEMORY_LIST_LIMIT).optional(),
  /** list: pass it back for the next page; absent on the last page. */
  cursor: z.string().max(256).optional(),
  error: z.strictObject({ code: z.enum(MEMORY_ERROR_CODES), detail: z.string().max(2000) }).optional(),
});
export type MemoryResultPayload = z.infer<typeof MemoryResultPayload>;

export const MemoryEventPayload = z.strictObject({
  ns: z.string().max(80),
  key: z.string().max(256),
  op: z.enum(['put', 'delete']),
  revision: Revision,
  value: z.unknown().optional(),
});
export type MemoryEventPayload = z.infer<typeof MemoryEventPayload>;

/**
 * Arrays and objects nested in one memory value, at most (the value itself is level 1; scalars
 * count none): one less than MAX_JSON_DEPTH, because every memory payload (a put, a result, an
 * event) holds the value inside its own object, and the whole payload must be strict JSON.
 */
export const MAX_MEMORY_VALUE_DEPTH = MAX_JSON_DEPTH - 1;

/**
 * How deeply `v` nests arrays and objects, counted without recursion and giving up past `max`
 * (returns max + 1 then): safe on a value nested 100,000 levels, which JSON.stringify is not.
 */
export function jsonDepth(v: unknown, max: number = MAX_MEMORY_VALUE_DEPTH): number {
  if (v === null || typeof v !== 'object') return 0;
  let deepest = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (d > deepest) {
      deepest = d;
      if (deepest > max) return max + 1;
    }
    const kids = Array.isArray(x) ? x : Object.values(x as object);
    for (const k of kids) if (k !== null && typeof k === 'object') stack.push([k, d + 1]);
  }
  return deepest;
}

/** Each memory type's payload schema (the SDK's MEMORY_CONTRACTS and the verifier's contracts are built from it). */
export const MEMORY_PAYLOAD_SCHEMAS = {
  [MEMORY_GET_TYPE]: MemoryGetPayload,
  [MEMORY_PUT_TYPE]: MemoryPutPayload,
  [MEMORY_DELETE_TYPE]: MemoryDeletePayload,
  [MEMORY_LIST_TYPE]: MemoryListPayload,
  [MEMORY_WATCH_TYPE]: MemoryWatchPayload,
  [MEMORY_UNWATCH_TYPE]: MemoryUnwatchPayload,
  [MEMORY_RESULT_TYPE]: MemoryResultPayload,
  [MEMORY_EVENT_TYPE]: MemoryEventPayload,
} as const;

/** The grant operation a request type needs (unwatch needs none: it only ends the sender's own watch). */
export function memoryOpOf(type: string): 'get' | 'put' | 'delete' | 'list' | 'watch' | undefined {
  switch (type) {
    case MEMORY_GET_TYPE:
      return 'get';
    case MEMORY_PUT_TYPE:
      return 'put';
    case MEMORY_DELETE_TYPE:
      return 'delete';
    case MEMORY_LIST_TYPE:
      return 'list';
    case MEMORY_WATCH_TYPE:
      return 'watch';
    default:
      return undefined;
  }
}
