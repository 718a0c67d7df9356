// `agentbus mcp serve`: a stdio MCP server as the bus agent `<agent>` (docs/design.md §11). It starts
// the server, lists its tools and refuses to serve them if they differ from the ones pinned in
// the agent's manifest (`agentbus mcp pin` writes them); then it connects to the bus as the
// agent and answers every call `tool.<agent>.<tool>` with a `tool.result` reply.
//
// The verifier has checked each call before it arrives (the tool is pinned, the caller's tools:
// policy lists it, the arguments fit the pinned schema and the caller's constraints). The
// wrapper checks again on the tool host, where it matters:
//   1. the arguments against the pinned input schema (Ajv, the verifier's options);
//   2. the caller's tools: policy (defence in depth: a manifest changed in between), and every
//      path argument the accepting rule constrains with `path:` roots, after resolving symlinks
//      on this host (`recheckRealPath`): the verifier only sees the string, a symlink inside
//      the root that points outside it passes there and is refused here;
//   3. the result: at most `mcp.result_max_bytes` of JSON, else an error result says so.
// A refused call is answered with an `isError` result naming the problem (the caller's SDK
// throws ToolError), never silently dropped.
import { Ajv } from 'ajv';
import { pino } from 'pino';
import { toolType, parseToolType, TOOL_RESULT_TYPE, ToolResultSchema, DEFAULT_TOOL_RESULT_MAX_BYTES, visibleDetail } from '@agentbus/protocol';
import { loadManifestDir, dirSignature, Policy } from '@agentbus/protocol/manifest';
import { argPath, checkToolCall, checkToolPath, recheckRealPath, normalizeRoot } from '@agentbus/protocol/tools';
import type { ToolResult } from '@agentbus/protocol';
import type { CompiledAgent } from '@agentbus/protocol/manifest';
import type { ToolRule } from '@agentbus/protocol/tools';
import { connectAgent, ContractRegistry, toolCallContract, TOOL_RESULT_CONTRACT, createLogger, RejectedError } from '@agentbus/sdk/internal';
import type { AgentClient, AgentIdentity, InboundMessage, Logger } from '@agentbus/sdk/internal';
import { jsonSchemaContract } from '../common/tool-contracts.js';
import { startMcpServer, listLiveTools, pinTools, compareTools, describeDiff } from './definitions.js';
import type { McpChild, PinnedTool, StartMcpOptions } from './definitions.js';

export const DEFAULT_TOOL_CALL_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_CONCURRENT_CALLS = 16;

/** Cannot serve: no manifest, nothing pinned, or the live tools differ from the pinned ones. */
export class ToolServerError extends Error {
  override name = 'ToolServerError';
}

export interface ToolServerOptions extends StartMcpOptions {
  agent: string;
  /** The agent's credential file, or a loaded identity. */
  credentials: string | AgentIdentity;
  /** Manifests: this agent's (its pinned tools) and its callers' (their path roots). */
  manifestsDir: string;
  servers: string | string[];
  /** The MCP server's command line. */
  command: string[];
  /** Per call (default 60 s): then the caller gets an error result. */
  callTimeoutMs?: number;
  /** Calls handled at once (default 16); more wait. */
  maxConcurrent?: number;
  connectOptions?: Record<string, unknown>;
  /** Default: pino on stderr, level info. */
  logger?: Logger;
}

export interface ToolServerStats {
  calls: number;
  /** Refused by the wrapper: schema, policy, path re-check, unknown tool. */
  refused: number;
  /** The MCP server failed or timed out. */
  failed: number;
  tooLarge: number;
}

export interface ToolServer {
  agent: string;
  /** The tools served (pinned and live). */
  tools: string[];
  client: AgentClient;
  child: McpChild;
  stats: ToolServerStats;
  /** Resolves when serving ends, with why ("stopped", or the MCP server exited). */
  done: Promise<string>;
  stop(): Promise<void>;
}

const errorResult = (text: string): ToolResult => ({ isError: true, content: [{ type: 'text', text }] });

