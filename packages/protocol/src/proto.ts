// The generated wire types, re-exported under short names. sdk/gen/ is produced by
// `npm run gen` from proto/agentbus/v1 and checked for staleness by the test suite.
import { agentbus } from './gen/agentbus.js';

export const Envelope = agentbus.v1.Envelope;
export const Header = agentbus.v1.Header;
export const Ack = agentbus.v1.Ack;
export const AuditEvent = agentbus.v1.AuditEvent;
export const AuditBatch = agentbus.v1.AuditBatch;
export const SignedAuditBatch = agentbus.v1.SignedAuditBatch;
export const DeliveryRecord = agentbus.v1.DeliveryRecord;
export const Verdict = agentbus.v1.Verdict;
export const Reason = agentbus.v1.Reason;
export const Delivery = agentbus.v1.Delivery;

export type Envelope = agentbus.v1.Envelope;
export type Header = agentbus.v1.Header;
export type IHeader = agentbus.v1.IHeader;
export type Ack = agentbus.v1.Ack;
export type IAck = agentbus.v1.IAck;
export type AuditEvent = agentbus.v1.AuditEvent;
export type IAuditEvent = agentbus.v1.IAuditEvent;
export type IMemoryAccess = agentbus.v1.IMemoryAccess;
export type AuditBatch = agentbus.v1.AuditBatch;
export type IAuditBatch = agentbus.v1.IAuditBatch;
export type SignedAuditBatch = agentbus.v1.SignedAuditBatch;
export type DeliveryRecord = agentbus.v1.DeliveryRecord;
export type IDeliveryRecord = agentbus.v1.IDeliveryRecord;
export type Verdict = agentbus.v1.Verdict;
export type Reason = agentbus.v1.Reason;
export type Delivery = agentbus.v1.Delivery;

const reasonNames = new Map<number, string>();
const reasonByName = new Map<string, Reason>();
for (const [k, v] of Object.entries(agentbus.v1.Reason)) {
  if (typeof v !== 'number') continue;
  const name = k.replace(/^REASON_/, '').toLowerCase();
  reasonNames.set(v, name);
  reasonByName.set(name, v as Reason);
}
const verdictNames = new Map<number, string>();
for (const [k, v] of Object.entries(agentbus.v1.Verdict)) {
  if (typeof v === 'number') verdictNames.set(v, k.replace(/^VERDICT_/, '').toLowerCase());
}

/** `Reason.REASON_BAD_SIGNATURE` → `"bad_signature"`; unknown numbers (enums are open) → `"reason_<n>"`. */
export function reasonName(reason: number): string {
  return reasonNames.get(reason) ?? `reason_${reason}`;
}
/** `"bad_signature"` → `Reason.REASON_BAD_SIGNATURE`, or undefined. */
export function reasonFromName(name: string): Reason | undefined {
  return reasonByName.get(name);
}
/** `Verdict.VERDICT_ACCEPTED` → `"accepted"`. */
export function verdictName(verdict: number): string {
  return verdictNames.get(verdict) ?? `verdict_${verdict}`;
}
/** Every rejection reason (all but UNSPECIFIED). */
export function allReasons(): Reason[] {
  return [...reasonByName.values()].filter((r) => r !== Reason.REASON_UNSPECIFIED);
}
