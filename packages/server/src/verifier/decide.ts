// The verifier's decision as a pure function (docs/design.md §14): the envelope bytes, the subject they
// arrived on, a policy snapshot and the verifier's state in; a verdict out. No I/O, no clock (the
// caller passes `now`), no hidden globals: every piece of state the decision reads or changes is
// in the DecisionState it is given. verifier/verifier.ts does the I/O around it (receive, decide,
// record the audit event, forward, answer). PROTOCOL.md §8 specifies the same list for other
// implementations, and protocol/vectors/decisions.json exercises it.
//
// THE ORDER OF THE CHECKS (docs/decisions.md "Verifier ordering of checks" is this list). The
// first check that fails decides; every rejection from step 2 on spends one token of the subject
// sender's rejection budget (step 1). An accepted tool call whose policy asks for approval is
// marked `approval` (the verifier holds it until an approver decides).
//
//   1. rejection budget of the subject sender: refill, then fewer than 1 token
//        → rejection_budget_exceeded, shed: no further check, nothing parsed
//   2. reply subject: empty, or starts with "agentbus.inbox.<subject sender>."
//        → bad_reply_subject (never answered)
//   3. partition: the subject's partition is the subject sender's own (when the message came
//      through the partition mapping)                      → sender_mismatch "wrong partition"
//   4. envelope framing (strict outer parse)               → malformed
//   5. header decode and structural validation             → malformed
//   6. header sender = subject sender                      → sender_mismatch
//   7. sender known (has a manifest)                       → unknown_sender
//   8. key resolution: key_id known, not revoked, valid at now
//                                                          → unknown_key | revoked_key | expired_key
//   9. sizes: payload + metadata bytes ≤ max_payload_bytes → payload_too_large
//  10. freshness: now − skew ≤ sent_at_ms ≤ now + skew     → stale_timestamp | future_timestamp
//  11. recipient: known and allowed (direct; a tool call goes to its own server, an approval
//      to a server the sender may approve, a memory request to the memory service), or topic
//      allowed                                             → unknown_recipient | destination_not_allowed
//  12. contract exists for the type (a tool call: the tool pinned in its server's manifest)
//                                                          → unknown_type
//  13. type allowed for that recipient or topic (a tool call: the tool listed in the sender's
//      tools: policy)                                      → type_not_allowed | tool_not_allowed
//  14. metadata rules: keys declared, values and map bounded → metadata_not_allowed
//  15. required metadata present and non-empty             → metadata_missing
//  16. signature (the one Ed25519 acceptance rule)         → bad_signature
//  17. payload hash = header.payload_sha256                → payload_hash_mismatch
//  18. content type, then payload schema                   → schema_invalid
//  19. content guards: the payload's text and the metadata values (flag: accepted, reason set)
//                                                          → credential_detected | invisible_text | control_chars
//  20. tool call arguments: the sender's tools: constraints (a call that needs approval: its
//      canonical arguments at most MAX_APPROVAL_ARGS_BYTES, all shown to the approver); a
//      memory request: the sender's memory: grants; an approval: its causation_id is the call
//      its payload decides                                 → argument_refused | memory_not_allowed | bad_causation
//  21. rate (token bucket; only messages that got here spend) → rate_limited
//  22. causation: a causation_id needs a depth token that proves delivery to this sender
//                                                          → bad_causation
//  23. depth limit: effective depth ≤ max_depth            → depth_exceeded
//  24. replay: msg_id seen with another envelope           → replay;
//              the same envelope again                     → duplicate (depth as remembered);
//              absent                                      → accepted (msg_id claimed)
//
// Allocation: one Decision object per message (none for a shed one: two frozen constants), plus
// what parsing, decoding and hashing allocate; the input object may be reused by the caller.
import { Reason, Verdict } from '@agentbus/protocol';
import type { IAuditEvent, IMemoryAccess } from '@agentbus/protocol';
import { parseEnvelope, decodeHeader, sha256, equalBytes, SIGNING_DOMAIN, MAX_HEADER_BYTES } from '@agentbus/protocol';
import type { HeaderFields, EnvelopeParts } from '@agentbus/protocol';
import { metadataBytes, checkMetadata } from '@agentbus/protocol';
import type { Ed25519Backend } from '@agentbus/protocol';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import type { Policy } from '@agentbus/protocol/manifest';
import { ReplayTable, ABSENT, OTHER_ENVELOPE } from './replay-table.js';
import { DepthTokens, NO_DEPTH_TOKEN } from '@agentbus/protocol';
import { partitionOf } from '../common/partitions.js';
import * as D from '@agentbus/protocol';
import { parseToolType, APPROVAL_TYPE, approvalArgs, MAX_APPROVAL_ARGS_BYTES, applyGuardPolicy, resolveGuardPolicy, scannedKinds } from '@agentbus/protocol';
import { toolListed, checkToolCall } from '@agentbus/protocol/tools';
import { scanMessage } from '@agentbus/protocol/guard';
import { UNREADABLE, MEMORY_SERVICE, MEMORY_REQUEST_TYPES, MEMORY_RESULT_TYPE, MEMORY_EVENT_TYPE, memoryOpOf, checkMemoryAccess, isMemoryType, memoryAuditFields } from '@agentbus/protocol';
import { builtinMemoryContract } from '@agentbus/sdk/internal';
import type { GuardFinding, GuardKind, ResolvedGuardPolicy } from '@agentbus/protocol';
import type { CompiledAgent } from '@agentbus/protocol/manifest';
import type { Contract } from '@agentbus/sdk/internal';
import { toolContracts } from '../common/tool-contracts.js';
import type { ToolContracts } from '../common/tool-contracts.js';

