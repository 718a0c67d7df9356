// Tool calls over the bus (docs/design.md §11): calling tool `tool` of the tool server `server` is a
// request of type `tool.<server>.<tool>` whose payload is the arguments object (JSON); the
// server answers with a `tool.result` reply carrying the MCP CallToolResult. The verifier checks
// the arguments against the tool's pinned input schema and the caller's `tools:` policy; a
// refusal is the usual RejectedError (reason tool_not_allowed, argument_refused, schema_invalid,
// ...), a result with `isError: true` is a ToolError.
//
// Tool types are not in an agent's contract registry (they come from the tool server's
// manifest, which the verifier reads): the client falls back to the contracts here — a
// passthrough JSON object for `tool.*` calls (the verifier does the real check) and
// ToolResultSchema for the `tool.result` answer.
import { z } from 'zod';
import { AGENT_ID_RE, Reason, TOOL_NAME_RE, TOOL_RESULT_TYPE, ToolResultSchema, parseToolType, toolType } from '@agentbus/protocol';
import type { ToolResult } from '@agentbus/protocol';
import { defineMessage } from './contracts.js';
import type { AnyContract } from './contracts.js';
import { ContractError, ToolError } from './errors.js';
import type { AgentClient, InboundMessage, SendOptions } from './client.js';

export { TOOL_RESULT_TYPE, toolType, parseToolType };
export type { ToolResult };

/** How long callTool waits for the result by default. */
export const DEFAULT_TOOL_CALL_TIMEOUT_MS = 30_000;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The arguments of a tool call: any JSON object, kept as it is (no zod record, which would
 * rebuild it). Its schema is the tool's own inputSchema, which the verifier and the tool host
 * check; the SDK only refuses what is not an object.
 */
export const ToolArgsSchema = z.unknown().refine(isObject, 'tool arguments must be a JSON object');

/** The contract of the `tool.result` reply (MCP CallToolResult). */
export const TOOL_RESULT_CONTRACT = defineMessage(TOOL_RESULT_TYPE, ToolResultSchema, { description: 'the result of a tool call (MCP CallToolResult)' });

/** A passthrough JSON contract for a tool call type (`tool.<server>.<tool>`). */
export function toolCallContract(type: string): AnyContract {
  return defineMessage(type, ToolArgsSchema, {
    description: "a tool call: the arguments object, checked against the tool's pinned input schema by the verifier",
  });
}

const callContracts = new Map<string, AnyContract>();

/**
 * The built-in contract of a type no registry holds: a tool call type or tool.result; undefined
 * for anything else (which stays an unknown type).
 */
export function builtinToolContract(type: string): AnyContract | undefined {
  if (type === TOOL_RESULT_TYPE) return TOOL_RESULT_CONTRACT;
  if (!parseToolType(type)) return undefined;
  let c = callContracts.get(type);
  if (!c) {
    c = toolCallContract(type);
    if (callContracts.size < 4096) callContracts.set(type, c);
  }
  return c;
}

/** Options of callTool(). */
export interface CallToolOptions extends Pick<SendOptions, 'metadata' | 'causation' | 'traceparent' | 'retries' | 'approvalWaitMs'> {
  /**
   * How long to wait for the result (default 30 s), an approval hold included: a call whose
   * tools: rule requires approval waits for the approver within this (give it more), then
   * TimeoutError; approvalWaitMs defaults to it.
   */
  timeoutMs?: number;
}

/** The text blocks of a result, joined (what a ToolError's message shows, shortened). */
export function resultText(r: ToolResult): string {
  return r.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text' && typeof (c as { text?: unknown }).text === 'string')
    .map((c) => c.text)
    .join('\n');
}

/**
 * Call `tool` on the tool server `server` with `args`. Resolves with the result; throws
 * RejectedError when the verifier refuses the call (its reason and detail), ToolError when the
 * tool answers with `isError: true`, TimeoutError when no result comes in time.
 */
export async function callTool(
  client: AgentClient<any>,
  server: string,
  tool: string,
  args: Record<string, unknown> = {},
  o: CallToolOptions = {},
): Promise<ToolResult> {
  const type = toolType(server, tool);
  if (!AGENT_ID_RE.test(server)) throw new ContractError(Reason.REASON_UNKNOWN_RECIPIENT, type, `tool server ${JSON.stringify(server)} is not an agent id`);
  if (!TOOL_NAME_RE.test(tool))
    throw new ContractError(
      Reason.REASON_UNKNOWN_TYPE,
      type,
      `tool ${JSON.stringify(tool)} cannot be called on the bus (tool names match ${TOOL_NAME_RE.source})`,
    );
  if (!isObject(args)) throw new ContractError(Reason.REASON_SCHEMA_INVALID, type, 'tool arguments must be a JSON object');
  // tool types are not in the registry's static types: call through the untyped client
  const untyped = client as AgentClient;
  const timeoutMs = o.timeoutMs ?? DEFAULT_TOOL_CALL_TIMEOUT_MS;
  const answer: InboundMessage = await untyped.request(server, type, args, { ...o, timeoutMs, approvalWaitMs: o.approvalWaitMs ?? timeoutMs });
  if (answer.type !== TOOL_RESULT_TYPE)
    throw new ContractError(Reason.REASON_UNKNOWN_TYPE, answer.type, `${server} answered ${type} with ${answer.type}, not ${TOOL_RESULT_TYPE}`);
  const result = answer.payload as ToolResult;
  if (result.isError) throw new ToolError(server, tool, result, answer.msgId, resultText(result));
  return result;
}
