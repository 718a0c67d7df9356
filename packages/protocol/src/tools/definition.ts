// Tool servers on the bus (docs/design.md §11): an MCP server wrapped by `agentbus mcp serve` is the agent
// `<server>`; each of its tools is the message type `tool.<server>.<tool>` whose payload is the
// call's arguments (a JSON object checked against the tool's own inputSchema), answered by a
// `tool.result` reply. The server's manifest pins every tool it may serve (`mcp.tools`: name,
// description, input schema and the SHA-256 of their canonical JSON); a server whose live tool
// list differs is refused until the manifest is updated (`agentbus mcp pin`).
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const TOOL_TYPE_PREFIX = 'tool.';
/** The reply type of every tool call. */
export const TOOL_RESULT_TYPE = 'tool.result';
/** Tool names that can be part of a message type. Others are not served. */
export const TOOL_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const DEFAULT_TOOL_RESULT_MAX_BYTES = 65536;

/** What is pinned of a tool: its name, description and input schema, as tools/list gave them. */
export interface ToolDefinition {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

/** JSON with object keys sorted at every level (the hash input). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** SHA-256 (hex) of the canonical JSON of { name, description, inputSchema }. */
export function toolDefinitionHash(d: ToolDefinition): string {
  return createHash('sha256')
    .update(canonicalJson({ name: d.name, description: d.description ?? '', inputSchema: d.inputSchema }))
    .digest('hex');
}

export function toolType(server: string, tool: string): string {
  return `${TOOL_TYPE_PREFIX}${server}.${tool}`;
}

/** `tool.<server>.<tool>` → its parts; undefined for any other type (tool.result included). */
export function parseToolType(type: string): { server: string; tool: string } | undefined {
  if (!type.startsWith(TOOL_TYPE_PREFIX) || type === TOOL_RESULT_TYPE) return undefined;
  const rest = type.slice(TOOL_TYPE_PREFIX.length);
  const dot = rest.indexOf('.');
  if (dot <= 0 || rest.indexOf('.', dot + 1) !== -1) return undefined;
  return { server: rest.slice(0, dot), tool: rest.slice(dot + 1) };
}

/** The manifest's `mcp:` section of a tool server. */
export const McpSection = z.strictObject({
  /** Tool results larger than this (bytes of JSON) are replaced by an error result. */
  result_max_bytes: z.number().int().positive().max(1_048_576).default(DEFAULT_TOOL_RESULT_MAX_BYTES),
  tools: z
    .array(
      z.strictObject({
        name: z.string().regex(TOOL_NAME_RE, 'tool names served on the bus match [a-z0-9][a-z0-9_-]{0,63}'),
        description: z.string().max(65536).default(''),
        input_schema: z.record(z.string(), z.unknown()),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the tool definition'),
      }),
    )
    .max(1024)
    .default([]),
});
export type McpSection = z.infer<typeof McpSection>;

/** The tool result payload (MCP CallToolResult): content blocks, isError, structuredContent. */
export const ToolResultSchema = z.looseObject({
  content: z.array(z.looseObject({ type: z.string() })).default([]),
  isError: z.boolean().optional(),
  structuredContent: z.record(z.string(), z.unknown()).optional(),
});
export type ToolResult = z.infer<typeof ToolResultSchema>;

/**
 * The approval of a held tool call (docs/design.md §11, §15): an approver sends it to the call's server
 * with causation_id = the held call (and the depth token its pending notice gave this approver).
 * It decides that one call once. Approving signs `args_sha256`, the SHA-256 of the call's
 * canonical arguments exactly as the notice showed them (approvalArgs): the verifier delivers the
 * call only if that digest is the held call's. A denial needs no digest.
 */
export const APPROVAL_TYPE = 'approval.decision';
const approvalFields = {
  /** The held call's msg_id (32 hex); equal to the approval's causation_id. */
  msg_id: z.string().regex(/^[0-9a-f]{32}$/, "the held call's msg_id, 32 lower-case hex"),
  reason: z.string().max(500).optional(),
};
/** SHA-256 (hex) of the canonical arguments the approver was shown. */
const argsSha256 = z.string().regex(/^[0-9a-f]{64}$/, 'the hex SHA-256 of the canonical arguments shown');
// a discriminated union rather than a refinement, so that the rule (approving needs the digest)
// is in the contract's JSON Schema export too (agentbus contracts export, other languages)
export const ApprovalSchema = z.discriminatedUnion('approve', [
  z.strictObject({ ...approvalFields, approve: z.literal(true), args_sha256: argsSha256 }),
  z.strictObject({ ...approvalFields, approve: z.literal(false), args_sha256: argsSha256.optional() }),
]);
export type Approval = z.infer<typeof ApprovalSchema>;
/**
 * The largest canonical arguments a call that needs approval may have: what an approver is
 * shown is the whole of it, never a cut. A larger call is refused before anyone is asked.
 */
export const MAX_APPROVAL_ARGS_BYTES = 65536;

/**
 * A held call's arguments as an approver is shown them and as the approval's digest covers:
 * the canonical JSON (RFC 8785: keys sorted by UTF-16 code units, no whitespace, numbers and
 * strings as JSON.stringify writes them) of the parsed arguments — the value the tool host runs.
 */
export function approvalArgs(args: unknown): string {
  return canonicalJson(args);
}

/** SHA-256 (hex) of approvalArgs' text. */
export function approvalArgsSha256(canonicalArgs: string): string {
  return createHash('sha256').update(canonicalArgs).digest('hex');
}

/** Held calls are announced here (JSON), every second while held: agentbus.approval.pending.<server>. */
export const SUBJECT_APPROVAL_PENDING_PREFIX = 'agentbus.approval.pending.';
/** Verifier to verifier: an approval for the call with this msg_id (request/reply). */
export const SUBJECT_INTERNAL_APPROVAL_PREFIX = 'agentbus.internal.approval.';
export const DEFAULT_APPROVAL_TIMEOUT_MS = 120_000;

/** What a pending notice carries (JSON on agentbus.approval.pending.<server>). */
export interface PendingApproval {
  msg_id: string;
  caller: string;
  server: string;
  tool: string;
  /** The arguments in full: their canonical JSON (approvalArgs), never cut. */
  args: string;
  /** SHA-256 (hex) of `args`: what an approval of this call signs. */
  args_sha256: string;
  held_at: string;
  expires_at: string;
  verifier_id: string;
  depth: number;
  /** Per approver: the depth token its approval carries (causation = the call). */
  tokens: Record<string, string>;
}
