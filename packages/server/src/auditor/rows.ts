// AuditEvent (protobuf, from the verifier) → one audit row (docs/design.md §9: every event becomes
// exactly one row, whatever the sender put in the header). The mapping is total: it never
// throws, and every value it emits fits its column (times inside DateTime64's range, strings
// well-formed UTF-16 so the JSON the client sends always parses, lengths bounded). What cannot
// be mapped as is gets a neutral value and its field name in `malformed`. The header is decoded
// from the signed bytes exactly as received, with the SDK's decodeHeader — the same range checks
// the verifier applied; when it is not a valid header we still take what Header.decode gives.
// header_valid = 1 only when the verifier checked the sender's signature over that header
// (headerVerified): otherwise its fields are the sender's claim. A shed summary gets no header
// columns at all. The payload is never part of an audit event, so it cannot reach a row.
//
// `audit verify` re-runs this same mapping over the signed batches and compares every column,
// so the mapping is also the definition of what a correct row is.
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs/minimal.js';
import { Reason, Verdict, reasonName, verdictName } from '@agentbus/protocol';
import type { IAuditEvent, IDeliveryRecord } from '@agentbus/protocol';
import { decodeHeader, toHex, toSafeNumber, MAX_SENT_AT_MS } from '@agentbus/protocol';
import type { HeaderFields } from '@agentbus/protocol';
import { Delivery } from '@agentbus/protocol';

export const EVENT_ID_BYTES = 16;
/** Longest string kept in a name-like column (ids, types, key ids); the header bytes keep the rest. */
export const MAX_NAME_CHARS = 256;
/** Longest detail / metadata value kept. */
export const MAX_TEXT_CHARS = 4096;

/** One row of `audit_events`, as inserted (JSONEachRow). Times are ms since the epoch. */
export interface AuditRow {
  event_id: string;
  time: number;
  sent_at: number;
  verifier_id: string;
  verdict: string;
  reason: string;
  detail: string;
  subject_sender: string;
  sender: string;
  header_sender: string;
  recipient: string;
  topic: string;
  destination: string;
  type: string;
  msg_id: string;
  key_id: string;
  trace_id: string;
  span_id: string;
  causation_id: string;
  content_type: string;
  header_depth: number;
  depth: number;
  payload_size: number;
  payload_sha256: string;
  header_payload_sha256: string;
  raw_size: number;
  prompt_version: string;
  rationale: string;
  metadata: Record<string, string>;
  header_valid: number;
  header_hex: string;
  signature_hex: string;
  /** `<chain_id hex>:<seq>` of the signed batch that carried the event ('' for rows made outside a batch). */
  batch_id: string;
  batch_pos: number;
  /** Comma-separated fields that could not be mapped as they were; '' when none. */
  malformed: string;
  /** Messages this row stands for when the verifier shed them unverified (0: one message). */
  shed_count: number;
  window_start: number;
  /** Content guard findings (docs/design.md §12), one entry each: kind, JSON path, rule, hash, action; and their details. */
  guard_kinds: string[];
  guard_paths: string[];
  guard_rules: string[];
  guard_hashes: string[];
  guard_actions: string[];
  guard_details: string[];
  /** Memory (docs/design.md §13): the operation of a memory request or of the service's answer; '' otherwise. */
  memory_op: string;
  memory_ns: string;
  memory_key_hash: string;
  memory_value_hash: string;
  memory_value_size: number;
  memory_revision: number;
  /** 'request', 'ok' or the service's error code, 'event'; '' for other messages. */
  memory_status: string;
  /** docs/design.md §18: 'enforce' or 'monitor', the mode of the sender that decided. */
  mode: string;
  /** Monitor mode: the reason enforcing would have refused this delivered message with; '' when none. */
  would_refuse: string;
}

/** One row of `audit_deliveries`. */
export interface DeliveryRow {
  batch_id: string;
  batch_pos: number;
  verifier_id: string;
  msg_id: string;
  recipient: string;
  delivery: string;
  at: number;
  malformed: string;
  /** refused: the recipient's reason and detail ('' otherwise). */
  reason: string;
  detail: string;
}

