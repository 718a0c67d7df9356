// An MCP client transport over the bus (docs/design.md §11): existing MCP client code (the official SDK's
// `Client`, or anything that speaks JSON-RPC through a Transport) talks to a tool server on the
// bus as if it were a local MCP server:
//
//   const client = new Client({ name: 'me', version: '1' });
//   await client.connect(new BusClientTransport(agent, 'fs', { manifestsDir }));
//   await client.listTools();                       // the server's pinned tools (its manifest)
//   await client.callTool({ name: 'read_text_file', arguments: { path: '/srv/x/a.txt' } });
//
// The transport answers the session itself: `initialize` (tools only), `ping`, `tools/list` from
// the tool server's manifest in `manifestsDir` — the pinned definitions, which are what the
// verifier enforces — and turns `tools/call` into a signed `tool.<server>.<tool>` request
// (callTool). A call the verifier refuses is a JSON-RPC error whose message is the reason and
// its detail; a tool's own failure is its `isError` result, as MCP has it.
//
// It implements the MCP SDK's Transport interface structurally: this package does not depend on
// @modelcontextprotocol/sdk, not even for types.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifestWith, ManifestMcpOnly, isManifestFile } from '@agentbus/protocol';
import type { McpSection } from '@agentbus/protocol';
import { callTool } from './tools.js';
import type { CallToolOptions } from './tools.js';
import { ContractError, RejectedError, TimeoutError, ToolError } from './errors.js';
import type { AgentClient } from './client.js';

/** A JSON-RPC 2.0 message as MCP sends it (request, notification, result or error). */
export interface JsonRpcMessage {
  jsonrpc: '2.0';
  id?: string | number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** The MCP protocol version answered when the client names none (the newest this code knows). */
export const MCP_LATEST_PROTOCOL_VERSION = '2025-11-25';
/** JSON-RPC error code of a tool call the verifier rejected (message: "<reason>: <detail>"). */
export const REJECTED_ERROR_CODE = -32010;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

/** A pinned tool as MCP lists it. */
export interface ListedTool {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/**
 * The tools `server` serves, as its manifest in `manifestsDir` pins them (`mcp.tools`): from
 * `<server>.yaml|yml|json`, or any manifest of that agent. Throws when there is none. Reads only
 * `agent` and `mcp` (ManifestMcpOnly): the rest of the manifest is the verifier's to check, and
 * its tool policy (CEL, RE2) is not loaded into an agent (issue 25).
 */
export function readPinnedTools(manifestsDir: string, server: string): ListedTool[] {
  const named = ['yaml', 'yml', 'json'].map((e) => join(manifestsDir, `${server}.${e}`)).filter((f) => existsSync(f));
  const others = (() => {
    try {
      return readdirSync(manifestsDir)
        .filter(isManifestFile)
        .map((n) => join(manifestsDir, n))
        .filter((f) => !named.includes(f));
    } catch {
      return [];
    }
  })();
  for (const file of [...named, ...others]) {
    let m: ReturnType<typeof parseManifestWith<typeof ManifestMcpOnly>>;
    try {
      m = parseManifestWith(ManifestMcpOnly, readFileSync(file, 'utf8'), file);
    } catch (e) {
      if (named.includes(file)) throw e; // the server's own manifest is broken: say so
      continue;
    }
    if (m.agent !== server) continue;
    if (!m.mcp) throw new Error(`${file}: ${server} is not a tool server (no mcp: section; agentbus mcp pin writes it)`);
    return m.mcp.tools.map((t: McpSection['tools'][number]) => ({ name: t.name, description: t.description, inputSchema: t.input_schema }));
  }
  throw new Error(`no manifest for the tool server ${server} in ${manifestsDir}`);
}

/** Options of BusClientTransport. */
export interface BusClientTransportOptions {
  /** Where the tool server's manifest is (its pinned tools answer tools/list). */
  manifestsDir: string;
  /** Per tool call: timeout (default 30 s), metadata, retries. */
  call?: CallToolOptions;
}

type Handled = { result: unknown } | { error: { code: number; message: string; data?: unknown } };

/** The MCP client side of a tool server on the bus: pass it to an MCP `Client`'s connect(). */
export class BusClientTransport {
  readonly server: string;
  readonly #agent: AgentClient<any>;
  readonly #o: BusClientTransportOptions;
  #closed = false;
  /** Set by the MCP client: each JSON-RPC message from the server. */
  onmessage?: (message: JsonRpcMessage, extra?: unknown) => void;
  /** Set by the MCP client: the transport closed. */
  onclose?: () => void;
  /** Set by the MCP client: a transport error. */
  onerror?: (error: Error) => void;
  sessionId?: string;

