// Header metadata is bounded (docs/design.md §9): its keys come from a declared set — the message
// type's contract (`defineMessage(..., { metadata: [...] })`, plus its required keys) and the
// small global set below — each value has a size limit, and so has the whole map. The SDK
// refuses an envelope that breaks these rules before signing; the verifier rejects it
// (REASON_METADATA_NOT_ALLOWED). Metadata bytes also count against the sender's
// max_payload_bytes, together with the payload (the verifier's REASON_PAYLOAD_TOO_LARGE).
import { Reason } from './proto.js';

/** A reply carries the verifier's depth token of the message it answers (the verifier checks it). */
export const DEPTH_TOKEN_METADATA = 'agentbus.depth';

/**
 * Keys every message type may carry: the decision record (`rationale`, `prompt_version`) and
 * the depth token the SDK copies into a reply. Nothing else in the SDK writes metadata.
 */
export const GLOBAL_METADATA_KEYS: readonly string[] = Object.freeze(['rationale', 'prompt_version', DEPTH_TOKEN_METADATA]);

/** Longest value of one metadata entry, in UTF-8 bytes. */
export const MAX_METADATA_VALUE_BYTES = 1024;
/** Largest metadata map, keys and values in UTF-8 bytes. */
export const MAX_METADATA_BYTES = 4096;
/** What a contract may declare: short lower-case names; the `agentbus.` prefix is reserved. */
export const METADATA_KEY_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const RESERVED_PREFIX = 'agentbus.';

/** Keys (and values) of a metadata map, in UTF-8 bytes. Allocates nothing. */
export function metadataBytes(md: Record<string, string>): number {
  let n = 0;
  for (const k in md) {
    if (!Object.hasOwn(md, k)) continue;
    const v = md[k];
    n += Buffer.byteLength(k, 'utf8') + (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : 0);
  }
  return n;
}

/** Validates the keys a contract declares; returns the full allowed set (global + declared). */
export function allowedMetadataSet(type: string, declared: readonly string[]): ReadonlySet<string> {
  for (const k of declared) {
    if (typeof k !== 'string' || !METADATA_KEY_RE.test(k)) throw new RangeError(`${type}: metadata key ${JSON.stringify(k)} must match ${METADATA_KEY_RE}`);
    if (k.startsWith(RESERVED_PREFIX) && !GLOBAL_METADATA_KEYS.includes(k))
      throw new RangeError(`${type}: metadata key ${JSON.stringify(k)} uses the reserved prefix "${RESERVED_PREFIX}"`);
  }
  return new Set([...GLOBAL_METADATA_KEYS, ...declared]);
}

/** A key as it may appear in an error detail or audit row: printable ASCII, at most 64 characters. */
export function describeKey(k: string): string {
  const s = k.length > 64 ? `${k.slice(0, 64)}…` : k;
  return s.replace(/[^\x21-\x7e…]/g, '?');
}

export type MetadataCheck = { ok: true } | { ok: false; reason: Reason; detail: string };
const OK: MetadataCheck = Object.freeze({ ok: true });

/**
 * Every key declared (in `allowed`), every value within MAX_METADATA_VALUE_BYTES, the whole map
 * within MAX_METADATA_BYTES. The detail names the key, never a value.
 */
export function checkMetadata(allowed: ReadonlySet<string>, md: Record<string, string>, type: string): MetadataCheck {
  let total = 0;
  for (const k in md) {
    if (!Object.hasOwn(md, k)) continue;
    if (!allowed.has(k))
      return { ok: false, reason: Reason.REASON_METADATA_NOT_ALLOWED, detail: `metadata key "${describeKey(k)}" is not declared for ${type}` };
    const v = md[k];
    const size = typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : 0;
    if (size > MAX_METADATA_VALUE_BYTES)
      return { ok: false, reason: Reason.REASON_METADATA_NOT_ALLOWED, detail: `metadata "${describeKey(k)}": ${size} bytes > ${MAX_METADATA_VALUE_BYTES}` };
    total += Buffer.byteLength(k, 'utf8') + size;
  }
  if (total > MAX_METADATA_BYTES) return { ok: false, reason: Reason.REASON_METADATA_NOT_ALLOWED, detail: `metadata: ${total} bytes > ${MAX_METADATA_BYTES}` };
  return OK;
}
