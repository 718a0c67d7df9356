// `agentbus policy check`: a tool call's verdict from the manifests alone, with the verifier's own
// functions (docs/design.md §11): the tool listed by the caller's tools: (decide's `type_allowed` check), the
// arguments against the server's pinned inputSchema (the `schema` check, when the server's manifest
// pins the tool) and against the caller's constraints (the `arguments` check). No bus, no keys: teams test their policies in CI.
import { reasonName, Reason, toolType } from '@agentbus/protocol';
import { Policy, loadManifestDir } from '@agentbus/protocol/manifest';
import { toolListed, checkToolCall } from '@agentbus/protocol/tools';
import { toolContracts } from '../common/tool-contracts.js';

export interface PolicyVerdict {
  verdict: 'allowed' | 'refused';
  /** The verifier's reason when refused (tool_not_allowed, argument_refused, schema_invalid, unknown_sender, unknown_type). */
  reason?: string;
  /** The refused argument's JSON path (args.path), when one is to blame. */
  argument?: string;
  detail?: string;
  /** Allowed, but held until an approver decides. */
  approval: boolean;
  /** What was not checked, and why (e.g. the server's manifest pins no such tool, so no schema check). */
  notes: string[];
}

export class PolicyCheckError extends Error {
  override name = 'PolicyCheckError';
}

export function checkPolicy(o: { manifestsDir: string; agent: string; server: string; tool: string; args: unknown }): PolicyVerdict {
  const policy = new Policy(loadManifestDir(o.manifestsDir));
  const refused = (reason: Reason, detail: string, argument?: string): PolicyVerdict => ({
    verdict: 'refused',
    reason: reasonName(reason),
    detail,
    ...(argument ? { argument } : {}),
    approval: false,
    notes,
  });
  const notes: string[] = [];
  const caller = policy.agents.get(o.agent);
  if (!caller) return refused(Reason.REASON_UNKNOWN_SENDER, `no manifest for agent ${o.agent} in ${o.manifestsDir}`);
  if (!toolListed(caller.toolPolicy, o.server, o.tool))
    return refused(Reason.REASON_TOOL_NOT_ALLOWED, `${o.server}.${o.tool} is not in ${o.agent}'s tools: policy`);
  const type = toolType(o.server, o.tool);
  const server = policy.agents.get(o.server);
  const contract = toolContracts(policy).get(type);
  if (contract) {
    const decoded = contract.decode(new TextEncoder().encode(JSON.stringify(o.args)));
    if (!decoded.ok) return refused(Reason.REASON_SCHEMA_INVALID, decoded.detail);
  } else if (!server) {
    notes.push(
      `no manifest for server ${o.server}: the arguments were not checked against its schema (the verifier refuses calls to an unknown server: unknown_recipient)`,
    );
  } else {
    notes.push(
      `${o.server} pins no tool ${o.tool} (agentbus mcp pin): the arguments were not checked against a schema (the verifier refuses it: unknown_type)`,
    );
  }
  const t = checkToolCall(caller.toolPolicy, o.server, o.tool, o.args);
  if (!t.ok) return refused(t.code === 'tool_not_allowed' ? Reason.REASON_TOOL_NOT_ALLOWED : Reason.REASON_ARGUMENT_REFUSED, t.detail, t.argument);
  return { verdict: 'allowed', approval: t.approval, notes };
}