/** One message as the verifier received it. The caller may reuse this object between calls. */
export interface DecisionInput {
  /** The message's bytes (the envelope, if it is one). */
  data: Uint8Array;
  /** The sender token of the subject it arrived on: the identity NATS authenticated. */
  subjectSender: string;
  /** Its reply subject ('' if none). */
  reply: string;
  /** The verifier's clock, ms since the Unix epoch. */
  now: number;
  /** The partition token of agentbus.part.<p>.<sender>; undefined if it did not come through the partition mapping. */
  partition?: number | undefined;
  /**
   * A signature check done ahead, off the event loop (signatureCheckOf + VerifyPool). Step 16
   * uses its verdict only for exactly the key, header bytes and signature it finds itself;
   * otherwise (or when `ok` is undefined: not checked) it verifies inline.
   */
  pre?: SignatureCheck | undefined;
}

/** What step 16 would verify: the sender's key (as resolved at the message's time), the header as received, the signature. */
export interface SignatureCheck {
  key: Uint8Array;
  headerBytes: Uint8Array;
  signature: Uint8Array;
  ok: boolean | undefined;
  /** The bytes it was found in, and what was parsed from them (steps 4 and 5 reuse it for the same bytes). */
  data?: Uint8Array | undefined;
  parts?: EnvelopeParts | undefined;
  header?: HeaderFields | undefined;
}

/** Everything the decision reads that is configuration, not state: swapped whole on a manifest reload. */
export interface PolicySnapshot {
  /** The manifests, compiled. */
  readonly policy: Policy;
  readonly contracts: ContractRegistry;
  /** Freshness window: sent_at_ms within now ± maxSkewMs. */
  readonly maxSkewMs: number;
  /** Number of sender partitions (step 3). */
  readonly partitions: number;
  /** Any backend: all apply the same acceptance rule (docs/signature-rule.md), so the verdict does not depend on it. */
  readonly backend: Ed25519Backend;
  /** The tool contracts the manifests pin (derived from `policy` by policySnapshot). */
  readonly tools?: ToolContracts;
}

export function policySnapshot(s: PolicySnapshot): PolicySnapshot {
  return Object.freeze({ policy: s.policy, contracts: s.contracts, maxSkewMs: s.maxSkewMs, partitions: s.partitions, backend: s.backend, tools: toolContracts(s.policy) });
}

/** The outcome for one message. */
export interface Decision {
  readonly verdict: Verdict;
  /** REASON_UNSPECIFIED unless rejected. */
  readonly reason: Reason;
  /** Short, secret-free explanation (never a metadata value or payload content). */
  readonly detail: string;
  /** The effective chain depth (0 for rejections before step 21; the claim for bad_causation). */
  readonly depth: number;
  /** May the verifier answer on the reply subject? False for bad_reply_subject, and for a shed message whose reply subject is outside the sender's inbox. */
  readonly answer: boolean;
  /** Shed by the rejection budget (step 1): not checked, counted in the sender's budget record, audited in aggregate. */
  readonly shed: boolean;
  /** An accepted tool call whose tools: policy requires approval: held until an approver decides. */
  readonly approval?: boolean;
  /** With `approval`: the call's canonical arguments (approvalArgs), what the approver is shown and signs. */
  readonly approvalArgs?: string;
  /** Content-guard findings (rejected ones, or flagged ones of an accepted message). */
  readonly findings?: readonly GuardRecord[];
  /** The decoded header, once step 5 passed (unverified before step 16). */
  readonly header: HeaderFields | undefined;
  /** The envelope's parts, once step 4 passed (views into the input bytes). */
  readonly headerBytes: Uint8Array | undefined;
  readonly signature: Uint8Array | undefined;
  readonly payload: Uint8Array | undefined;
}

