// What the verifier puts in its audit event for a memory message (docs/design.md §13), from the payload
// alone: for a memory.* request the operation, namespace, key hash, value hash and size, and the
// compare-and-set revision; for the memory service's memory.result the outcome (status "ok" or
// its error code) and the key's revision; for a memory.event the change. Hashes only, never a key
// or a value in clear. Pure.
import { createHash } from 'node:crypto';
import { parseStrictJson } from '../json-strict.js';
import { memoryOpOf, MEMORY_EVENT_TYPE, MEMORY_PUT_TYPE, MEMORY_RESULT_TYPE, MEMORY_UNWATCH_TYPE } from './contracts.js';

export interface MemoryAuditFields {
  op: string;
  ns: string;
  /** sha256 hex of the key; '' when the message names none (list, watch). */
  key_hash: string;
  /** sha256 hex of the value's JSON bytes (put, a get's result, a put event), else ''. */
  value_hash: string;
  value_size: number;
  /** if_revision of a put/delete request; the revision a result or event names; else 0. */
  revision: number;
  /** 'request' | 'ok' | a memory error code | 'event'. */
  status: string;
}

/** The status of a memory request whose payload is not a strict JSON object (duplicate keys, too deep, not JSON). */
export const UNREADABLE = 'unreadable';
const sha = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');
const enc = new TextEncoder();
const dec = new TextDecoder();
const OPS = new Set(['get', 'put', 'delete', 'list', 'watch', 'unwatch']);
const str = (v: unknown, max: number) => (typeof v === 'string' ? v.slice(0, max) : '');
const rev = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** True for the types memoryAuditFields describes (a cheap test before parsing anything). */
export function isMemoryType(type: string): boolean {
  return type.startsWith('memory.');
}

/**
 * The audit fields of a memory message, or undefined when `type` is not one or the payload is not
 * a JSON object. Results and events are only the service's word when the message is authentic:
 * the caller records them for accepted messages from the memory agent only.
 */
export function memoryAuditFields(type: string, payload: Uint8Array): MemoryAuditFields | undefined {
  if (!isMemoryType(type)) return undefined;
  const op = memoryOpOf(type) ?? (type === MEMORY_UNWATCH_TYPE ? 'unwatch' : undefined);
  if (!op && type !== MEMORY_RESULT_TYPE && type !== MEMORY_EVENT_TYPE) return undefined;
  // strict and bounded (a sender controls this payload, and its audit row must be written
  // whatever it holds): a request that cannot be read is recorded as `unreadable`
  const parsed = parseStrictJson(dec.decode(payload));
  const p = parsed.ok ? (parsed.value as Record<string, unknown>) : undefined;
  if (!p || typeof p !== 'object' || Array.isArray(p)) {
    return op ? { op, ns: '', key_hash: '', value_hash: '', value_size: payload.length, revision: 0, status: UNREADABLE } : undefined;
  }
  const valueBytes = (v: unknown) => (v === undefined ? undefined : enc.encode(JSON.stringify(v)));
  const key_hash = typeof p.key === 'string' ? sha(p.key) : '';
  const ns = str(p.ns, 80);
  if (op) {
    const value = type === MEMORY_PUT_TYPE ? valueBytes(p.value) : undefined;
    return { op, ns, key_hash, value_hash: value ? sha(value) : '', value_size: value?.length ?? 0, revision: rev(p.if_revision), status: 'request' };
  }
  const value = valueBytes(p.value);
  if (type === MEMORY_EVENT_TYPE) {
    return { op: str(p.op, 16), ns, key_hash, value_hash: value ? sha(value) : '', value_size: value?.length ?? 0, revision: rev(p.revision), status: 'event' };
  }
  const error = p.error as { code?: unknown } | undefined;
  const status = p.ok === true ? 'ok' : str(error?.code, 32) || 'error';
  return {
    op: OPS.has(p.op as string) ? (p.op as string) : '',
    ns,
    key_hash,
    value_hash: value ? sha(value) : '',
    value_size: value?.length ?? 0,
    revision: rev(p.revision),
    status,
  };
}
