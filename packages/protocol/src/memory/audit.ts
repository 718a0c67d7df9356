// What the verifier can put in its audit event for a memory.* request (DESIGN §13), from the
// payload alone: operation, namespace, key hash, value hash and size. The revision is known only
// to the memory service (its own audit record, service.ts MemoryAuditRecord). Pure.
import { createHash } from 'node:crypto';
import { memoryOpOf, MEMORY_PUT_TYPE } from './contracts.js';

export interface MemoryAuditFields {
  op: string;
  ns: string;
  /** sha256 hex of the key; '' when the request names none (list, watch). */
  key_hash: string;
  /** sha256 hex of the value's JSON bytes (put), else ''. */
  value_hash: string;
  value_size: number;
}

const sha = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');

/** The audit fields of a memory request, or undefined when `type` is not one or the payload is not JSON. */
export function memoryAuditFields(type: string, payload: Uint8Array): MemoryAuditFields | undefined {
  const op = memoryOpOf(type);
  if (!op) return undefined;
  let p: { ns?: unknown; key?: unknown; value?: unknown };
  try {
    p = JSON.parse(new TextDecoder().decode(payload)) as typeof p;
  } catch {
    return undefined;
  }
  if (!p || typeof p !== 'object') return undefined;
  const value = type === MEMORY_PUT_TYPE && p.value !== undefined ? new TextEncoder().encode(JSON.stringify(p.value)) : undefined;
  return {
    op,
    ns: typeof p.ns === 'string' ? p.ns.slice(0, 80) : '',
    key_hash: typeof p.key === 'string' ? sha(p.key) : '',
    value_hash: value ? sha(value) : '',
    value_size: value?.length ?? 0,
  };
}