/** A sender's token bucket for its messages (manifest `rate`). */
export interface RateBucket {
  tokens: number;
  last: number;
}

/**
 * Per subject sender: its budget for rejected messages (a token bucket, manifest `rejections`),
 * what the verifier knows of it before it looks at the bytes (its inbox prefix and own
 * partition), and its shed messages since the verifier last reported them.
 */
export interface SenderBudget {
  readonly sender: string;
  readonly inboxPrefix: string;
  /** partitionOf(sender, partitions) under the snapshot below. */
  ownPartition: number;
  tokens: number;
  last: number;
  perMs: number;
  burst: number;
  /** The snapshot the rates above come from (refreshed when it changes). */
  snapshot: PolicySnapshot | undefined;
  /**
   * Messages shed since the last report and the arrival of the first. Nothing of their bytes is
   * kept: a shed message is unverified, so its header is only the sender's claim.
   */
  shed: number;
  shedStart: number;
}

/**
 * The verifier's state, all of it: decide() reads and changes only this. One per verifier
 * process (its partitions' senders all live here).
 */
export class DecisionState {
  /** msg_id → (envelope fingerprint, depth, delivered) of the messages accepted within the replay window. */
  readonly replay: ReplayTable;
  /** Rate buckets by (header = subject) sender. */
  readonly rates = new Map<string, RateBucket>();
  /** Rejection budgets by subject sender. */
  readonly budgets = new Map<string, SenderBudget>();
  /** The depth-token key (shared by all verifiers of a bus). */
  readonly depthTokens: DepthTokens;
  /** Scratch for "agentbus/v1/envelope\0" ‖ header: no allocation per signature check. */
  readonly signingScratch: Buffer;

  constructor(o: { replayWindowMs: number; depthKey: Uint8Array; now: number }) {
    this.replay = new ReplayTable(o.replayWindowMs, o.now);
    this.depthTokens = new DepthTokens(o.depthKey);
    this.signingScratch = Buffer.alloc(SIGNING_DOMAIN.length + MAX_HEADER_BYTES);
    this.signingScratch.set(SIGNING_DOMAIN, 0);
  }
}

export const SHED_DETAIL = 'rejection budget spent: message shed unverified';
export const WRONG_PARTITION_DETAIL = 'wrong partition';

function shedDecision(answer: boolean): Decision {
  return Object.freeze({
    verdict: Verdict.VERDICT_REJECTED, reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED, detail: SHED_DETAIL, depth: 0, answer, shed: true,
    header: undefined, headerBytes: undefined, signature: undefined, payload: undefined,
  });
}
const SHED_ANSWERED = shedDecision(true);
const SHED_SILENT = shedDecision(false);

function rejected(reason: Reason, detail: string, depth: number, answer: boolean, header: HeaderFields | undefined, headerBytes: Uint8Array | undefined, signature: Uint8Array | undefined, payload: Uint8Array | undefined): Decision {
  return { verdict: Verdict.VERDICT_REJECTED, reason, detail, depth, answer, shed: false, header, headerBytes, signature, payload };
}

/** The subject sender's budget record, created with a full bucket, refreshed when the snapshot changed. */
function budgetOf(state: DecisionState, snap: PolicySnapshot, sender: string, now: number): SenderBudget {
  let b = state.budgets.get(sender);
  if (b === undefined) {
    b = {
      sender, inboxPrefix: `${D.SUBJECT_INBOX_PREFIX}${sender}.`, ownPartition: 0,
      tokens: 0, last: now, perMs: 0, burst: 0, snapshot: undefined, shed: 0, shedStart: 0,
    };
    refreshBudget(b, snap);
    b.tokens = b.burst;
    state.budgets.set(sender, b);
  } else if (b.snapshot !== snap) refreshBudget(b, snap);
  return b;
}

/** The rejection budget's tokens at `now` (refilled since its last use, at most its burst). */
function budgetTokens(b: SenderBudget, now: number): number {
  return Math.min(b.burst, b.tokens + Math.max(0, now - b.last) * b.perMs);
}

/** The budget of the sender's manifest, or the defaults for a sender without one. */
function refreshBudget(b: SenderBudget, snap: PolicySnapshot): void {
  const a = snap.policy.agents.get(b.sender);
  if (b.snapshot?.partitions !== snap.partitions) b.ownPartition = partitionOf(b.sender, snap.partitions);
  b.snapshot = snap;
  b.perMs = a?.rejectPerMs ?? D.DEFAULT_REJECTIONS_PER_SECOND / 1000;
  b.burst = a?.rejectBurst ?? D.DEFAULT_REJECTION_BURST;
  b.tokens = Math.min(b.tokens, b.burst);
}

