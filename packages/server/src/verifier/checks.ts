// The verifier's checks, in the order decide() runs them: the one list. decide.ts runs one
// function per name, in this order (its RUN table is keyed by CheckName: a check listed here
// without code, or code for a name not listed, does not compile). PROTOCOL.md §8.2's table is
// generated from this list (scripts/gen-protocol-checks.ts; test/protocol-doc.test.ts fails when
// the committed table differs). Prose refers to a check by its name ("the `rate` check"), never
// by its position: the position is the table's order column, nothing else.
//
// The first check that fails decides; every rejection after `rejection_budget` spends one token
// of the subject sender's rejection budget. An accepted tool call whose policy asks for approval
// is marked `approval` (the verifier holds it until an approver decides).
import { Reason } from '@agentbus/protocol';

export interface Check {
  /** Stable: prose, tests and other implementations refer to the check by it. */
  readonly name: string;
  /** One line: what it checks, and what passes. */
  readonly summary: string;
  /** The reasons it rejects with (`replay` also decides `duplicate` and `accepted`). */
  readonly reasons: readonly Reason[];
  /** PROTOCOL.md §8.2 "check": the rule, normatively (markdown). */
  readonly spec: string;
  /** PROTOCOL.md §8.2 "fails with", when it says more than the reasons in backticks (markdown; must name exactly `reasons`). */
  readonly failsWith?: string;
  /** PROTOCOL.md §8.2 "detail" (informative; markdown). */
  readonly detail: string;
  /**
   * Monitor mode (docs/design.md §18, PROTOCOL.md §8.6): the reasons of this check that are
   * policy, recorded as "would refuse" and delivered for a sender in monitor mode (`note`: the
   * cases of those reasons that are still refused, markdown). Absent: every failure of the check
   * is refused in every mode (identity, integrity, the bus's own bounds).
   */
  readonly monitor?: { readonly reasons: readonly Reason[]; readonly note?: string };
}

