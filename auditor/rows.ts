// AuditEvent (protobuf, from the verifier) → one audit row. The header is decoded from the
// signed bytes exactly as received; when it is not a valid header we still take what
// Header.decode gives (best effort) and mark the row header_valid = 0. The payload is never
// part of an audit event, so it cannot reach a row.
import { AuditBatch, Header, reasonName, verdictName } from '../sdk/proto.js';
import type { AuditEvent } from '../sdk/proto.js';
import { decodeHeader, toHex, toSafeNumber } from '../sdk/envelope.js';

export const EVENT_ID_BYTES = 16;

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
}

export class PoisonError extends Error {
  override readonly name = 'PoisonError';
}

/** Decode one JetStream message body into events; throws PoisonError when it cannot be stored. */
export function decodeBatch(data: Uint8Array): AuditEvent[] {
  let batch: AuditBatch;
  try {
    batch = AuditBatch.decode(data);
  } catch (e) {
    throw new PoisonError(`audit batch does not decode: ${(e as Error).message}`);
  }
  if (batch.events.length === 0) throw new PoisonError('audit batch has no events');
  for (const ev of batch.events) {
    const n = ev.eventId?.length ?? 0;
    if (n !== EVENT_ID_BYTES) throw new PoisonError(`event_id must be ${EVENT_ID_BYTES} bytes, got ${n}`);
    if (toSafeNumber(ev.verifiedAtMs as number) === undefined) throw new PoisonError('verified_at_ms out of range');
  }
  return batch.events as AuditEvent[];
}

export function eventToRow(ev: AuditEvent): AuditRow {
  const headerBytes = ev.header ?? new Uint8Array(0);
  const decoded = headerBytes.length ? decodeHeader(headerBytes) : undefined;
  let h: {
    sender: string; keyId: string; recipient: string; topic: string; type: string; msgId: Uint8Array; sentAtMs: number;
    payloadSha256: Uint8Array; contentType: string; traceId: Uint8Array; spanId: Uint8Array; causationId: Uint8Array;
    depth: number; metadata: Record<string, string>;
  } | undefined;
  if (decoded?.ok) h = decoded.value;
  else if (headerBytes.length) {
    try {
      const raw = Header.decode(headerBytes);
      h = { ...raw, sentAtMs: toSafeNumber(raw.sentAtMs as number) ?? 0, metadata: { ...raw.metadata } };
    } catch {
      h = undefined;
    }
  }
  const subjectSender = ev.subjectSender ?? '';
  const recipient = h?.recipient ?? '';
  const topic = h?.topic ?? '';
  const metadata = h?.metadata ?? {};
  return {
    event_id: toHex(ev.eventId),
    time: toSafeNumber(ev.verifiedAtMs as number) ?? 0,
    sent_at: h?.sentAtMs ?? 0,
    verifier_id: ev.verifierId ?? '',
    verdict: verdictName(ev.verdict ?? 0),
    reason: ev.reason ? reasonName(ev.reason) : '',
    detail: ev.detail ?? '',
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
    depth: ev.effectiveDepth ?? 0,
    payload_size: ev.payloadSize ?? 0,
    payload_sha256: toHex(ev.payloadSha256 ?? new Uint8Array(0)),
    header_payload_sha256: h ? toHex(h.payloadSha256) : '',
    raw_size: ev.rawSize ?? 0,
    prompt_version: metadata['prompt_version'] ?? '',
    rationale: metadata['rationale'] ?? '',
    metadata,
    header_valid: decoded?.ok ? 1 : 0,
    header_hex: toHex(headerBytes),
    signature_hex: toHex(ev.signature ?? new Uint8Array(0)),
  };
}