/**
 * Decide one message: every check, in the order at the top of this file. Applies the state
 * changes to `state` — the rejection budget (refill; one token per rejection; shed counts), the
 * rate bucket (refill; one token per message that reaches step 19), and the replay table (an
 * accepted msg_id is claimed with its fingerprint and depth) — and touches nothing else.
 */
export function decide(input: DecisionInput, snap: PolicySnapshot, state: DecisionState): Decision {
  const now = input.now;
  const b = budgetOf(state, snap, input.subjectSender, now);
  // 1. the rejection budget, before anything looks at the bytes
  const tokens = budgetTokens(b, now);
  b.tokens = tokens;
  b.last = now;
  const reply = input.reply;
  const replyOk = reply === '' || reply.startsWith(b.inboxPrefix);
  if (tokens < 1) {
    if (b.shed++ === 0) b.shedStart = now;
    return replyOk ? SHED_ANSWERED : SHED_SILENT;
  }
  const d = check(input, snap, state, b, replyOk);
  if (d.verdict === Verdict.VERDICT_REJECTED) b.tokens -= 1; // every rejection spends from the budget
  return d;
}

/**
 * The signature check `decide` would make for this message, found without changing anything:
 * undefined when the message would be shed or rejected before step 16 by the cheap checks
 * (budget spent, reply subject, partition, framing, header, sender, key), so that nothing is
 * verified ahead for it. Later checks (size, freshness, policy) may still reject it first.
 */
export function signatureCheckOf(input: DecisionInput, snap: PolicySnapshot, state: DecisionState): SignatureCheck | undefined {
  const b = state.budgets.get(input.subjectSender);
  if (b) {
    const tokens = budgetTokens(b, input.now);
    if (tokens < 1 || (input.reply !== '' && !input.reply.startsWith(b.inboxPrefix))) return undefined;
    if (input.partition !== undefined && input.partition !== b.ownPartition) return undefined;
  }
  const parts = parseEnvelope(input.data);
  if (!parts.ok) return undefined;
  const hd = decodeHeader(parts.value.headerBytes);
  if (!hd.ok || hd.value.sender !== input.subjectSender) return undefined;
  const key = snap.policy.resolveKey(hd.value.sender, hd.value.keyId, input.now);
  if (typeof key === 'number') return undefined;
  return { key, headerBytes: parts.value.headerBytes, signature: parts.value.signature, ok: undefined, data: input.data, parts: parts.value, header: hd.value };
}

