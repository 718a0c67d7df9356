// The verifier's decision as a pure function (docs/design.md §14): the envelope bytes, the subject they
// arrived on, a policy snapshot and the verifier's state in; a verdict out. No I/O, no clock (the
// caller passes `now`), no hidden globals: every piece of state the decision reads or changes is
// in the DecisionState it is given. verifier/verifier.ts does the I/O around it (receive, decide,
// record the audit event, forward, answer). PROTOCOL.md §8 specifies the same list for other
// implementations, and protocol/vectors/decisions.json exercises it.
//
// THE CHECKS are CHECKS in verifier/checks.ts: each with its name, reasons and rule, in the order
// decide() runs them (PROTOCOL.md §8.2's table is generated from that list). Here, RUN holds the
// code of each check by name; a check reads what the checks before it found from the message's
// CheckContext and rejects with reject(c, reason, detail). What kind of message it is (plain,
// tool call, approval, memory request) is found once, by the `header` check.
//
// Allocation: one Decision object per message (none for a shed one: two frozen constants), plus
// what parsing, decoding and hashing allocate (the CheckContext is the state's, reused); the input
// object may be reused by the caller.
import { isAscii } from 'node:buffer';
import { Reason, Verdict, reasonName } from '@agentbus/protocol';
import type { IAuditEvent, IMemoryAccess } from '@agentbus/protocol';
import { parseEnvelope, decodeHeader, sha256, equalBytes, SIGNING_DOMAIN, MAX_HEADER_BYTES } from '@agentbus/protocol';
import type { HeaderFields, EnvelopeParts } from '@agentbus/protocol';
import { metadataBytes, checkMetadata } from '@agentbus/protocol';
import type { Ed25519Backend } from '@agentbus/protocol';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import type { Policy } from '@agentbus/protocol/manifest';
import { ReplayTable, ABSENT, OTHER_ENVELOPE } from './replay-table.js';
import { DepthTokens, NO_DEPTH_TOKEN, ReplyRoutes } from '@agentbus/protocol';
import { partitionOf } from '../common/partitions.js';
import * as D from '@agentbus/protocol';
import { parseToolType, APPROVAL_TYPE, approvalArgs, MAX_APPROVAL_ARGS_BYTES, applyGuardPolicy, resolveGuardPolicy, scannedKinds } from '@agentbus/protocol';
import { toolListed, checkToolCall } from '@agentbus/protocol/tools';
import { scanMessage } from '@agentbus/protocol/guard';
import {
  UNREADABLE,
  MEMORY_SERVICE,
  MEMORY_REQUEST_TYPES,
  MEMORY_RESULT_TYPE,
  MEMORY_EVENT_TYPE,
  memoryOpOf,
  checkMemoryAccess,
  isMemoryType,
  memoryAuditFields,
} from '@agentbus/protocol';
import { builtinMemoryContract, builtinA2aContract } from '@agentbus/sdk/internal';
import type { GuardFinding, GuardKind, ResolvedGuardPolicy } from '@agentbus/protocol';
import type { CompiledAgent } from '@agentbus/protocol/manifest';
import type { Contract } from '@agentbus/sdk/internal';
import { toolContracts } from '../common/tool-contracts.js';
import { CHECKS } from './checks.js';
import type { CheckName } from './checks.js';
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
   * A signature check done ahead, off the event loop (signatureCheckOf + VerifyPool). The
   * `signature` check uses its verdict only for exactly the key, header bytes and signature it finds itself;
   * otherwise (or when `ok` is undefined: not checked) it verifies inline.
   */
  pre?: SignatureCheck | undefined;
}

/** What the `signature` check would verify: the sender's key (as resolved at the message's time), the header as received, the signature. */
export interface SignatureCheck {
  key: Uint8Array;
  headerBytes: Uint8Array;
  signature: Uint8Array;
  ok: boolean | undefined;
  /** The bytes it was found in, and what was parsed from them (the `framing` and `header` checks reuse it for the same bytes). */
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
  /** Number of sender partitions (the `partition` check). */
  readonly partitions: number;
  /** Any backend: all apply the same acceptance rule (docs/signature-rule.md), so the verdict does not depend on it. */
  readonly backend: Ed25519Backend;
  /** The tool contracts the manifests pin (derived from `policy` by policySnapshot). */
  readonly tools?: ToolContracts;
}

export function policySnapshot(s: PolicySnapshot): PolicySnapshot {
  return Object.freeze({
    policy: s.policy,
    contracts: s.contracts,
    maxSkewMs: s.maxSkewMs,
    partitions: s.partitions,
    backend: s.backend,
    tools: toolContracts(s.policy),
  });
}