/** One row of `audit_batches`: the signed evidence itself. */
export interface BatchRow {
  batch_id: string;
  chain_id: string;
  seq: number;
  verifier_id: string;
  key_id: string;
  created_at: number;
  prev_hash: string;
  batch_hash: string;
  events: number;
  deliveries: number;
  subject: string;
  batch_hex: string;
  signature_hex: string;
}

/** Where an event sits: the signed batch and its index in it. */
export interface RowPlace {
  batchId: string;
  pos: number;
  /**
   * The batch's created_at: the time a row gets when its own is unusable. Not 0: the tables'
   * TTL would drop a row dated 1970 at once, and with it the evidence.
   */
  createdAt: number;
}

/** A time in ms that DateTime64(3) and `Date` both hold, else undefined. */
export function timeOrUndefined(v: unknown): number | undefined {
  const n = toSafeNumber(v as number);
  return n !== undefined && n >= 0 && n <= MAX_SENT_AT_MS ? n : undefined;
}

/** Well-formed (no lone surrogates: JSON for ClickHouse must parse), bounded. */
export function cleanString(v: unknown, max: number): string {
  if (typeof v !== 'string') return '';
  const s = v.length > max ? v.slice(0, max) : v;
  return s.replace(LONE_SURROGATE, '\ufffd');
}

const { Reader } = protobuf;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const u32 = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : 0);
const bytes = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : new Uint8Array(0));

/** A deterministic id for an event whose own id is unusable: the same on every redelivery. */
function placeId(place: RowPlace): string {
  return createHash('sha256').update(`agentbus/v1/event-id\0${place.batchId}\0${place.pos}`).digest('hex').slice(0, 32);
}

const lenient = new TextDecoder('utf-8', { fatal: false });

/**
 * Best effort over header bytes that are not a valid header: the fields read one by one until
 * the bytes stop making sense, strings decoded with U+FFFD for invalid UTF-8 (Header.decode
 * refuses those outright), every value cleaned and bounded.
 */
function looseHeader(headerBytes: Uint8Array): HeaderFields | undefined {
  const h: HeaderFields = {
    sender: '',
    keyId: '',
    recipient: '',
    topic: '',
    type: '',
    msgId: new Uint8Array(0),
    sentAtMs: 0,
    payloadSha256: new Uint8Array(0),
    contentType: '',
    traceId: new Uint8Array(0),
    spanId: new Uint8Array(0),
    causationId: new Uint8Array(0),
    depth: 0,
    metadata: {},
  };
  const str = (b: Uint8Array, max: number) => cleanString(lenient.decode(b.subarray(0, max * 4)), max);
  const r = Reader.create(headerBytes);
  let fields = 0;
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      const f = tag >>> 3;
      const wire = tag & 7;
      if (wire === 2 && f !== 14) {
        const b = r.bytes();
        switch (f) {
          case 1:
            h.sender = str(b, MAX_NAME_CHARS);
            break;
          case 2:
            h.keyId = str(b, MAX_NAME_CHARS);
            break;
          case 3:
            h.recipient = str(b, MAX_NAME_CHARS);
            break;
          case 4:
            h.topic = str(b, MAX_NAME_CHARS);
            break;
          case 5:
            h.type = str(b, MAX_NAME_CHARS);
            break;
          case 6:
            h.msgId = b.subarray(0, 64);
            break;
          case 8:
            h.payloadSha256 = b.subarray(0, 64);
            break;
          case 9:
            h.contentType = str(b, MAX_NAME_CHARS);
            break;
          case 10:
            h.traceId = b.subarray(0, 64);
            break;
          case 11:
            h.spanId = b.subarray(0, 64);
            break;
          case 12:
            h.causationId = b.subarray(0, 64);
            break;
        }
      } else if (f === 7 && wire === 0) h.sentAtMs = timeOrUndefined(r.uint64()) ?? 0;
      else if (f === 13 && wire === 0) h.depth = r.uint32();
      else if (f === 14 && wire === 2) {
        const entry = Reader.create(r.bytes());
        let k = '';
        let v = '';
        while (entry.pos < entry.len) {
          const t = entry.uint32();
          if (t === 10) k = str(entry.bytes(), MAX_NAME_CHARS);
          else if (t === 18) v = str(entry.bytes(), MAX_TEXT_CHARS);
          else entry.skipType(t & 7);
        }
        if (Object.keys(h.metadata).length < 64) h.metadata[k] = v;
      } else r.skipType(wire);
      fields++;
    }
  } catch {
    // keep what was read before the bytes stopped making sense
  }
  return fields ? h : undefined;
}