function check(input: DecisionInput, snap: PolicySnapshot, state: DecisionState, b: SenderBudget, replyOk: boolean): Decision {
  const { data, now, subjectSender } = input;
  // 2. the reply subject: otherwise the verifier could be made to publish into another agent's inbox
  if (!replyOk) {
    // not answered; parsed only so that the audit event can show what it was
    const p = parseEnvelope(data);
    if (!p.ok) return rejected(Reason.REASON_BAD_REPLY_SUBJECT, input.reply.slice(0, 128), 0, false, undefined, undefined, undefined, undefined);
    const hd = decodeHeader(p.value.headerBytes);
    return rejected(Reason.REASON_BAD_REPLY_SUBJECT, input.reply.slice(0, 128), 0, false, hd.ok ? hd.value : undefined, p.value.headerBytes, p.value.signature, p.value.payload);
  }
  // 3. NATS permissions pin each agent to its own partition; this is the second fence (a
  // sender's messages must all reach one owner, or its replay state would split)
  if (input.partition !== undefined && input.partition !== b.ownPartition) return rejected(Reason.REASON_SENDER_MISMATCH, WRONG_PARTITION_DETAIL, 0, true, undefined, undefined, undefined, undefined);
  // 4. framing (parsed already when the signature was checked ahead from these same bytes)
  const ahead = input.pre !== undefined && input.pre.data === data ? input.pre : undefined;
  let parsed: EnvelopeParts;
  if (ahead?.parts) parsed = ahead.parts;
  else {
    const parts = parseEnvelope(data);
    if (!parts.ok) return rejected(parts.reason, parts.detail, 0, true, undefined, undefined, undefined, undefined);
    parsed = parts.value;
  }
  const { headerBytes, payload, signature } = parsed;
  // 5. header
  let h: HeaderFields;
  if (ahead?.header && ahead.parts === parsed) h = ahead.header;
  else {
    const hd = decodeHeader(headerBytes);
    if (!hd.ok) return rejected(hd.reason, hd.detail, 0, true, undefined, headerBytes, signature, payload);
    h = hd.value;
  }
  // 6. sender = subject token
  if (h.sender !== subjectSender) return rejected(Reason.REASON_SENDER_MISMATCH, `subject says ${subjectSender}`, 0, true, h, headerBytes, signature, payload);
  // 7. sender known
  const policy = snap.policy;
  const agent = policy.agents.get(h.sender);
  if (!agent) return rejected(Reason.REASON_UNKNOWN_SENDER, '', 0, true, h, headerBytes, signature, payload);
  // 8. key, at the verifier's time
  const key = policy.resolveKey(h.sender, h.keyId, now);
  if (typeof key === 'number') return rejected(key, '', 0, true, h, headerBytes, signature, payload);
  // 9. header metadata counts against max_payload_bytes together with the payload (docs/design.md §9)
  const metaBytes = metadataBytes(h.metadata);
  if (payload.length + metaBytes > agent.maxPayload) {
    const detail = metaBytes ? `${payload.length} + ${metaBytes} metadata > ${agent.maxPayload} bytes` : `${payload.length} > ${agent.maxPayload} bytes`;
    return rejected(Reason.REASON_PAYLOAD_TOO_LARGE, detail, 0, true, h, headerBytes, signature, payload);
  }
  // 10. freshness
  const skew = snap.maxSkewMs;
  if (h.sentAtMs < now - skew) return rejected(Reason.REASON_STALE_TIMESTAMP, `${now - h.sentAtMs} ms old`, 0, true, h, headerBytes, signature, payload);
  if (h.sentAtMs > now + skew) return rejected(Reason.REASON_FUTURE_TIMESTAMP, `${h.sentAtMs - now} ms ahead`, 0, true, h, headerBytes, signature, payload);
  // 11. recipient or topic; a tool call (tool.<server>.<tool>) goes to its server, and the
  // tools: policy (step 13) says whether the sender may call it, not a send rule
  const tool = parseToolType(h.type);
  // a memory request goes to the memory service, and the sender's memory: grants decide (step 20)
  const memory = h.recipient === MEMORY_SERVICE && (MEMORY_REQUEST_TYPES as readonly string[]).includes(h.type);
  if (h.recipient) {
    if (!policy.agents.has(h.recipient)) return rejected(Reason.REASON_UNKNOWN_RECIPIENT, h.recipient, 0, true, h, headerBytes, signature, payload);
    if (tool) {
      if (tool.server !== h.recipient) return rejected(Reason.REASON_DESTINATION_NOT_ALLOWED, `a tool call of ${tool.server} goes to ${tool.server}, not ${h.recipient}`, 0, true, h, headerBytes, signature, payload);
    } else if (h.type === APPROVAL_TYPE) {
      // an approval goes to the held call's server, from an agent whose manifest may approve its calls
      if (!agent.canApprove(h.recipient)) return rejected(Reason.REASON_DESTINATION_NOT_ALLOWED, `${h.sender} may not approve calls of ${h.recipient} (approve: in its manifest)`, 0, true, h, headerBytes, signature, payload);
    } else if (!memory && !agent.canSendTo(h.recipient)) return rejected(Reason.REASON_DESTINATION_NOT_ALLOWED, h.recipient, 0, true, h, headerBytes, signature, payload);
  } else if (tool) return rejected(Reason.REASON_DESTINATION_NOT_ALLOWED, `a tool call goes to its server, not to topic ${h.topic}`, 0, true, h, headerBytes, signature, payload);
  else if (!agent.canPublishTopic(h.topic)) return rejected(Reason.REASON_DESTINATION_NOT_ALLOWED, `topic ${h.topic}`, 0, true, h, headerBytes, signature, payload);
  // 12. contract (a tool's: pinned in its server's manifest)
  const contract = snap.contracts.get(h.type) ?? snap.tools?.get(h.type) ?? builtinMemoryContract(h.type);
  if (!contract) return rejected(Reason.REASON_UNKNOWN_TYPE, tool ? `${h.type}: ${tool.server} serves no tool ${tool.tool} (none pinned in its manifest)` : h.type, 0, true, h, headerBytes, signature, payload);
  // 13. type allowed (a tool call: the tool listed in the sender's tools: policy)
  if (tool) {
    if (!toolListed(agent.toolPolicy, tool.server, tool.tool)) return rejected(Reason.REASON_TOOL_NOT_ALLOWED, `${tool.server}.${tool.tool} is not in ${h.sender}'s tools: policy`, 0, true, h, headerBytes, signature, payload);
  } else if (h.recipient && h.type === APPROVAL_TYPE) {
    // allowed at step 11 by approve:
  } else if (memory) {
    // decided at step 20 by memory:
  } else if (h.recipient ? !agent.canSendType(h.recipient, h.type) : !agent.canPublishTopicType(h.topic, h.type)) return rejected(Reason.REASON_TYPE_NOT_ALLOWED, h.type, 0, true, h, headerBytes, signature, payload);
  // 14. metadata keys from the declared set only, each value and the whole map bounded
  const md = checkMetadata(contract.allowedMetadata, h.metadata, h.type);
  if (!md.ok) return rejected(md.reason, md.detail, 0, true, h, headerBytes, signature, payload);
  // 15. required metadata
  for (const k of contract.requiredMetadata) {
    if (!h.metadata[k]) return rejected(Reason.REASON_METADATA_MISSING, k, 0, true, h, headerBytes, signature, payload);
  }
  // 16. signature over the header bytes as received (checked ahead on a worker thread when
  // `pre` holds the verdict for exactly this key, header and signature)
  const pre = input.pre;
  let valid: boolean;
  if (pre !== undefined && pre.ok !== undefined && pre.key === key && equalBytes(pre.signature, signature) && equalBytes(pre.headerBytes, headerBytes)) valid = pre.ok;
  else {
    const scratch = state.signingScratch;
    scratch.set(headerBytes, SIGNING_DOMAIN.length);
    valid = snap.backend.verify(key, scratch.subarray(0, SIGNING_DOMAIN.length + headerBytes.length), signature);
  }
  if (!valid) return rejected(Reason.REASON_BAD_SIGNATURE, '', 0, true, h, headerBytes, signature, payload);
  // 17. the header's payload hash is now authentic; the audit event records the payload's real hash
  if (!equalBytes(sha256(payload), h.payloadSha256)) return rejected(Reason.REASON_PAYLOAD_HASH_MISMATCH, '', 0, true, h, headerBytes, signature, payload);
  // 18. content type and schema
  if (h.contentType !== contract.contentType) return rejected(Reason.REASON_SCHEMA_INVALID, `content type must be ${contract.contentType}`, 0, true, h, headerBytes, signature, payload);
  const decoded = contract.decode(payload);
  if (!decoded.ok) return rejected(Reason.REASON_SCHEMA_INVALID, decoded.detail, 0, true, h, headerBytes, signature, payload);
  // 19. content guards (docs/design.md §12): invisible text, control characters and credentials in the
  // payload's text and the metadata values; each kind reject, flag (delivered, recorded, alerted)
  // or off, from the sender's manifest over the contract over the default (reject)
  const gp = guardPolicyOf(contract, agent);
  let findings: GuardRecord[] | undefined;
  let flagReason: Reason = Reason.REASON_UNSPECIFIED;
  let flagDetail = '';
  if (gp.kinds.length) {
    // a JSON contract hands over the text it decoded and parsed: scanned without a second decode and parse
    const json = contract.contentType === JSON_CONTENT;
    // the policy goes along: a kind it rejects is looked for past the caps (a flood of flagged findings hides nothing)
    const scanned = scanMessage(json && decoded.text !== undefined ? { jsonText: decoded.text, metadata: h.metadata } : { ...(json ? { payload } : textOf(contract, decoded.value)), metadata: h.metadata }, { kinds: gp.kinds, policy: gp.policy });
    if (scanned.findings.length) {
      const applied = applyGuardPolicy(scanned.findings, gp.policy);
      findings = scanned.findings.map((f) => ({ ...f, action: gp.policy[f.kind] === 'reject' ? 'reject' : 'flag' }));
      const first = applied.rejected[0] ?? applied.flagged[0]!;
      // docs/design.md §15: the verdict detail reaches the sender (and, relayed, an agent's model): kind,
      // path and rule only. What the finding decoded (hidden text) is in the findings, for the
      // audit trail and operators.
      const detail = `${first.kind} at ${first.path}${first.rule ? ` (${first.rule})` : ''}`.slice(0, 512);
      if (applied.action === 'reject') return { ...rejected(GUARD_REASONS[first.kind], detail, 0, true, h, headerBytes, signature, payload), findings };
      flagReason = GUARD_REASONS[first.kind];
      flagDetail = `flagged: ${detail}`;
    }
  }
  // 20. a memory request against the sender's grants (docs/design.md §13; the service checks again)
  if (memory) {
    const op = memoryOpOf(h.type);
    if (op) {
      // access only: the quotas and the value size are the service's (it knows the store)
      const g = checkMemoryAccess(agent.manifest.memory, h.sender, op, (decoded.value as { ns: string }).ns);
      if (!g.ok) return rejected(Reason.REASON_MEMORY_NOT_ALLOWED, g.detail, 0, true, h, headerBytes, signature, payload);
    }
  }
  // 20. a tool call's arguments against the sender's constraints (paths, URLs, strings, numbers, CEL)
  let approval = false;
  let heldArgs: string | undefined;
  if (tool) {
    const t = checkToolCall(agent.toolPolicy, tool.server, tool.tool, decoded.value);
    if (!t.ok) return rejected(t.code === 'tool_not_allowed' ? Reason.REASON_TOOL_NOT_ALLOWED : Reason.REASON_ARGUMENT_REFUSED, t.detail, 0, true, h, headerBytes, signature, payload);
    approval = t.approval;
    if (approval) {
      // docs/design.md §15: the approver is shown the whole call, never a cut; what cannot be shown is refused before anyone is asked
      heldArgs = approvalArgs(decoded.value);
      const n = Buffer.byteLength(heldArgs);
      if (n > MAX_APPROVAL_ARGS_BYTES) return rejected(Reason.REASON_ARGUMENT_REFUSED, `arguments of a call that needs approval: ${n} bytes > ${MAX_APPROVAL_ARGS_BYTES}, too large to show an approver in full`, 0, true, h, headerBytes, signature, payload);
    }
  }
  // 20. an approval decides exactly the call it answers (docs/design.md §15): causation_id = the held
  // call (step 22 then checks the depth token its pending notice gave this approver)
  if (h.type === APPROVAL_TYPE && h.recipient) {
    const decides = (decoded.value as { msg_id: string }).msg_id;
    if (!h.causationId.length) return rejected(Reason.REASON_BAD_CAUSATION, `an approval's causation_id must be the held call ${decides}`, 0, true, h, headerBytes, signature, payload);
    const cause = Buffer.from(h.causationId).toString('hex');
    if (cause !== decides) return rejected(Reason.REASON_BAD_CAUSATION, `the approval decides ${decides} but its causation_id is ${cause}`, 0, true, h, headerBytes, signature, payload);
  }
  // 21. rate, last among the local checks: only authenticated, well-formed messages spend tokens
  let rb = state.rates.get(h.sender);
  if (!rb) state.rates.set(h.sender, (rb = { tokens: agent.burst, last: now }));
  rb.tokens = Math.min(agent.burst, rb.tokens + (now - rb.last) * agent.ratePerMs);
  rb.last = now;
  if (rb.tokens < 1) return rejected(Reason.REASON_RATE_LIMITED, `${agent.manifest.rate.per_second}/s`, 0, true, h, headerBytes, signature, payload);
  rb.tokens -= 1;
  // 22. Depth is the verifier's count, not the sender's claim (docs/design.md §5, §9). A causation id must
  // come with the depth token of the message it names, delivered to this sender; the parent's
  // depth is the token's (any verifier can check it, long after the replay window), or what
  // this verifier remembers of it if that is higher.
  let depth = h.depth;
  if (h.causationId.length) {
    const parent = state.depthTokens.causationDepth(h.causationId, h.sender, h.metadata[D.DEPTH_TOKEN_METADATA], agent.subscribeTopics);
    if (parent < 0) {
      const detail = parent === NO_DEPTH_TOKEN ? 'causation_id without a depth token' : 'depth token does not prove causation_id was delivered to this sender';
      return rejected(Reason.REASON_BAD_CAUSATION, detail, depth, true, h, headerBytes, signature, payload);
    }
    depth = Math.max(depth, parent + 1);
    const remembered = state.replay.depthOf(h.causationId);
    if (remembered !== undefined) depth = Math.max(depth, remembered + 1);
  }
  // 23. depth limit
  if (depth > agent.maxDepth) return rejected(Reason.REASON_DEPTH_EXCEEDED, `${depth} > ${agent.maxDepth}`, depth, true, h, headerBytes, signature, payload);
  // 24. replay: this verifier owns the sender's partition, so its memory is the whole truth
  // (rebuilt from the audit stream when it took the partition over). Claimed synchronously.
  const fp = envelopeKey(headerBytes, signature);
  const prev = state.replay.check(h.msgId, fp);
  if (prev === OTHER_ENVELOPE) return rejected(Reason.REASON_REPLAY, '', depth, true, h, headerBytes, signature, payload);
  let verdict: Verdict = Verdict.VERDICT_ACCEPTED;
  if (prev === ABSENT) state.replay.add(h.msgId, fp, depth);
  else {
    verdict = Verdict.VERDICT_DUPLICATE;
    depth = prev;
  }
  const detail = [approval ? APPROVAL_DETAIL : '', flagDetail].filter(Boolean).join('; ');
  return { verdict, reason: flagReason, detail, depth, answer: true, shed: false, approval, ...(heldArgs !== undefined ? { approvalArgs: heldArgs } : {}), ...(findings ? { findings } : {}), header: h, headerBytes, signature, payload };
}

