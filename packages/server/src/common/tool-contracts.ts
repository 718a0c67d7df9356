// The contracts of tool calls, derived from the manifests (docs/design.md §11): each tool a server's
// manifest pins becomes the contract `tool.<server>.<tool>`, whose payload is the call's
// arguments checked against the tool's own inputSchema with Ajv (a maintained JSON Schema
// validator: draft-07 and 2020-12, what MCP servers publish), and `tool.result` is the reply.
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { Reason, allowedMetadataSet, toolType, TOOL_RESULT_TYPE, ToolResultSchema, APPROVAL_TYPE, ApprovalSchema } from '@agentbus/protocol';
import type { Policy } from '@agentbus/protocol/manifest';
import { decodeJsonPayload, defineMessage, JSON_CONTENT_TYPE } from '@agentbus/sdk/internal';
import type { Contract, Decoded } from '@agentbus/sdk/internal';

/** `tool.result`: every tool server's reply (MCP CallToolResult). */
export const ToolResultContract = defineMessage(TOOL_RESULT_TYPE, ToolResultSchema);
/** `approval.decision`: an approver's signed decision on a held call. */
export const ApprovalContract = defineMessage(APPROVAL_TYPE, ApprovalSchema);

function ajvMessage(v: ValidateFunction): string {
  const e = v.errors?.[0];
  if (!e) return 'invalid';
  return `${e.message ?? 'invalid'} at ${e.instancePath ? `args${e.instancePath.replaceAll('/', '.')}` : 'args'}`;
}

/** A JSON message type whose payload is checked by a JSON Schema. */
export function jsonSchemaContract(type: string, schema: Record<string, unknown>, ajv: Ajv): Contract<Record<string, unknown>> {
  const validate = ajv.compile(schema);
  return Object.freeze({
    type,
    contentType: JSON_CONTENT_TYPE,
    critical: false,
    requiredMetadata: [],
    metadata: [],
    allowedMetadata: allowedMetadataSet(type, []),
    description: typeof schema['description'] === 'string' ? schema['description'] : '',
    encode(value: Record<string, unknown>): Decoded<Uint8Array> {
      if (!validate(value)) return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: ajvMessage(validate) };
      return { ok: true, value: new TextEncoder().encode(JSON.stringify(value)) };
    },
    decode(payload: Uint8Array): Decoded<Record<string, unknown>> {
      const parsed = decodeJsonPayload(payload);
      if (!parsed.ok) return parsed;
      const { value: json, text } = parsed;
      if (json === null || typeof json !== 'object' || Array.isArray(json))
        return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: 'tool arguments must be a JSON object' };
      if (!validate(json)) return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: ajvMessage(validate) };
      return { ok: true, value: json as Record<string, unknown>, text };
    },
  });
}

export interface ToolContracts {
  get(type: string): Contract<any> | undefined;
  /** Tools whose pinned schema does not compile: type → why (they have no contract: unknown_type). */
  readonly broken: ReadonlyMap<string, string>;
}

const cache = new WeakMap<Policy, ToolContracts>();

/** The tool contracts of a policy (built once per policy: a manifest reload builds new ones). */
export function toolContracts(policy: Policy): ToolContracts {
  let c = cache.get(policy);
  if (c) return c;
  const ajv = new Ajv({ strict: false, allErrors: false, validateSchema: true });
  const byType = new Map<string, Contract<any>>([
    [TOOL_RESULT_TYPE, ToolResultContract],
    [APPROVAL_TYPE, ApprovalContract],
  ]);
  const broken = new Map<string, string>();
  for (const [server, a] of policy.agents) {
    for (const [name, t] of a.mcpTools) {
      const type = toolType(server, name);
      try {
        byType.set(type, jsonSchemaContract(type, t.input_schema, ajv));
      } catch (e) {
        broken.set(type, (e as Error).message.split('\n')[0]!);
      }
    }
  }
  c = { get: (type) => byType.get(type), broken };
  cache.set(policy, c);
  return c;
}