/** The row of one event (rows made outside a signed batch, e.g. in tests and simulations). */
export function eventToRow(ev: IAuditEvent): AuditRow {
  return mapEvent(ev, { batchId: '', pos: 0, createdAt: 0 });
}

/** The row of the event at `place`. Total: never throws. */
export function mapEvent(ev: IAuditEvent, place: RowPlace): AuditRow {
  const bad: string[] = [];
  const shed = u32(ev.shedCount) > 0;
  // A shed summary stands for messages nobody checked: header bytes in it (an older verifier
  // kept the last shed message's as a "hint") are the sender's unverified claim, never columns.
  const signedHeader = bytes(ev.header);
  if (shed && (signedHeader.length || bytes(ev.signature).length)) bad.push('shed_header');
  const headerBytes = shed ? EMPTY : signedHeader;
  const decoded = headerBytes.length ? decodeHeader(headerBytes) : undefined;
  let h: HeaderFields | undefined;
  if (decoded?.ok) h = decoded.value;
  else if (headerBytes.length) {
    h = looseHeader(headerBytes);
    bad.push(h ? 'header' : 'header_bytes');
  }
  const eventId = bytes(ev.eventId);
  let event_id = toHex(eventId);
  if (eventId.length !== EVENT_ID_BYTES) {
    bad.push('event_id');
    event_id = placeId(place);
  }
  let time = timeOrUndefined(ev.verifiedAtMs);
  if (time === undefined) {
    bad.push('verified_at_ms');
    time = place.createdAt;
  }
  let window_start = 0;
  if (ev.windowStartMs) {
    const w = timeOrUndefined(ev.windowStartMs);
    if (w === undefined) bad.push('window_start_ms');
    else window_start = w;
  }
  const subjectSender = cleanString(ev.subjectSender, MAX_NAME_CHARS);
  const recipient = h?.recipient ?? '';
  const topic = h?.topic ?? '';
  const metadata = h?.metadata ?? {};
  const payloadSha = shed ? EMPTY : bytes(ev.payloadSha256);
  if (payloadSha.length !== 0 && payloadSha.length !== 32) bad.push('payload_sha256');
  const signature = shed ? EMPTY : bytes(ev.signature);
  return {
    event_id,
    time,
    sent_at: h?.sentAtMs ?? 0,
    verifier_id: cleanString(ev.verifierId, MAX_NAME_CHARS),
    verdict: verdictName(ev.verdict ?? 0),
    reason: ev.reason ? reasonName(ev.reason) : '',
    detail: cleanString(ev.detail, MAX_TEXT_CHARS),
    subject_sender: subjectSender,
    // The subject token is what NATS authenticated; the header's sender is only a claim.
    sender: subjectSender || (h?.sender ?? ''),
    header_sender: h?.sender ?? '',
    recipient,
    topic,
    destination: recipient || (topic ? `topic:${topic}` : ''),
    type: h?.type ?? '',
    msg_id: h ? toHex(h.msgId) : '',
    key_id: h?.keyId ?? '',
    trace_id: h ? toHex(h.traceId) : '',
    span_id: h ? toHex(h.spanId) : '',
    causation_id: h ? toHex(h.causationId) : '',
    content_type: h?.contentType ?? '',
    header_depth: h?.depth ?? 0,
    depth: u32(ev.effectiveDepth),
    payload_size: shed ? 0 : u32(ev.payloadSize),
    payload_sha256: payloadSha.length === 32 ? toHex(payloadSha) : '',
    header_payload_sha256: h ? toHex(h.payloadSha256) : '',
    raw_size: shed ? 0 : u32(ev.rawSize),
    prompt_version: cleanString(metadata['prompt_version'] ?? '', MAX_TEXT_CHARS),
    rationale: cleanString(metadata['rationale'] ?? '', MAX_TEXT_CHARS),
    metadata,
    header_valid: decoded?.ok && headerVerified(ev) ? 1 : 0,
    header_hex: toHex(headerBytes),
    signature_hex: toHex(signature.subarray(0, 128)),
    batch_id: place.batchId,
    batch_pos: place.pos,
    malformed: bad.join(','),
    shed_count: u32(ev.shedCount),
    window_start,
    ...guardColumns(ev.findings),
    ...memoryColumns(ev.memory),
    mode: ev.monitor === true ? 'monitor' : 'enforce',
    would_refuse: ev.wouldRefuse ? reasonName(ev.wouldRefuse) : '',
  };
}