/** A content-guard finding with what the policy did with it (the audit event records both). */
export type GuardRecord = GuardFinding & { action: 'reject' | 'flag' };

const GUARD_REASONS: Record<GuardKind, Reason> = {
  credential: Reason.REASON_CREDENTIAL_DETECTED,
  invisible_text: Reason.REASON_INVISIBLE_TEXT,
  control_chars: Reason.REASON_CONTROL_CHARS,
};
const JSON_CONTENT = 'application/json';

/**
 * A binary payload's text: the fields its contract declares, decoded — every string inside each
 * (repeated, nested messages, map keys and values, oneofs) is scanned, with its path.
 */
function textOf(contract: Contract<any>, value: unknown): { fields?: { value: unknown; names: readonly string[] } } {
  const names = contract.textFields;
  if (!names?.length || !value || typeof value !== 'object') return {};
  return { fields: { value, names } };
}

/** The guard policy of a contract and a sender (cached: both objects are swapped whole on reload). */
const guardCache = new WeakMap<object, WeakMap<object, { policy: ResolvedGuardPolicy; kinds: GuardKind[] }>>();
function guardPolicyOf(contract: Contract<any>, agent: CompiledAgent): { policy: ResolvedGuardPolicy; kinds: GuardKind[] } {
  let byAgent = guardCache.get(contract);
  if (!byAgent) guardCache.set(contract, (byAgent = new WeakMap()));
  let p = byAgent.get(agent);
  if (!p) {
    const policy = resolveGuardPolicy(contract.guards, agent.manifest.guards);
    p = { policy, kinds: scannedKinds(policy) };
    byAgent.set(agent, p);
  }
  return p;
}

