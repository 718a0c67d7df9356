// `agentbus mcp proxy`: a local stdio MCP server (the official SDK's Server) that exposes a tool
// server on the bus to any MCP client (an IDE, a desktop assistant, an agent framework) under
// the identity of one agent — the credential file's. tools/list answers the server's pinned
// tools (its manifest); tools/call is a signed tool.<server>.<tool> request through the bus, so
// the verifier checks it against that agent's tools: policy and audits it like any message.
// A call the verifier refuses is a JSON-RPC error "<reason>: <detail>" (code -32010); a tool's
// failure is its isError result. stdout carries only MCP; logs go to stderr.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Readable, Writable } from 'node:stream';
import {
  connectAgent,
  ContractRegistry,
  callTool,
  readPinnedTools,
  RejectedError,
  ToolError,
  ContractError,
  REJECTED_ERROR_CODE,
} from '@agentbus/sdk/internal';
import type { AgentClient, AgentIdentity } from '@agentbus/sdk/internal';

export interface ProxyOptions {
  /** The calling agent's credential file (or identity): calls are signed as this agent. */
  credentials: string | AgentIdentity;
  /** The tool server (an agent) whose tools are exposed. */
  server: string;
  manifestsDir: string;
  servers: string | string[];
  connectOptions?: Record<string, unknown>;
  callTimeoutMs?: number;
  /** Default: process.stdin / process.stdout. */
  stdin?: Readable;
  stdout?: Writable;
}

export interface Proxy {
  agent: AgentClient;
  /** Resolves when the MCP client went away (stdin ended) or stop() was called. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** An error the SDK's Protocol sends as is: { code, message, data } (McpError would prefix its message). */
function rpcError(code: number, message: string, data?: unknown): Error {
  return Object.assign(new Error(message), { code, ...(data !== undefined ? { data } : {}) });
}

export async function startProxy(o: ProxyOptions): Promise<Proxy> {
  // fail before speaking MCP: the server must have pinned tools here
  readPinnedTools(o.manifestsDir, o.server);
  const agent = await connectAgent({
    servers: o.servers,
    credentials: o.credentials,
    contracts: new ContractRegistry(),
    manifestsDir: o.manifestsDir,
    ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}),
  });
  const mcp = new Server(
    { name: `agentbus-${o.server}`, version: '0.1.0' },
    {
      capabilities: { tools: {} },
      instructions: `Tools of ${o.server} on the agentbus bus, called as ${agent.agentId} (every call is signed, checked against ${agent.agentId}'s manifest and audited).`,
    },
  );
  mcp.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: readPinnedTools(o.manifestsDir, o.server) }));
  mcp.setRequestHandler(CallToolRequestSchema, async (req) => {
    try {
      const r = await callTool(agent, o.server, req.params.name, (req.params.arguments ?? {}) as Record<string, unknown>, {
        timeoutMs: o.callTimeoutMs ?? 30_000,
      });
      return r as CallToolResult;
    } catch (e) {
      if (e instanceof ToolError) return e.result as CallToolResult;
      if (e instanceof RejectedError)
        throw rpcError(REJECTED_ERROR_CODE, `${e.reasonName}: ${e.detail}`, { reason: e.reasonName, detail: e.detail, msg_id: e.msgId });
      if (e instanceof ContractError) throw rpcError(-32602, e.message, { reason: e.reasonName });
      throw rpcError(-32603, (e as Error).message);
    }
  });
  const stdin = o.stdin ?? process.stdin;
  const transport = new StdioServerTransport(stdin, o.stdout ?? process.stdout);
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await mcp.close().catch(() => undefined);
    await agent.close().catch(() => undefined);
    resolveDone();
  };
  // the MCP client closed our stdin: it is gone
  stdin.once('end', () => void stop());
  mcp.onclose = () => void stop();
  await mcp.connect(transport);
  return { agent, done, stop };
}