/** Manifests loaded once per change of the directory; a bad edit keeps the last good ones. */
class PolicyCache {
  #sig = '';
  #policy: Policy | undefined;
  constructor(
    readonly dir: string,
    readonly log: Logger,
  ) {}
  get(): Policy {
    const sig = dirSignature(this.dir);
    if (sig !== this.#sig || !this.#policy) {
      try {
        this.#policy = new Policy(loadManifestDir(this.dir));
        this.#sig = sig;
      } catch (e) {
        if (!this.#policy) throw e;
        this.log.warn({ err: (e as Error).message }, 'manifests do not load; keeping the last good ones');
        this.#sig = sig;
      }
    }
    return this.#policy;
  }
}

/** The path constraints of a rule's arguments: arg name → roots (and base), for values and array items. */
function pathArgs(rule: ToolRule): { name: string; items: boolean; roots: string[]; base: string | undefined }[] {
  const out: { name: string; items: boolean; roots: string[]; base: string | undefined }[] = [];
  for (const [name, c] of Object.entries(rule.args)) {
    const p = c.path ?? c.items?.path;
    if (!p) continue;
    out.push({ name, items: !c.path, roots: p.roots.map(normalizeRoot), base: p.base === undefined ? undefined : normalizeRoot(p.base) });
  }
  return out;
}

/**
 * The caller's policy again, on the tool host: some rule that lists the tool must accept the
 * arguments, and its path arguments must resolve (symlinks followed) inside its roots. Returns
 * the arguments to pass (relative paths made absolute against the rule's base) or the refusal.
 */
export function recheckCall(
  caller: CompiledAgent | undefined,
  server: string,
  tool: string,
  args: Record<string, unknown>,
): { ok: true; args: Record<string, unknown> } | { ok: false; detail: string } {
  if (!caller) return { ok: false, detail: 'the caller has no manifest here' };
  let first: string | undefined;
  for (const rule of caller.toolPolicy.rules) {
    if (!rule.matchesServer(server) || !rule.matchesTool(tool)) continue;
    const d = checkToolCall({ rules: [rule] }, server, tool, args);
    if (!d.ok) {
      first ??= d.detail;
      continue;
    }
    const raw = caller.manifest.tools[rule.index]!;
    const out: Record<string, unknown> = { ...args };
    let bad: string | undefined;
    for (const a of pathArgs(raw)) {
      if (!Object.hasOwn(args, a.name)) continue; // optional and absent (checkToolCall refused a required one)
      const v = args[a.name];
      const values = a.items ? (Array.isArray(v) ? v : []) : [v];
      const fixed: unknown[] = [];
      for (let i = 0; i < values.length && !bad; i++) {
        const at = a.items ? `${argPath('args', a.name)}[${i}]` : argPath('args', a.name);
        const s = values[i];
        if (typeof s !== 'string') {
          bad = `${at} must be a string`;
          break;
        }
        const lex = checkToolPath(s, a.roots, a.base);
        if (!lex.ok) {
          bad = `${at} ${lex.detail}`;
          break;
        }
        const real = recheckRealPath(a.roots, lex.path);
        if (!real.ok) {
          bad = `${at} ${real.detail}`;
          break;
        }
        fixed.push(s.startsWith('/') ? s : lex.path);
      }
      if (bad) break;
      out[a.name] = a.items ? fixed : fixed[0];
    }
    if (!bad) return { ok: true, args: out };
    first ??= `${bad} (rule tools.${rule.index})`;
  }
  return { ok: false, detail: first ?? `${tool} is not in the caller's tools: policy` };
}

function byteLength(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v), 'utf8');
}