const EMPTY = new Uint8Array(0);

/**
 * Rejections the verifier decides only after the `signature` check (the checks from
 * `payload_hash` to `replay`, PROTOCOL.md §8.2): the header of such a row is the sender's signed
 * word. Every other rejection (the checks up to `signature`, and tool_not_allowed, which
 * `type_allowed` gives too) leaves the header an unverified claim.
 */
const AFTER_SIGNATURE = new Set<number>([
  Reason.REASON_PAYLOAD_HASH_MISMATCH,
  Reason.REASON_SCHEMA_INVALID,
  Reason.REASON_CREDENTIAL_DETECTED,
  Reason.REASON_INVISIBLE_TEXT,
  Reason.REASON_CONTROL_CHARS,
  Reason.REASON_ARGUMENT_REFUSED,
  Reason.REASON_MEMORY_NOT_ALLOWED,
  Reason.REASON_RATE_LIMITED,
  Reason.REASON_BAD_CAUSATION,
  Reason.REASON_DEPTH_EXCEEDED,
  Reason.REASON_REPLAY,
]);

/**
 * `header_valid`: did the verifier check the sender's signature over this header? Accepted and
 * duplicate events, and rejections decided after the signature check; never a shed summary.
 */
export function headerVerified(ev: Pick<IAuditEvent, 'verdict' | 'reason' | 'shedCount'>): boolean {
  if (u32(ev.shedCount) > 0) return false;
  if (ev.verdict === Verdict.VERDICT_ACCEPTED || ev.verdict === Verdict.VERDICT_DUPLICATE) return true;
  return ev.verdict === Verdict.VERDICT_REJECTED && AFTER_SIGNATURE.has(ev.reason ?? 0);
}

const HEX64 = /^[0-9a-f]{64}$/;
function memoryColumns(
  m: IAuditEvent['memory'],
): Pick<AuditRow, 'memory_op' | 'memory_ns' | 'memory_key_hash' | 'memory_value_hash' | 'memory_value_size' | 'memory_revision' | 'memory_status'> {
  const hex = (v: unknown) => (typeof v === 'string' && HEX64.test(v) ? v : '');
  return {
    memory_op: cleanString(m?.op ?? '', 16),
    memory_ns: cleanString(m?.ns ?? '', 80),
    memory_key_hash: hex(m?.keyHash),
    memory_value_hash: hex(m?.valueHash),
    memory_value_size: u32(m?.valueSize),
    memory_revision: toSafeNumber(m?.revision as number) ?? 0,
    memory_status: cleanString(m?.status ?? '', 32),
  };
}

/** At most this many findings per row (the verifier caps them too). */
export const MAX_GUARD_FINDINGS = 32;