export const CHECKS = list([
  {
    name: 'rejection_budget',
    summary: "the subject sender's rejection budget, refilled, holds a token; else the message is shed: nothing parsed, no further check",
    reasons: [Reason.REASON_REJECTION_BUDGET_EXCEEDED],
    spec: "the subject sender's rejection budget has ≥ 1 token after its refill (§8.3)",
    failsWith: '`rejection_budget_exceeded`, **shed**: nothing is parsed or checked',
    detail: '`rejection budget spent: message shed unverified`',
  },
  {
    name: 'reply_subject',
    summary: "the reply subject is empty or inside the subject sender's inbox (a rejection here is never answered)",
    reasons: [Reason.REASON_BAD_REPLY_SUBJECT],
    spec: 'the reply subject is `""` or starts with `agentbus.inbox.<subject sender>.` (with the dot)',
    failsWith: '`bad_reply_subject`: audited, **never answered**',
    detail: 'the reply subject, first 128 characters',
  },
  {
    name: 'partition',
    summary: "a message that came through the partition mapping is on the subject sender's own partition",
    reasons: [Reason.REASON_SENDER_MISMATCH],
    spec: 'if a partition token is given: it equals `FNV-1a-32(subject sender) mod N`',
    detail: '`wrong partition`',
  },
  {
    name: 'framing',
    summary: 'the envelope framing parses (the strict outer parse)',
    reasons: [Reason.REASON_MALFORMED],
    spec: 'envelope framing (§4)',
    detail: '§4',
  },
  {
    name: 'header',
    summary: 'the header decodes and is structurally valid',
    reasons: [Reason.REASON_MALFORMED],
    spec: 'header decoding and validation (§5)',
    detail: '§5',
  },
  {
    name: 'sender_match',
    summary: 'the header sender is the subject sender',
    reasons: [Reason.REASON_SENDER_MISMATCH],
    spec: 'header `sender` = subject sender',
    detail: '`subject says <subject sender>`',
  },
  {
    name: 'sender_known',
    summary: 'the sender has a manifest',
    reasons: [Reason.REASON_UNKNOWN_SENDER],
    spec: 'the sender has a manifest',
    detail: '',
  },
  {
    name: 'key',
    summary: "the key_id is known, not revoked and valid at the verifier's now",
    reasons: [Reason.REASON_UNKNOWN_KEY, Reason.REASON_REVOKED_KEY, Reason.REASON_EXPIRED_KEY],
    spec: 'key resolution at `now` (§7.2)',
    detail: '',
  },
  {
    name: 'size',
    summary: "payload + metadata bytes ≤ the sender's max_payload_bytes",
    reasons: [Reason.REASON_PAYLOAD_TOO_LARGE],
    spec: '`len(payload) + metadata bytes ≤ max_payload_bytes`',
    detail: '`<n> > <max> bytes`, or `<n> + <m> metadata > <max> bytes`',
    monitor: { reasons: [Reason.REASON_PAYLOAD_TOO_LARGE] },
  },
  {
    name: 'freshness',
    summary: 'now − skew ≤ sent_at_ms ≤ now + skew',
    reasons: [Reason.REASON_STALE_TIMESTAMP, Reason.REASON_FUTURE_TIMESTAMP],
    spec: '`now − max_skew_ms ≤ sent_at_ms ≤ now + max_skew_ms`',
    failsWith: '`stale_timestamp` (below), `future_timestamp` (above)',
    detail: '`<d> ms old`, `<d> ms ahead`',
  },
  {
    name: 'recipient',
    summary:
      'the recipient is known and allowed (a tool call: its own server; an approval: a server the sender may approve; a memory request: the memory service), or the topic is allowed',
    reasons: [Reason.REASON_UNKNOWN_RECIPIENT, Reason.REASON_DESTINATION_NOT_ALLOWED],
    spec: "direct: the recipient has a manifest, and the sender may send to it (a tool call `tool.<server>.<tool>`: the recipient is `<server>`; an `approval.decision`: the sender's `approve:` lists the recipient; a memory request `memory.*` to `memory`: no send rule needed); topic: the sender may publish on it (never a tool call)",
    detail: 'the recipient, or `topic <name>`',
    monitor: {
      reasons: [Reason.REASON_DESTINATION_NOT_ALLOWED],
      note: "a send rule or a topic publish rule only; a tool call to another server or a topic, and an `approval.decision` outside the sender's `approve:`, are refused",
    },
  },
  {
    name: 'contract',
    summary: "a contract exists for the type (a tool call: the tool pinned in its server's manifest)",
    reasons: [Reason.REASON_UNKNOWN_TYPE],
    spec: "a contract exists for `type` (a tool call: the tool is pinned in its server's manifest, §15.1)",
    detail: 'the type',
  },
  {
    name: 'type_allowed',
    summary: "the type is allowed for that recipient or topic (a tool call: the tool listed in the sender's tools: policy)",
    reasons: [Reason.REASON_TYPE_NOT_ALLOWED, Reason.REASON_TOOL_NOT_ALLOWED],
    spec: "the sender may send that type to the recipient, or publish it on the topic; a tool call: a rule of the sender's `tools:` lists the server and the tool",
    detail: "the type; `<server>.<tool> is not in <sender>'s tools: policy`",
    monitor: { reasons: [Reason.REASON_TYPE_NOT_ALLOWED, Reason.REASON_TOOL_NOT_ALLOWED] },
  },
  {
    name: 'metadata_keys',
    summary: 'the metadata keys are declared, each value and the whole map bounded',
    reasons: [Reason.REASON_METADATA_NOT_ALLOWED],
    spec: 'every metadata key is allowed; each value ≤ 1024 bytes; the map ≤ 4096 bytes (§7.4)',
    detail: 'names the first offending key (at most 64 characters, non-printable ones as `?`), never a value',
    monitor: { reasons: [Reason.REASON_METADATA_NOT_ALLOWED], note: 'an undeclared key only; a value or map over its bound is refused' },
  },
  {
    name: 'metadata_required',
    summary: 'the required metadata is present and non-empty',
    reasons: [Reason.REASON_METADATA_MISSING],
    spec: 'every required metadata key is present with a non-empty value',
    detail: 'the key',
    monitor: { reasons: [Reason.REASON_METADATA_MISSING] },
  },
  {
    name: 'signature',
    summary: 'the signature over the header as received verifies (the one Ed25519 acceptance rule)',
    reasons: [Reason.REASON_BAD_SIGNATURE],
    spec: 'the signature over `signing_input` verifies under the resolved key (§6)',
    detail: '',
  },
  {
    name: 'payload_hash',
    summary: 'SHA-256(payload) = header.payload_sha256',
    reasons: [Reason.REASON_PAYLOAD_HASH_MISMATCH],
    spec: '`SHA-256(payload) = payload_sha256`',
    detail: '',
  },
  {
    name: 'schema',
    summary: 'the content type, then the payload schema',
    reasons: [Reason.REASON_SCHEMA_INVALID],
    spec: "`content_type` equals the contract's, then the payload satisfies the contract (§7.3; a tool call: the tool's pinned inputSchema, JSON Schema)",
    detail: '`content type must be <ct>`, or the schema issue',
  },
  {
    name: 'content_guards',
    summary: "the payload's text and the metadata values hold no finding the policy rejects (a flagged kind: accepted, reason set)",
    reasons: [Reason.REASON_CREDENTIAL_DETECTED, Reason.REASON_INVISIBLE_TEXT, Reason.REASON_CONTROL_CHARS],
    spec: "content guards (§15.4): the payload's text (JSON: every string, keys too; binary: the contract's `textFields`) and every metadata value hold no finding the policy rejects",
    detail:
      "`<kind> at <path> (<rule>)`: never the secret, never what the finding decoded (that is in the audit event's findings only); a kind the policy flags is accepted with that reason and the detail `flagged: …`",
    monitor: { reasons: [Reason.REASON_CREDENTIAL_DETECTED, Reason.REASON_INVISIBLE_TEXT, Reason.REASON_CONTROL_CHARS] },
  },
  {
    name: 'arguments',
    summary:
      "a tool call's arguments meet the sender's tools: constraints (a call that needs approval: canonical arguments small enough to show whole); a memory request, the sender's memory: grants; an approval's causation_id is the call it decides",
    reasons: [Reason.REASON_ARGUMENT_REFUSED, Reason.REASON_MEMORY_NOT_ALLOWED, Reason.REASON_BAD_CAUSATION],
    spec: "a tool call: some rule of the sender's `tools:` that lists the tool accepts its arguments (§15.2), and if the call needs approval its canonical arguments (§15.3) are at most `MAX_APPROVAL_ARGS_BYTES = 65536` bytes; a memory request to `memory`: the sender's `memory:` grants the operation on the namespace (§15.5); an `approval.decision`: `causation_id` is set and equals the payload's `msg_id` (§15.3)",
    detail:
      "names the argument (`args.path`) and the rule (`tools.<i>`), or `… too large to show an approver in full`; the namespace and what the grant lacks; `an approval's causation_id must be the held call <id>`, `the approval decides <id> but its causation_id is <id>`",
    monitor: {
      reasons: [Reason.REASON_ARGUMENT_REFUSED, Reason.REASON_MEMORY_NOT_ALLOWED],
      note: 'a call that needs approval with arguments too large to show, and an approval not bound to its call, are refused; a call that needs approval is still held',
    },
  },
  {
    name: 'rate',
    summary: "the sender's rate bucket holds a token (only messages that got this far spend one)",
    reasons: [Reason.REASON_RATE_LIMITED],
    spec: "the sender's rate bucket has ≥ 1 token (§8.4)",
    detail: '`<per_second>/s`',
    monitor: { reasons: [Reason.REASON_RATE_LIMITED], note: 'no token is spent' },
  },
  {
    name: 'causation',
    summary: 'a causation_id comes with a depth token that proves delivery to this sender',
    reasons: [Reason.REASON_BAD_CAUSATION],
    spec: 'if `causation_id` is set: a depth token proves it was delivered to this sender (§9)',
    detail: '`causation_id without a depth token`, or `depth token does not prove causation_id was delivered to this sender`',
  },
  {
    name: 'depth',
    summary: "the effective depth ≤ the sender's max_depth",
    reasons: [Reason.REASON_DEPTH_EXCEEDED],
    spec: "the effective depth (§9) ≤ the sender's `max_depth`",
    detail: '`<depth> > <max_depth>`',
    monitor: { reasons: [Reason.REASON_DEPTH_EXCEEDED], note: 'the depth recorded and passed on is still the effective depth' },
  },
  {
    name: 'replay',
    summary: 'msg_id seen with another envelope → replay; the same envelope again → duplicate (depth as remembered); absent → accepted (msg_id claimed)',
    reasons: [Reason.REASON_REPLAY],
    spec: 'replay memory (§8.5): msg_id unknown → **accepted** (and remembered); known with the same fingerprint → **duplicate**; known with another → `replay`',
    detail: '',
  },
]);

/** The reasons some check records as "would refuse" in monitor mode (docs/design.md §18): policy. Every other reason is refused in every mode. */
export const MONITORED_REASONS: ReadonlySet<Reason> = new Set(CHECKS.flatMap((c) => c.monitor?.reasons ?? []));

/** A check's name: `rejection_budget` … `replay`. */
export type CheckName = (typeof CHECKS)[number]['name'];

/** The list, its names kept as literal types (so that CheckName is their union). */
function list<const N extends string>(checks: readonly (Check & { readonly name: N })[]): readonly (Check & { readonly name: N })[] {
  return Object.freeze(checks.map((c) => Object.freeze(c)));
}
/** The check of that name (throws on a name not in the list: a typo in a test is an error). */
export function checkNamed(name: CheckName): Check {
  const c = CHECKS.find((x) => x.name === name);
  if (!c) throw new Error(`no check ${name}`);
  return c;
}
