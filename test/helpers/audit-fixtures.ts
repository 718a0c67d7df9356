// Builders for audit events made with the real SDK: an identity signs a real envelope, and
// the AuditEvent carries its header bytes and signature exactly as a verifier would record
// them. Also: the AUDIT stream and publishing batches the way the verifier does.
import { randomBytes } from 'node:crypto';
import { headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { generateIdentity, SigningKey } from '../../packages/sdk/src/identity.js';
import { ChainSealer } from '../../packages/server/src/common/audit-chain.js';
import type { AgentIdentity } from '../../packages/sdk/src/identity.js';
import { parseEnvelope, sealEnvelope, sha256, toHex } from '../../packages/protocol/src/envelope.js';
import { AuditEvent, Reason, Verdict, verdictName } from '../../packages/protocol/src/proto.js';

export { generateIdentity, Reason, Verdict };
export type { AgentIdentity };

const identities = new Map<string, AgentIdentity>();
/** One identity per agent id, cached for the test process. */
export function agent(id: string): AgentIdentity {
  let a = identities.get(id);
  if (!a) identities.set(id, (a = generateIdentity(id)));
  return a;
}

export interface EventSpec {
  from: string;
  to?: string;
  topic?: string;
  type?: string;
  payload?: string | Uint8Array;
  /** verified_at (ms). */
  at: number;
  verdict?: Verdict;
  reason?: Reason;
  detail?: string;
  msgId?: Uint8Array;
  traceId?: Uint8Array;
  causationId?: Uint8Array;
  metadata?: Record<string, string>;
  /** Sign with a fresh key that is not the agent's (a forgery). */
  forged?: boolean;
  /** Subject sender token (defaults to `from`). */
  subjectSender?: string;
  eventId?: Uint8Array;
}

/** A sealed, signed envelope turned into the AuditEvent a verifier would publish. */
export function auditEvent(spec: EventSpec): AuditEvent {
  const id = agent(spec.from);
  const key = spec.forged ? generateIdentity(spec.from).currentKey() : id.currentKey();
  const payload =
    typeof spec.payload === 'string' || spec.payload === undefined ? new TextEncoder().encode(spec.payload ?? `{"n":${Math.random()}}`) : spec.payload;
  const sealed = sealEnvelope({
    sender: spec.from,
    keyId: spec.forged ? id.currentKey().keyId : key.keyId,
    sign: key.sign,
    ...(spec.topic ? { topic: spec.topic } : { recipient: spec.to ?? 'sink' }),
    type: spec.type ?? 'task.assign',
    payload,
    contentType: 'application/json',
    metadata: spec.metadata ?? { prompt_version: 'v1', rationale: 'test' },
    sentAtMs: spec.at - 5,
    ...(spec.msgId ? { msgId: spec.msgId } : {}),
    ...(spec.traceId ? { traceId: spec.traceId } : {}),
    ...(spec.causationId ? { causationId: spec.causationId } : {}),
  });
  const parts = parseEnvelope(sealed.bytes);
  if (!parts.ok) throw new Error('fixture envelope does not parse');
  return AuditEvent.create({
    eventId: spec.eventId ?? randomBytes(16),
    verifierId: 'v1',
    verifiedAtMs: spec.at,
    verdict: spec.verdict ?? Verdict.VERDICT_ACCEPTED,
    reason: spec.reason ?? Reason.REASON_UNSPECIFIED,
    detail: spec.detail ?? '',
    subjectSender: spec.subjectSender ?? spec.from,
    header: Uint8Array.from(parts.value.headerBytes),
    signature: Uint8Array.from(parts.value.signature),
    payloadSize: payload.length,
    payloadSha256: sha256(payload),
    effectiveDepth: 0,
    rawSize: 0,
  });
}

/** An event whose envelope did not decode (rejected malformed, no header). */
export function malformedEvent(from: string, at: number): AuditEvent {
  return AuditEvent.create({
    eventId: randomBytes(16),
    verifierId: 'v1',
    verifiedAtMs: at,
    verdict: Verdict.VERDICT_REJECTED,
    reason: Reason.REASON_MALFORMED,
    detail: 'envelope: unexpected field',
    subjectSender: from,
    rawSize: 17,
  });
}

/** The fixtures' verifier "v1": its audit key and its chain (batches signed as the verifier signs them). */
export const fixtureVerifierKey = SigningKey.generate();
export const fixtureChain = new ChainSealer('v1', fixtureVerifierKey);

export function encodeBatch(events: AuditEvent[]): Uint8Array {
  return fixtureChain.seal(events).data;
}

export const eventIdHex = (e: AuditEvent) => toHex(e.eventId);

/** Create the AUDIT stream like the verifier does (idempotent). */
export { ensureAuditStream } from '../../packages/server/src/common/audit-stream.js';

/** Publish events in batches of `perBatch` as the verifier does; returns the batch ids. */
export async function publishEvents(nc: NatsConnection, events: AuditEvent[], perBatch = 16): Promise<string[]> {
  const js = jetstream(nc);
  const ids: string[] = [];
  for (let i = 0; i < events.length; i += perBatch) {
    const chunk = events.slice(i, i + perBatch);
    const verdict = verdictName(chunk[0]!.verdict);
    const h = headers();
    const id = toHex(randomBytes(16));
    h.set('Nats-Msg-Id', id);
    await js.publish(`agentbus.audit.${verdict}`, encodeBatch(chunk), { headers: h });
    ids.push(id);
  }
  return ids;
}

/** Publish raw bytes (e.g. a poison message) to the audit stream. */
export async function publishRaw(nc: NatsConnection, data: Uint8Array, subject = 'agentbus.audit.accepted'): Promise<void> {
  await jetstream(nc).publish(subject, data);
}