function guardColumns(
  fs: IAuditEvent['findings'],
): Pick<AuditRow, 'guard_kinds' | 'guard_paths' | 'guard_rules' | 'guard_hashes' | 'guard_actions' | 'guard_details'> {
  const list = (fs ?? []).slice(0, MAX_GUARD_FINDINGS);
  return {
    guard_kinds: list.map((f) => cleanString(f.kind, 32)),
    guard_paths: list.map((f) => cleanString(f.path, MAX_NAME_CHARS)),
    guard_rules: list.map((f) => cleanString(f.rule, 128)),
    guard_hashes: list.map((f) => cleanString(f.hash, 64)),
    guard_actions: list.map((f) => cleanString(f.action, 16)),
    guard_details: list.map((f) => cleanString(f.detail, 512)),
  };
}

const deliveryNames: Record<number, string> = {
  [Delivery.DELIVERY_CONFIRMED]: 'confirmed',
  [Delivery.DELIVERY_UNCONFIRMED]: 'unconfirmed',
  [Delivery.DELIVERY_BROADCAST]: 'broadcast',
  [Delivery.DELIVERY_REFUSED]: 'refused',
  [Delivery.DELIVERY_HELD]: 'held',
  [Delivery.DELIVERY_DENIED]: 'denied',
  [Delivery.DELIVERY_APPROVED]: 'approved',
};

export function mapDelivery(d: IDeliveryRecord, verifierId: string, place: RowPlace): DeliveryRow {
  const bad: string[] = [];
  let at = timeOrUndefined(d.atMs);
  if (at === undefined) {
    bad.push('at_ms');
    at = place.createdAt;
  }
  const id = bytes(d.msgId);
  if (id.length !== 16) bad.push('msg_id');
  return {
    batch_id: place.batchId,
    batch_pos: place.pos,
    verifier_id: cleanString(verifierId, MAX_NAME_CHARS),
    msg_id: toHex(id.subarray(0, 64)),
    recipient: cleanString(d.recipient, MAX_NAME_CHARS),
    delivery: deliveryNames[d.delivery ?? 0] ?? `delivery_${d.delivery ?? 0}`,
    at,
    malformed: bad.join(','),
    reason: d.reason ? reasonName(d.reason) : '',
    detail: cleanString(d.detail, MAX_NAME_CHARS),
  };
}

/**
 * The row that stands in when a row could not be stored as mapped (the store refused it): only
 * values that fit by construction, the raw header and signature, and the store's complaint in
 * `malformed`. Still one row per event; `audit verify` reports the difference.
 */
export function fallbackRow(row: AuditRow, why: string): AuditRow {
  const safe = (s: string) => s.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_NAME_CHARS);
  return {
    ...row,
    detail: '',
    sender: safe(row.sender),
    subject_sender: safe(row.subject_sender),
    header_sender: safe(row.header_sender),
    recipient: safe(row.recipient),
    topic: safe(row.topic),
    destination: safe(row.destination),
    type: safe(row.type),
    key_id: safe(row.key_id),
    content_type: safe(row.content_type),
    verifier_id: safe(row.verifier_id),
    prompt_version: '',
    rationale: '',
    metadata: {},
    guard_kinds: row.guard_kinds.map(safe),
    guard_paths: row.guard_paths.map(safe),
    guard_rules: row.guard_rules.map(safe),
    guard_hashes: row.guard_hashes.map(safe),
    guard_actions: row.guard_actions.map(safe),
    guard_details: row.guard_details.map(safe),
    memory_op: safe(row.memory_op),
    memory_ns: safe(row.memory_ns),
    memory_status: safe(row.memory_status),
    would_refuse: safe(row.would_refuse),
    time: timeOrUndefined(row.time) ?? 0,
    sent_at: timeOrUndefined(row.sent_at) ?? 0,
    window_start: timeOrUndefined(row.window_start) ?? 0,
    malformed: [row.malformed, `store: ${safe(why).slice(0, 120)}`].filter(Boolean).join(','),
  };
}