  constructor(agent: AgentClient<any>, server: string, o: BusClientTransportOptions) {
    this.#agent = agent;
    this.server = server;
    this.#o = o;
  }

  /** MCP Transport: nothing to open (the agent's bus connection is used). */
  async start(): Promise<void> {
    if (this.#closed) throw new Error('BusClientTransport: closed');
  }

  /** MCP Transport: a request from the MCP client — tools/list answered from the pinned manifest, tools/call sent on the bus as a signed tool call. */
  async send(message: JsonRpcMessage, _options?: unknown): Promise<void> {
    if (this.#closed) throw new Error('BusClientTransport: closed');
    const m = message;
    // responses (this side never asks the client anything) and notifications need no answer
    if (typeof m.method !== 'string' || m.id === undefined || m.id === null) return;
    const id = m.id;
    void this.#handle(m.method, m.params).then(
      (h) => this.#deliver({ jsonrpc: '2.0', id, ...h }),
      (e: unknown) => this.#deliver({ jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message: (e as Error)?.message ?? String(e) } }),
    );
  }

  /** MCP Transport: close (calls onclose). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.onclose?.();
  }

  #deliver(msg: JsonRpcMessage): void {
    if (this.#closed) return;
    try {
      this.onmessage?.(msg);
    } catch (e) {
      this.onerror?.(e as Error);
    }
  }

  async #handle(method: string, params: unknown): Promise<Handled> {
    const p = (params !== null && typeof params === 'object' ? params : {}) as Record<string, unknown>;
    switch (method) {
      case 'initialize':
        return {
          result: {
            protocolVersion: typeof p.protocolVersion === 'string' ? p.protocolVersion : MCP_LATEST_PROTOCOL_VERSION,
            capabilities: { tools: {} },
            serverInfo: { name: this.server, version: '0.1.0' },
          },
        };
      case 'ping':
        return { result: {} };
      case 'tools/list':
        try {
          return { result: { tools: readPinnedTools(this.#o.manifestsDir, this.server) } };
        } catch (e) {
          return { error: { code: INTERNAL_ERROR, message: (e as Error).message } };
        }
      case 'tools/call':
        return this.#call(p);
      default:
        return { error: { code: METHOD_NOT_FOUND, message: `Method not found: ${method} (a tool server on the bus serves tools only)` } };
    }
  }

  async #call(p: Record<string, unknown>): Promise<Handled> {
    const name = p.name;
    const args = p.arguments ?? {};
    if (typeof name !== 'string') return { error: { code: INVALID_PARAMS, message: 'tools/call needs a tool name' } };
    if (args === null || typeof args !== 'object' || Array.isArray(args))
      return { error: { code: INVALID_PARAMS, message: 'tools/call arguments must be an object' } };
    try {
      return { result: await callTool(this.#agent, this.server, name, args as Record<string, unknown>, this.#o.call ?? {}) };
    } catch (e) {
      if (e instanceof ToolError) return { result: e.result };
      if (e instanceof RejectedError)
        return {
          error: { code: REJECTED_ERROR_CODE, message: `${e.reasonName}: ${e.detail}`, data: { reason: e.reasonName, detail: e.detail, msg_id: e.msgId } },
        };
      if (e instanceof ContractError) return { error: { code: INVALID_PARAMS, message: e.message, data: { reason: e.reasonName } } };
      if (e instanceof TimeoutError) return { error: { code: INTERNAL_ERROR, message: e.message } };
      return { error: { code: INTERNAL_ERROR, message: (e as Error)?.message ?? String(e) } };
    }
  }
}