/** The outcome for one message. */
export interface Decision {
  readonly verdict: Verdict;
  /** REASON_UNSPECIFIED unless rejected. */
  readonly reason: Reason;
  /** Short, secret-free explanation (never a metadata value or payload content). */
  readonly detail: string;
  /** The effective chain depth (0 for rejections before the `causation` check; the claim for bad_causation). */
  readonly depth: number;
  /** May the verifier answer on the reply subject? False for bad_reply_subject, and for a shed message whose reply subject is outside the sender's inbox. */
  readonly answer: boolean;
  /** Shed by the `rejection_budget` check: not checked, counted in the sender's budget record, audited in aggregate. */
  readonly shed: boolean;
  /** An accepted tool call whose tools: policy requires approval: held until an approver decides. */
  readonly approval?: boolean;
  /** With `approval`: the call's canonical arguments (approvalArgs), what the approver is shown and signs. */
  readonly approvalArgs?: string;
  /** Content-guard findings (rejected ones, or flagged ones of an accepted message). */
  readonly findings?: readonly GuardRecord[];
  /** The decoded header, once the `header` check passed (unverified before the `signature` check). */
  readonly header: HeaderFields | undefined;
  /** Decided in monitor mode (docs/design.md §18): the sender is known and its manifest (or project default) says `enforce: monitor`. */
  readonly monitor: boolean;
  /** Monitor mode, accepted or duplicate: the reason enforcing would have refused it with (REASON_UNSPECIFIED: none). */
  readonly wouldRefuse: Reason;
  /** The envelope's parts, once the `framing` check passed (views into the input bytes). */
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
  /** Reply routes to workers (docs/design.md §18), under the same shared key. */
  readonly replyRoutes: ReplyRoutes;
  /** Scratch for "agentbus/v1/envelope\0" ‖ header: no allocation per signature check. */
  readonly signingScratch: Buffer;
  /** The message being checked (decide() is synchronous: one is enough). */
  readonly ctx = new CheckContext();

  constructor(o: { replayWindowMs: number; depthKey: Uint8Array; now: number }) {
    this.replay = new ReplayTable(o.replayWindowMs, o.now);
    this.depthTokens = new DepthTokens(o.depthKey);
    this.replyRoutes = new ReplyRoutes(o.depthKey);
    this.signingScratch = Buffer.alloc(SIGNING_DOMAIN.length + MAX_HEADER_BYTES);
    this.signingScratch.set(SIGNING_DOMAIN, 0);
  }
}

export const SHED_DETAIL = 'rejection budget spent: message shed unverified';
export const WRONG_PARTITION_DETAIL = 'wrong partition';

function shedDecision(answer: boolean): Decision {
  return Object.freeze({
    verdict: Verdict.VERDICT_REJECTED,
    reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED,
    detail: SHED_DETAIL,
    depth: 0,
    answer,
    shed: true,
    monitor: false,
    wouldRefuse: Reason.REASON_UNSPECIFIED,
    header: undefined,
    headerBytes: undefined,
    signature: undefined,
    payload: undefined,
  });
}
const SHED_ANSWERED = shedDecision(true);
const SHED_SILENT = shedDecision(false);