/** The detail of an accepted tool call that waits for approval. */
export const APPROVAL_DETAIL = 'held for approval';

/** SHA-256(header ‖ signature), first 16 bytes: equal for a retried envelope, different for any other. */
export function envelopeKey(header: Uint8Array, signature: Uint8Array): Uint8Array {
  return sha256(Buffer.concat([header, signature])).subarray(0, 16);
}

const EMPTY = new Uint8Array(0);

/**
 * The audit event of one decided (not shed) message: what the verifier stores before it
 * delivers or answers (docs/design.md §6). `rawSize` is the size of the received bytes.
 */
export function auditEventOf(d: Decision, subjectSender: string, rawSize: number, eventId: Uint8Array, verifierId: string, verifiedAtMs: number): IAuditEvent {
  const h = d.header;
  return {
    eventId,
    verifierId,
    verifiedAtMs,
    verdict: d.verdict,
    reason: d.reason,
    detail: d.detail,
    subjectSender,
    header: d.headerBytes ?? EMPTY,
    signature: d.signature ?? EMPTY,
    payloadSize: d.payload?.length ?? 0,
    // accepted: the verified header hash is the payload's hash; otherwise compute it
    payloadSha256: d.verdict !== Verdict.VERDICT_REJECTED && h ? h.payloadSha256 : d.payload ? sha256(d.payload) : EMPTY,
    effectiveDepth: d.depth,
    rawSize,
    ...(d.findings ? { findings: d.findings.map((f) => ({ kind: f.kind, path: f.path, rule: f.rule ?? '', hash: f.hash ?? '', detail: f.detail, action: f.action })) } : {}),
    ...memoryOfSafe(d),
  };
}