/** Start the MCP server, check its tools against the pinned ones, and serve them on the bus. */
export async function startToolServer(o: ToolServerOptions): Promise<ToolServer> {
  const log =
    o.logger ??
    createLogger({ name: `mcp-${o.agent}`, level: process.env.AGENTBUS_LOG_LEVEL ?? 'info', destination: pino.destination({ fd: 2, sync: false }) });
  const policies = new PolicyCache(o.manifestsDir, log);
  const self = policies.get().agents.get(o.agent);
  if (!self)
    throw new ToolServerError(
      `no manifest for ${o.agent} in ${o.manifestsDir} (agentbus keygen ${o.agent}, then agentbus mcp pin --agent ${o.agent} -- <command…>)`,
    );
  if (!self.manifest.mcp || self.manifest.mcp.tools.length === 0)
    throw new ToolServerError(`${o.agent}'s manifest pins no tools: run agentbus mcp pin --agent ${o.agent} -- ${o.command.join(' ')}`);
  const pinned = self.manifest.mcp.tools;

  const child = await startMcpServer(o.command, o);
  let served: PinnedTool[];
  try {
    const live = pinTools(await listLiveTools(child.client));
    const diff = compareTools(live.tools, pinned);
    if (!diff.same) {
      throw new ToolServerError(
        `refusing to serve: the tools of \`${o.command.join(' ')}\` differ from ${o.agent}'s pinned tools (${describeDiff(diff)}); review them, then run agentbus mcp pin --agent ${o.agent} -- ${o.command.join(' ')}`,
      );
    }
    served = live.tools;
  } catch (e) {
    await child.close();
    if (e instanceof ToolServerError) throw e;
    throw new ToolServerError(`cannot list the tools of \`${o.command.join(' ')}\`: ${(e as Error).message}`);
  }

  // the wrapper's own schema check: the pinned schema, with the verifier's Ajv options
  const ajv = new Ajv({ strict: false, allErrors: false, validateSchema: true });
  const validators = new Map<string, ReturnType<typeof jsonSchemaContract>>();
  for (const t of served) {
    try {
      validators.set(t.name, jsonSchemaContract(toolType(o.agent, t.name), t.input_schema, ajv));
    } catch (e) {
      log.warn({ tool: t.name, err: (e as Error).message }, 'input schema does not compile: tool not served');
    }
  }
  // passthrough contracts for the call types (the verifier checked the schema; we check again below)
  const registry = new ContractRegistry([...[...validators.keys()].map((n) => toolCallContract(toolType(o.agent, n))), TOOL_RESULT_CONTRACT]);
  let client: AgentClient;
  try {
    client = await connectAgent({
      servers: o.servers,
      credentials: o.credentials,
      contracts: registry,
      manifestsDir: o.manifestsDir,
      ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}),
    });
  } catch (e) {
    await child.close();
    throw e;
  }
  if (client.agentId !== o.agent) {
    await client.close();
    await child.close();
    throw new ToolServerError(`the credential file is ${client.agentId}'s, not ${o.agent}'s`);
  }

  const stats: ToolServerStats = { calls: 0, refused: 0, failed: 0, tooLarge: 0 };
  const timeout = o.callTimeoutMs ?? DEFAULT_TOOL_CALL_TIMEOUT_MS;
  const maxConcurrent = o.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_CALLS;
  let active = 0;
  const waiting: (() => void)[] = [];
  const inflight = new Set<Promise<void>>();
  let stopping = false;

  const answer = async (msg: InboundMessage): Promise<ToolResult> => {
    const t = parseToolType(msg.type);
    if (!t || t.server !== o.agent) return errorResult(`${o.agent} serves tool calls only (got ${msg.type})`);
    const v = validators.get(t.tool);
    if (!v) {
      stats.refused++;
      return errorResult(`${o.agent} does not serve ${t.tool} (not among the tools it started with; pinned since? restart agentbus mcp serve)`);
    }
    const args = msg.payload as Record<string, unknown>;
    const schema = v.encode(args);
    if (!schema.ok) {
      stats.refused++;
      return errorResult(`refused by the tool host: the arguments do not fit ${t.tool}'s input schema: ${schema.detail}`);
    }
    const policy = policies.get();
    const caller = policy.agents.get(msg.sender);
    const re = recheckCall(caller, o.agent, t.tool, args);
    let callArgs: Record<string, unknown>;
    if (re.ok) callArgs = re.args;
    else if (caller?.monitor && !checkToolCall(caller.toolPolicy, o.agent, t.tool, args).ok) {
      // Monitor mode (docs/design.md §18): the verifier ran this same check, recorded "would
      // refuse" in the signed audit trail and delivered the call: it runs, as given. What only
      // this host can see (a path that passes as a string and resolves outside its root through
      // a symlink) has no such record, and is refused in every mode.
      log.warn({ sender: msg.sender, tool: t.tool, msg_id: msg.msgId, detail: re.detail }, 'tool call: would refuse (monitor mode): served');
      callArgs = args;
    } else {
      stats.refused++;
      log.warn({ sender: msg.sender, tool: t.tool, msg_id: msg.msgId, detail: re.detail }, 'tool call refused by the tool host');
      return errorResult(`refused by the tool host: ${re.detail}`);
    }
    let raw: unknown;
    try {
      raw = await child.client.callTool({ name: t.tool, arguments: callArgs }, undefined, { timeout });
    } catch (e) {
      stats.failed++;
      return errorResult(`the tool call failed on ${o.agent}: ${(e as Error).message}`);
    }
    const parsed = ToolResultSchema.safeParse(raw);
    if (!parsed.success) {
      stats.failed++;
      return errorResult(`${o.agent}'s MCP server answered with something that is not a CallToolResult`);
    }
    const limit = policy.agents.get(o.agent)?.toolResultMaxBytes ?? DEFAULT_TOOL_RESULT_MAX_BYTES;
    const n = byteLength(parsed.data);
    if (n > limit) {
      stats.tooLarge++;
      return errorResult(`result too large: ${n} bytes > ${limit}`);
    }
    return parsed.data;
  };

  const handle = async (msg: InboundMessage): Promise<void> => {
    if (msg.type === TOOL_RESULT_TYPE) return; // an answer to nothing we asked
    stats.calls++;
    let result: ToolResult;
    try {
      result = await answer(msg);
    } catch (e) {
      stats.failed++;
      result = errorResult(`the tool host failed: ${(e as Error).message}`);
    }
    try {
      await client.reply(msg, TOOL_RESULT_TYPE, result);
    } catch (e) {
      // e.g. payload_too_large (result_max_bytes above max_payload_bytes): say so instead
      if (e instanceof RejectedError && !result.isError) {
        try {
          await client.reply(msg, TOOL_RESULT_TYPE, errorResult(`the result could not be sent: ${e.reasonName}: ${visibleDetail(e.detail)}`));
          return;
        } catch {
          /* logged below */
        }
      }
      log.warn({ sender: msg.sender, type: msg.type, msg_id: msg.msgId, err: (e as Error).message }, 'tool result not delivered');
    }
  };

  let resolveDone!: (why: string) => void;
  const done = new Promise<string>((r) => (resolveDone = r));
  const loop = (async () => {
    for await (const msg of client.inbox()) {
      if (active >= maxConcurrent) await new Promise<void>((r) => waiting.push(r));
      active++;
      const p = handle(msg).finally(() => {
        active--;
        inflight.delete(p);
        waiting.shift()?.();
      });
      inflight.add(p);
    }
  })();
  loop.catch((e: Error) => log.error({ err: e.message }, 'inbox ended'));

  const stop = async (why = 'stopped') => {
    if (stopping) return;
    stopping = true;
    await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 2000).unref())]);
    await client.close().catch(() => undefined);
    await child.close();
    resolveDone(why);
  };
  child.onClose(() => {
    if (!stopping) {
      log.error({ command: o.command.join(' ') }, 'the MCP server exited');
      void stop(`the MCP server \`${o.command.join(' ')}\` exited`);
    }
  });

  return { agent: o.agent, tools: [...validators.keys()], client, child, stats, done, stop: () => stop() };
}