/** The subject sender's budget record, created with a full bucket, refreshed when the snapshot changed. */
function budgetOf(state: DecisionState, snap: PolicySnapshot, sender: string, now: number): SenderBudget {
  let b = state.budgets.get(sender);
  if (b === undefined) {
    b = {
      sender,
      inboxPrefix: `${D.SUBJECT_INBOX_PREFIX}${sender}.`,
      ownPartition: 0,
      tokens: 0,
      last: now,
      perMs: 0,
      burst: 0,
      snapshot: undefined,
      shed: 0,
      shedStart: 0,
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

/** What a message is, found once from its header (by the `header` check) for the checks that treat the kinds differently. */
export type MessageKind = 'plain' | 'tool' | 'approval' | 'memory';

/**
 * A tool call (`tool.<server>.<tool>`, whatever its destination: one to a topic is refused by the
 * `recipient` check); an approval (`approval.decision` to a recipient: the held call's server); a
 * memory request (a `memory.*` request type to the memory service); else plain.
 */
function kindOf(h: HeaderFields, tool: ToolRef | undefined): MessageKind {
  if (tool) return 'tool';
  if (h.recipient) {
    if (h.type === APPROVAL_TYPE) return 'approval';
    if (h.recipient === MEMORY_SERVICE && (MEMORY_REQUEST_TYPES as readonly string[]).includes(h.type)) return 'memory';
  }
  return 'plain';
}
type ToolRef = { server: string; tool: string };

/**
 * One message while its checks run: the input, and what each check found that later checks use.
 * One per DecisionState, reset for every message (decide() is synchronous), so checking allocates
 * nothing of its own. A field is set by the check its comment names and read only by checks after
 * it in CHECKS; before that it is undefined, whatever its type says.
 */
export class CheckContext {
  input!: DecisionInput;
  snap!: PolicySnapshot;
  state!: DecisionState;
  budget!: SenderBudget;
  now = 0;
  /** May the verdict be answered on the reply subject (`reply_subject`). */
  answer = true;
  /** A signature check done ahead from these same bytes (`framing`). */
  ahead: SignatureCheck | undefined = undefined;
  /** The envelope's parts (`framing`). */
  headerBytes!: Uint8Array;
  signature!: Uint8Array;
  payload!: Uint8Array;
  /** The decoded header, its kind and, for a tool call, its server and tool (`header`). */
  h!: HeaderFields;
  kind: MessageKind = 'plain';
  tool: ToolRef | undefined = undefined;
  /** The sender's compiled manifest (`sender_known`). */
  agent!: CompiledAgent;
  /** The sender's key at `now` (`key`). */
  key!: Uint8Array;
  /** The type's contract (`contract`). */
  contract!: Contract<any>;
  /** The decoded payload, and the text a JSON contract decoded it from (`schema`). */
  value: unknown = undefined;
  text: string | undefined = undefined;
  /** Content-guard findings, and the reason and detail of a flagged one (`content_guards`). */
  findings: GuardRecord[] | undefined = undefined;
  flagReason: Reason = Reason.REASON_UNSPECIFIED;
  flagDetail = '';
  /** A tool call held for approval, and its canonical arguments (`arguments`). */
  approval = false;
  heldArgs: string | undefined = undefined;
  /** The effective depth: 0 until `causation`, then the claim, then the effective depth (`causation`, `replay`). */
  depth = 0;
  /** accepted or duplicate (`replay`). */
  verdict: Verdict = Verdict.VERDICT_ACCEPTED;
  /** Monitor mode: the first policy refusal, which enforcing would have answered (`refuse`), and its detail. */
  wouldRefuse: Reason = Reason.REASON_UNSPECIFIED;
  wouldDetail = '';
  /** Index in CHECKS of the check that decided the last message (the last one when all passed). */
  decidedBy = 0;

  reset(input: DecisionInput, snap: PolicySnapshot, state: DecisionState, budget: SenderBudget): void {
    this.input = input;
    this.snap = snap;
    this.state = state;
    this.budget = budget;
    this.now = input.now;
    this.answer = true;
    this.ahead = undefined;
    this.headerBytes = undefined!;
    this.signature = undefined!;
    this.payload = undefined!;
    this.h = undefined!;
    this.kind = 'plain';
    this.tool = undefined;
    this.agent = undefined!;
    this.key = undefined!;
    this.contract = undefined!;
    this.value = undefined;
    this.text = undefined;
    this.findings = undefined;
    this.flagReason = Reason.REASON_UNSPECIFIED;
    this.flagDetail = '';
    this.approval = false;
    this.heldArgs = undefined;
    this.depth = 0;
    this.verdict = Verdict.VERDICT_ACCEPTED;
    this.wouldRefuse = Reason.REASON_UNSPECIFIED;
    this.wouldDetail = '';
  }
}

/** The one way a check rejects: the reason and detail; the rest (depth, answer, the parts found so far) is the message's. */
function reject(c: CheckContext, reason: Reason, detail: string): Decision {
  const monitor = c.agent?.monitor === true;
  const d: Decision = {
    verdict: Verdict.VERDICT_REJECTED,
    reason,
    detail,
    depth: c.depth,
    answer: c.answer,
    shed: false,
    monitor,
    wouldRefuse: Reason.REASON_UNSPECIFIED,
    header: c.h,
    headerBytes: c.headerBytes,
    signature: c.signature,
    payload: c.payload,
  };
  // monitor mode: a guard finding the policy rejects was recorded and the checks went on; a later rejection keeps it on the record
  return monitor && c.findings !== undefined ? { ...d, findings: c.findings } : d;
}

/**
 * A policy refusal (docs/design.md §18; CHECKS' `monitor` reasons): for a sender in enforce mode the
 * rejection; in monitor mode the first one is kept as what enforcing would have refused, and the
 * checks go on (undefined), so that identity and integrity are still checked and the message is
 * delivered only if they pass. Only checks after `sender_known` call it: the mode is the sender's.
 */
function refuse(c: CheckContext, reason: Reason, detail: string): Decision | undefined {
  if (!c.agent.monitor) return reject(c, reason, detail);
  if (c.wouldRefuse === Reason.REASON_UNSPECIFIED) {
    c.wouldRefuse = reason;
    c.wouldDetail = detail;
  }
  return undefined;
}

/** A check: undefined when the message passes it, else the decision (a rejection, or the shed answer). */
type Run = (c: CheckContext) => Decision | undefined;

/** The code of each check of CHECKS (checks.ts), by name; decide() runs them in CHECKS' order. */
const RUN: Record<CheckName, Run> = {
  rejection_budget(c) {
    // before anything looks at the bytes
    const b = c.budget;
    const tokens = budgetTokens(b, c.now);
    b.tokens = tokens;
    b.last = c.now;
    if (tokens >= 1) return undefined;
    if (b.shed++ === 0) b.shedStart = c.now;
    return replyOk(c.input.reply, b) ? SHED_ANSWERED : SHED_SILENT;
  },
  reply_subject(c) {
    // otherwise the verifier could be made to publish into another agent's inbox
    if (replyOk(c.input.reply, c.budget)) return undefined;
    c.answer = false;
    // parsed only so that the audit event can show what it was
    const p = parseEnvelope(c.input.data);
    if (p.ok) {
      ({ headerBytes: c.headerBytes, signature: c.signature, payload: c.payload } = p.value);
      const hd = decodeHeader(p.value.headerBytes);
      if (hd.ok) c.h = hd.value;
    }
    return reject(c, Reason.REASON_BAD_REPLY_SUBJECT, c.input.reply.slice(0, 128));
  },
  partition(c) {
    // NATS permissions pin each agent to its own partition; this is the second fence (a
    // sender's messages must all reach one owner, or its replay state would split)
    const p = c.input.partition;
    return p !== undefined && p !== c.budget.ownPartition ? reject(c, Reason.REASON_SENDER_MISMATCH, WRONG_PARTITION_DETAIL) : undefined;
  },
  framing(c) {
    // parsed already when the signature was checked ahead from these same bytes
    const data = c.input.data;
    const ahead = c.input.pre !== undefined && c.input.pre.data === data ? c.input.pre : undefined;
    c.ahead = ahead;
    let parsed: EnvelopeParts;
    if (ahead?.parts) parsed = ahead.parts;
    else {
      const parts = parseEnvelope(data);
      if (!parts.ok) return reject(c, parts.reason, parts.detail);
      parsed = parts.value;
    }
    c.headerBytes = parsed.headerBytes;
    c.signature = parsed.signature;
    c.payload = parsed.payload;
    return undefined;
  },
  header(c) {
    const ahead = c.ahead;
    if (ahead?.parts && ahead.header)
      c.h = ahead.header; // the parts are ahead's too (`framing`)
    else {
      const hd = decodeHeader(c.headerBytes);
      if (!hd.ok) return reject(c, hd.reason, hd.detail);
      c.h = hd.value;
    }
    c.tool = parseToolType(c.h.type);
    c.kind = kindOf(c.h, c.tool);
    return undefined;
  },
  sender_match(c) {
    return c.h.sender !== c.input.subjectSender ? reject(c, Reason.REASON_SENDER_MISMATCH, `subject says ${c.input.subjectSender}`) : undefined;
  },
  sender_known(c) {
    const agent = c.snap.policy.agents.get(c.h.sender);
    if (!agent) return reject(c, Reason.REASON_UNKNOWN_SENDER, '');
    c.agent = agent;
    return undefined;
  },
  key(c) {
    // at the verifier's time
    const key = c.snap.policy.resolveKey(c.h.sender, c.h.keyId, c.now);
    if (typeof key === 'number') return reject(c, key, '');
    c.key = key;
    return undefined;
  },
  size(c) {
    // header metadata counts against max_payload_bytes together with the payload (docs/design.md §9)
    const { payload, h, agent } = c;
    const metaBytes = metadataBytes(h.metadata);
    if (payload.length + metaBytes <= agent.maxPayload) return undefined;
    return refuse(
      c,
      Reason.REASON_PAYLOAD_TOO_LARGE,
      metaBytes ? `${payload.length} + ${metaBytes} metadata > ${agent.maxPayload} bytes` : `${payload.length} > ${agent.maxPayload} bytes`,
    );
  },
  freshness(c) {
    const { h, now } = c;
    const skew = c.snap.maxSkewMs;
    if (h.sentAtMs < now - skew) return reject(c, Reason.REASON_STALE_TIMESTAMP, `${now - h.sentAtMs} ms old`);
    if (h.sentAtMs > now + skew) return reject(c, Reason.REASON_FUTURE_TIMESTAMP, `${h.sentAtMs - now} ms ahead`);
    return undefined;
  },
  recipient(c) {
    // a tool call goes to its server, and the `type_allowed` check (the tools: policy) says
    // whether the sender may call it, not a send rule; a memory request goes to the memory
    // service, and the sender's memory: grants decide (the `arguments` check)
    const { h, agent, tool } = c;
    if (h.recipient) {
      if (!c.snap.policy.agents.has(h.recipient)) return reject(c, Reason.REASON_UNKNOWN_RECIPIENT, h.recipient);
      switch (c.kind) {
        case 'tool':
          return tool!.server !== h.recipient
            ? reject(c, Reason.REASON_DESTINATION_NOT_ALLOWED, `a tool call of ${tool!.server} goes to ${tool!.server}, not ${h.recipient}`)
            : undefined;
        case 'approval':
          // an approval goes to the held call's server, from an agent whose manifest may approve its calls
          return !agent.canApprove(h.recipient)
            ? reject(c, Reason.REASON_DESTINATION_NOT_ALLOWED, `${h.sender} may not approve calls of ${h.recipient} (approve: in its manifest)`)
            : undefined;
        case 'memory':
          return undefined;
        default:
          // a send rule: policy (monitor mode records it); the cases above are what the message is, refused in every mode
          return !agent.canSendTo(h.recipient) ? refuse(c, Reason.REASON_DESTINATION_NOT_ALLOWED, h.recipient) : undefined;
      }
    }
    if (c.kind === 'tool') return reject(c, Reason.REASON_DESTINATION_NOT_ALLOWED, `a tool call goes to its server, not to topic ${h.topic}`);
    return !agent.canPublishTopic(h.topic) ? refuse(c, Reason.REASON_DESTINATION_NOT_ALLOWED, `topic ${h.topic}`) : undefined;
  },
  contract(c) {
    // a tool's: pinned in its server's manifest
    const { h, tool, snap } = c;
    const contract = snap.contracts.get(h.type) ?? snap.tools?.get(h.type) ?? builtinMemoryContract(h.type) ?? builtinA2aContract(h.type);
    if (!contract)
      return reject(c, Reason.REASON_UNKNOWN_TYPE, tool ? `${h.type}: ${tool.server} serves no tool ${tool.tool} (none pinned in its manifest)` : h.type);
    c.contract = contract;
    return undefined;
  },
  type_allowed(c) {
    const { h, agent, tool } = c;
    switch (c.kind) {
      case 'tool':
        // the tool listed in the sender's tools: policy
        return !toolListed(agent.toolPolicy, tool!.server, tool!.tool)
          ? refuse(c, Reason.REASON_TOOL_NOT_ALLOWED, `${tool!.server}.${tool!.tool} is not in ${h.sender}'s tools: policy`)
          : undefined;
      case 'approval': // allowed by approve: (the `recipient` check)
      case 'memory': // decided by memory: (the `arguments` check)
        return undefined;
      default:
        return (h.recipient ? !agent.canSendType(h.recipient, h.type) : !agent.canPublishTopicType(h.topic, h.type))
          ? refuse(c, Reason.REASON_TYPE_NOT_ALLOWED, h.type)
          : undefined;
    }
  },
  metadata_keys(c) {
    // keys from the declared set only, each value and the whole map bounded
    const md = checkMetadata(c.contract.allowedMetadata, c.h.metadata, c.h.type);
    if (md.ok) return undefined;
    if (!c.agent.monitor) return reject(c, md.reason, md.detail);
    // monitor mode: an undeclared key is the contract's policy; the bounds are the protocol's (docs/design.md §9), refused in every mode
    const bounds = checkMetadata(ANY_KEY, c.h.metadata, c.h.type);
    return bounds.ok ? refuse(c, md.reason, md.detail) : reject(c, bounds.reason, bounds.detail);
  },
  metadata_required(c) {
    const metadata = c.h.metadata;
    for (const k of c.contract.requiredMetadata) if (!metadata[k]) return refuse(c, Reason.REASON_METADATA_MISSING, k);
    return undefined;
  },
  signature(c) {
    // over the header bytes as received (checked ahead on a worker thread when `pre` holds the
    // verdict for exactly this key, header and signature)
    const { key, headerBytes, signature } = c;
    const pre = c.input.pre;
    let valid: boolean;
    if (pre !== undefined && pre.ok !== undefined && pre.key === key && equalBytes(pre.signature, signature) && equalBytes(pre.headerBytes, headerBytes))
      valid = pre.ok;
    else {
      const scratch = c.state.signingScratch;
      scratch.set(headerBytes, SIGNING_DOMAIN.length);
      valid = c.snap.backend.verify(key, scratch.subarray(0, SIGNING_DOMAIN.length + headerBytes.length), signature);
    }
    return valid ? undefined : reject(c, Reason.REASON_BAD_SIGNATURE, '');
  },
  payload_hash(c) {
    // the header's payload hash is now authentic; the audit event records the payload's real hash
    return equalBytes(sha256(c.payload), c.h.payloadSha256) ? undefined : reject(c, Reason.REASON_PAYLOAD_HASH_MISMATCH, '');
  },
  schema(c) {
    // the content type, then the payload against the contract
    const contract = c.contract;
    if (c.h.contentType !== contract.contentType) return reject(c, Reason.REASON_SCHEMA_INVALID, `content type must be ${contract.contentType}`);
    const decoded = contract.decode(c.payload);
    if (!decoded.ok) return reject(c, Reason.REASON_SCHEMA_INVALID, decoded.detail);
    c.value = decoded.value;
    c.text = decoded.text;
    return undefined;
  },
  content_guards(c) {
    // docs/design.md §12: invisible text, control characters and credentials in the payload's
    // text and the metadata values; each kind reject, flag (delivered, recorded, alerted) or
    // off, from the sender's manifest over the contract over the default (reject)
    const { contract, h } = c;
    const gp = guardPolicyOf(contract, c.agent);
    if (!gp.kinds.length) return undefined;
    // a JSON contract hands over the text it decoded and parsed: scanned without a second decode and parse
    const json = contract.contentType === JSON_CONTENT;
    // the policy goes along: a kind it rejects is looked for past the caps (a flood of flagged findings hides nothing)
    const scanned = scanMessage(
      json && c.text !== undefined
        ? { jsonText: c.text, plain: c.payload.length >= PLAIN_PREPASS_MIN && plainJson(c.payload), metadata: h.metadata }
        : { ...(json ? { payload: c.payload } : textOf(contract, c.value)), metadata: h.metadata },
      { kinds: gp.kinds, policy: gp.policy },
    );
    if (!scanned.findings.length) return undefined;
    const applied = applyGuardPolicy(scanned.findings, gp.policy);
    const findings = scanned.findings.map((f): GuardRecord => ({ ...f, action: gp.policy[f.kind] === 'reject' ? 'reject' : 'flag' }));
    c.findings = findings;
    const first = applied.rejected[0] ?? applied.flagged[0]!;
    // docs/design.md §15: the verdict detail reaches the sender (and, relayed, an agent's model): kind,
    // path and rule only. What the finding decoded (hidden text) is in the findings, for the
    // audit trail and operators.
    const detail = `${first.kind} at ${first.path}${first.rule ? ` (${first.rule})` : ''}`.slice(0, 512);
    if (applied.action === 'reject')
      return c.agent.monitor ? refuse(c, GUARD_REASONS[first.kind], detail) : { ...reject(c, GUARD_REASONS[first.kind], detail), findings };
    c.flagReason = GUARD_REASONS[first.kind];
    c.flagDetail = `flagged: ${detail}`;
    return undefined;
  },
  arguments(c) {
    const { h, agent, tool } = c;
    switch (c.kind) {
      case 'memory': {
        // against the sender's grants (docs/design.md §13; the service checks again): access
        // only, the quotas and the value size are the service's (it knows the store)
        const op = memoryOpOf(h.type);
        if (!op) return undefined;
        const g = checkMemoryAccess(agent.manifest.memory, h.sender, op, (c.value as { ns: string }).ns);
        return g.ok ? undefined : refuse(c, Reason.REASON_MEMORY_NOT_ALLOWED, g.detail);
      }
      case 'tool': {
        // against the sender's constraints (paths, URLs, strings, numbers, CEL)
        const t = checkToolCall(agent.toolPolicy, tool!.server, tool!.tool, c.value);
        if (!t.ok) return refuse(c, t.code === 'tool_not_allowed' ? Reason.REASON_TOOL_NOT_ALLOWED : Reason.REASON_ARGUMENT_REFUSED, t.detail);
        if (!t.approval) return undefined;
        c.approval = true;
        // docs/design.md §15: the approver is shown the whole call, never a cut; what cannot be shown is refused before anyone is asked
        const held = approvalArgs(c.value);
        c.heldArgs = held;
        const n = Buffer.byteLength(held);
        return n > MAX_APPROVAL_ARGS_BYTES
          ? reject(
              c,
              Reason.REASON_ARGUMENT_REFUSED,
              `arguments of a call that needs approval: ${n} bytes > ${MAX_APPROVAL_ARGS_BYTES}, too large to show an approver in full`,
            )
          : undefined;
      }
      case 'approval': {
        // decides exactly the call it answers (docs/design.md §15): causation_id = the held call
        // (the `causation` check then checks the depth token its pending notice gave this approver)
        const decides = (c.value as { msg_id: string }).msg_id;
        if (!h.causationId.length) return reject(c, Reason.REASON_BAD_CAUSATION, `an approval's causation_id must be the held call ${decides}`);
        const cause = Buffer.from(h.causationId).toString('hex');
        return cause !== decides ? reject(c, Reason.REASON_BAD_CAUSATION, `the approval decides ${decides} but its causation_id is ${cause}`) : undefined;
      }
      default:
        return undefined;
    }
  },
  rate(c) {
    // last among the local checks: only authenticated, well-formed messages spend tokens
    const { agent, now } = c;
    const rates = c.state.rates;
    let rb = rates.get(c.h.sender);
    if (!rb) rates.set(c.h.sender, (rb = { tokens: agent.burst, last: now }));
    rb.tokens = Math.min(agent.burst, rb.tokens + (now - rb.last) * agent.ratePerMs);
    rb.last = now;
    // monitor mode: over the rate is recorded, and spends no token (the bucket stays empty)
    if (rb.tokens < 1) return refuse(c, Reason.REASON_RATE_LIMITED, `${agent.manifest.rate.per_second}/s`);
    rb.tokens -= 1;
    return undefined;
  },
  causation(c) {
    // Depth is the verifier's count, not the sender's claim (docs/design.md §5, §9). A causation
    // id must come with the depth token of the message it names, delivered to this sender; the
    // parent's depth is the token's (any verifier can check it, long after the replay window),
    // or what this verifier remembers of it if that is higher.
    const h = c.h;
    c.depth = h.depth;
    if (!h.causationId.length) return undefined;
    const parent = c.state.depthTokens.causationDepth(h.causationId, h.sender, h.metadata[D.DEPTH_TOKEN_METADATA], c.agent.subscribeTopics);
    if (parent < 0)
      return reject(
        c,
        Reason.REASON_BAD_CAUSATION,
        parent === NO_DEPTH_TOKEN ? 'causation_id without a depth token' : 'depth token does not prove causation_id was delivered to this sender',
      );
    c.depth = Math.max(c.depth, parent + 1);
    const remembered = c.state.replay.depthOf(h.causationId);
    if (remembered !== undefined) c.depth = Math.max(c.depth, remembered + 1);
    return undefined;
  },
  depth(c) {
    return c.depth > c.agent.maxDepth ? refuse(c, Reason.REASON_DEPTH_EXCEEDED, `${c.depth} > ${c.agent.maxDepth}`) : undefined;
  },
  replay(c) {
    // this verifier owns the sender's partition, so its memory is the whole truth (rebuilt from
    // the audit stream when it took the partition over). Claimed synchronously.
    const replay = c.state.replay;
    const fp = envelopeKey(c.headerBytes, c.signature);
    const prev = replay.check(c.h.msgId, fp);
    if (prev === OTHER_ENVELOPE) return reject(c, Reason.REASON_REPLAY, '');
    if (prev === ABSENT) replay.add(c.h.msgId, fp, c.depth);
    else {
      c.verdict = Verdict.VERDICT_DUPLICATE;
      c.depth = prev;
    }
    return undefined;
  },
};

/** The checks' code in CHECKS' order. */
const RUNS: readonly Run[] = CHECKS.map((c) => RUN[c.name]);

/** The reply subject is empty or inside the subject sender's inbox. */
function replyOk(reply: string, b: SenderBudget): boolean {
  return reply === '' || reply.startsWith(b.inboxPrefix);
}

/**
 * Decide one message: every check of CHECKS (checks.ts), in its order; the first that fails
 * decides. Applies the state changes to `state` — the rejection budget (refill; one token per
 * rejection; shed counts), the rate bucket (refill; one token per message that reaches the `rate`
 * check), and the replay table (an accepted msg_id is claimed with its fingerprint and depth) —
 * and touches nothing else.
 */
export function decide(input: DecisionInput, snap: PolicySnapshot, state: DecisionState): Decision {
  const b = budgetOf(state, snap, input.subjectSender, input.now);
  const c = state.ctx;
  c.reset(input, snap, state, b);
  for (let i = 0; i < RUNS.length; i++) {
    const d = RUNS[i]!(c);
    if (d === undefined) continue;
    c.decidedBy = i;
    if (!d.shed) b.tokens -= 1; // every rejection after the `rejection_budget` check spends from the budget
    return d;
  }
  c.decidedBy = RUNS.length - 1;
  let detail = c.approval ? (c.flagDetail ? `${APPROVAL_DETAIL}; ${c.flagDetail}` : APPROVAL_DETAIL) : c.flagDetail;
  const wouldRefuse = c.wouldRefuse;
  if (wouldRefuse !== Reason.REASON_UNSPECIFIED) {
    const would = `${WOULD_REFUSE_DETAIL}${reasonName(wouldRefuse)}${c.wouldDetail ? ` (${c.wouldDetail})` : ''}`.slice(0, 512);
    detail = detail ? `${would}; ${detail}` : would;
  }
  const { approval, heldArgs, findings } = c;
  return {
    verdict: c.verdict,
    reason: c.flagReason,
    detail,
    depth: c.depth,
    answer: true,
    shed: false,
    monitor: c.agent.monitor,
    wouldRefuse,
    approval,
    ...(heldArgs !== undefined ? { approvalArgs: heldArgs } : {}),
    ...(findings ? { findings } : {}),
    header: c.h,
    headerBytes: c.headerBytes,
    signature: c.signature,
    payload: c.payload,
  };
}

/** The name of the check that decided the state's last message (`replay` when every check passed): for tests. */
export function decidedBy(state: DecisionState): CheckName {
  return CHECKS[state.ctx.decidedBy]!.name;
}

/**
 * The signature check `decide` would make for this message, found without changing anything:
 * undefined when the message would be shed or rejected before the `signature` check by the cheap
 * checks (rejection_budget, reply_subject, partition, framing, header, sender_match, key), so
 * that nothing is verified ahead for it. Later checks (size, freshness, policy) may still reject
 * it first.
 */
export function signatureCheckOf(input: DecisionInput, snap: PolicySnapshot, state: DecisionState): SignatureCheck | undefined {
  const b = state.budgets.get(input.subjectSender);
  if (b) {
    const tokens = budgetTokens(b, input.now);
    if (tokens < 1 || !replyOk(input.reply, b)) return undefined;
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

/**
 * The guards' fast pre-pass (scanMessage's `plain`): the JSON payload's bytes are ASCII with no
 * backslash (no escape) and no DEL, so no string in it can hold an invisible or control
 * character. Native scans (isAscii is vectorised; indexOf is memchr), ~0.1 ns a byte against the
 * ~1.6 of the Unicode check's per-string test they replace.
 */
const PLAIN_PREPASS_MIN = 1024;
/** (Used from PLAIN_PREPASS_MIN bytes: below, the per-string test costs less than the calls.) */
function plainJson(payload: Uint8Array): boolean {
  // a Buffer view: Buffer's indexOf is memchr, a Uint8Array's includes a loop (~50× slower at 4 KiB)
  const b = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  return isAscii(b) && b.indexOf(0x5c) < 0 && b.indexOf(0x7f) < 0;
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

/** How the detail of a message delivered in monitor mode begins: `would refuse: <reason> (<detail>)`. */
export const WOULD_REFUSE_DETAIL = 'would refuse: ';

/** Every key allowed: checkMetadata then checks only the protocol's bounds. */
const ANY_KEY: ReadonlySet<string> = { has: () => true } as unknown as ReadonlySet<string>;

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
    // monitor mode only: an enforce-mode event carries neither field (its bytes stay as they were)
    ...(d.monitor ? { monitor: true, ...(d.wouldRefuse ? { wouldRefuse: d.wouldRefuse } : {}) } : {}),
    ...(d.findings
      ? { findings: d.findings.map((f) => ({ kind: f.kind, path: f.path, rule: f.rule ?? '', hash: f.hash ?? '', detail: f.detail, action: f.action })) }
      : {}),
    ...memoryOfSafe(d),
  };
}

/** memoryOf, which never throws: a payload nothing can read is recorded as `unreadable` (its row is still written). */
function memoryOfSafe(d: Decision): { memory?: IMemoryAccess } {
  try {
    return memoryOf(d);
  } catch {
    return {
      memory: {
        op: memoryOpOf(d.header?.type ?? '') ?? '',
        ns: '',
        keyHash: '',
        valueHash: '',
        valueSize: d.payload?.length ?? 0,
        revision: 0,
        status: UNREADABLE,
      },
    };
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