/** memoryOf, which never throws: a payload nothing can read is recorded as `unreadable` (its row is still written). */
function memoryOfSafe(d: Decision): { memory?: IMemoryAccess } {
  try {
    return memoryOf(d);
  } catch {
    return { memory: { op: memoryOpOf(d.header?.type ?? '') ?? '', ns: '', keyHash: '', valueHash: '', valueSize: d.payload?.length ?? 0, revision: 0, status: UNREADABLE } };
  }
}

/**
 * The memory fields of the audit event (docs/design.md §13): a memory request's, whatever its verdict (what
 * was attempted); the memory service's result or event only when accepted (then it is the
 * service's signed word).
 */
function memoryOf(d: Decision): { memory?: IMemoryAccess } {
  const h = d.header;
  if (!h || !d.payload || !isMemoryType(h.type)) return {};
  const answer = h.type === MEMORY_RESULT_TYPE || h.type === MEMORY_EVENT_TYPE;
  if (answer && (h.sender !== MEMORY_SERVICE || d.verdict === Verdict.VERDICT_REJECTED)) return {};
  if (!answer && h.recipient !== MEMORY_SERVICE) return {};
  const f = memoryAuditFields(h.type, d.payload);
  if (!f) return {};
  return { memory: { op: f.op, ns: f.ns, keyHash: f.key_hash, valueHash: f.value_hash, valueSize: f.value_size, revision: f.revision, status: f.status } };
}

