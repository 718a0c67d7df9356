// The per-call decision over a compiled `tools:` section (policy.ts), shared by the verifier and
// the MCP wrapper: pure, synchronous, deny by default.
import { argPath, type CompiledToolPolicy, type CompiledToolRule } from './policy.js';

export type ToolCallRefusalCode = 'tool_not_allowed' | 'argument_refused';

export type ToolCallDecision =
  | { ok: true; approval: boolean }
  | {
      ok: false;
      code: ToolCallRefusalCode;
      /** JSON path of the refused argument (args.path, args.paths[1]); absent when no single argument is to blame (when:). */
      argument?: string;
      detail: string;
    };

type Refusal = Extract<ToolCallDecision, { ok: false }>;

/**
 * May this agent (whose manifest compiled to `policy`) call `tool` on `server` with `args`?
 * `args` is the call's arguments as decoded from JSON; undefined is no arguments ({}).
 * A tool no rule lists is `tool_not_allowed`; otherwise the call passes if some matching rule
 * accepts its arguments, and needs approval only if every accepting rule asks for it. When all
 * matching rules refuse, the first one's refusal is returned.
 */
export function checkToolCall(policy: CompiledToolPolicy, server: string, tool: string, args: unknown): ToolCallDecision {
  let first: Refusal | undefined;
  let approvedOnly = false;
  for (const rule of policy.rules) {
    if (!rule.matchesServer(server) || !rule.matchesTool(tool)) continue;
    const r = checkRule(rule, server, tool, args);
    if (r === false) return { ok: true, approval: false };
    if (r === true) approvedOnly = true;
    else first ??= r;
  }
  if (approvedOnly) return { ok: true, approval: true };
  return first ?? { ok: false, code: 'tool_not_allowed', detail: `tool ${show(tool)} on server ${show(server)} is not in this agent's tools: policy` };
}

/** false: accepted without approval; true: accepted, needs approval; otherwise the refusal. */
function checkRule(rule: CompiledToolRule, server: string, tool: string, raw: unknown): boolean | Refusal {
  const where = ` (rule tools.${rule.index})`;
  const args = raw === undefined ? {} : raw;
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    return {
      ok: false,
      code: 'argument_refused',
      argument: 'args',
      detail: `args must be an object, got ${args === null ? 'null' : Array.isArray(args) ? 'array' : typeof args}${where}`,
    };
  }
  const obj = args as Record<string, unknown>;
  let approval = rule.approval;
  for (const a of rule.args) {
    const present = Object.hasOwn(obj, a.name);
    if (!present) {
      if (a.optional) continue;
      return { ok: false, code: 'argument_refused', argument: a.at, detail: `${a.at} is required${where}` };
    }
    const bad = a.check(obj[a.name], a.at);
    if (bad) return { ok: false, code: 'argument_refused', argument: bad.argument, detail: bad.detail + where };
    if (a.approval) approval = true;
  }
  if (rule.denyAdditional) {
    for (const k of Object.keys(obj)) {
      if (!rule.names.has(k)) {
        const at = argPath('args', k);
        return { ok: false, code: 'argument_refused', argument: at, detail: `${at} is not allowed (additional_args: deny)${where}` };
      }
    }
  }
  if (rule.when) {
    const w = rule.when({ args: obj, server, tool });
    if (w !== true) return { ok: false, code: 'argument_refused', detail: w + where };
  }
  return approval;
}

function show(s: string): string {
  return JSON.stringify(s.length > 128 ? `${s.slice(0, 128)}…` : s);
}

/** Does some rule list this server and tool? (the verifier's name check, before it reads the arguments) */
export function toolListed(policy: CompiledToolPolicy, server: string, tool: string): boolean {
  return policy.rules.some((r) => r.matchesServer(server) && r.matchesTool(tool));
}
