// A live MCP server's tools and the manifest's pinned copy of them (docs/design.md §11): start a stdio
// MCP server with the official SDK, list its tools (all pages), turn each into the entry the
// manifest pins (`mcp.tools`: name, description, input_schema, sha256) and compare a live list
// with the pinned one by name — `agentbus mcp pin` writes the entries, `agentbus mcp serve`
// refuses a server whose tools differ from them.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { TOOL_NAME_RE, toolDefinitionHash } from '@agentbus/protocol';
import type { McpSection } from '@agentbus/protocol';

/** A tool as the manifest pins it. */
export type PinnedTool = McpSection['tools'][number];

/** What tools/list gave for one tool (the fields that are pinned; others, such as title or outputSchema, are not). */
export interface LiveTool {
  name: string;
  description?: string | undefined;
  inputSchema: Record<string, unknown>;
}

export interface McpChild {
  client: Client;
  /** The command line it was started with, for messages. */
  command: string[];
  /** The child's pid (null once it has exited). */
  readonly pid: number | null;
  /** Called once when the child's stdio closes (it exited, or close() was called). */
  onClose(fn: () => void): void;
  close(): Promise<void>;
}

export class McpStartError extends Error {
  override name = 'McpStartError';
}

export interface StartMcpOptions {
  /** What happens to the child's stderr: passed through to ours (default), or dropped. */
  stderr?: 'inherit' | 'ignore';
  /** The child's environment (default: ours; the SDK's own default keeps only HOME, PATH and a few). */
  env?: Record<string, string>;
  cwd?: string;
  /** How long initialize may take (default 30 s). */
  timeoutMs?: number;
}

/** Our environment as a string map (undefined values dropped). */
export function inheritedEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** How much of a child's stderr is kept for the message when it fails to start. */
const STDERR_TAIL_BYTES = 4096;
/** How many of its last stderr lines that message shows. */
const STDERR_TAIL_LINES = 3;

/** The last lines of a child's stderr, as one line ("a | b | c"), or '' if it wrote nothing. */
export function stderrTail(text: string, lines = STDERR_TAIL_LINES): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-lines)
    .join(' | ');
}

/**
 * Spawn `command` as a stdio MCP server and complete the MCP handshake with it. The child runs
 * non-interactively (npm_config_yes=true unless set: `npx pkg` installs instead of waiting for a
 * prompt nobody can answer); a child that fails to start is reported with the last lines of its
 * own stderr.
 */
export async function startMcpServer(command: readonly string[], o: StartMcpOptions = {}): Promise<McpChild> {
  if (command.length === 0 || !command[0]) throw new McpStartError('no MCP server command given (after --)');
  const [cmd, ...args] = command as [string, ...string[]];
  // (an empty npm_config_yes counts as unset: npm itself exports it empty to every script it runs)
  const base = o.env ?? inheritedEnv();
  const env = { ...base, npm_config_yes: base['npm_config_yes'] || 'true' };
  // stderr is piped, kept (its tail, for the error below) and passed on to ours unless ignored
  const transport = new StdioClientTransport({ command: cmd, args, stderr: 'pipe', env, ...(o.cwd ? { cwd: o.cwd } : {}) });
  let tail = '';
  const stderr = transport.stderr;
  const stderrEnded = new Promise<void>((resolve) => {
    if (!stderr) return resolve();
    stderr.on('data', (d: Buffer) => {
      if ((o.stderr ?? 'inherit') === 'inherit') process.stderr.write(d);
      tail = (tail + d.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    stderr.on('end', () => resolve());
    stderr.on('close', () => resolve());
    stderr.on('error', () => resolve());
  });
  const client = new Client({ name: 'agentbus-mcp', version: '0.1.0' });
  const closers: (() => void)[] = [];
  let closed = false;
  const fireClose = () => {
    if (closed) return;
    closed = true;
    for (const f of closers.splice(0)) f();
  };
  client.onclose = fireClose;
  try {
    await client.connect(transport, { timeout: o.timeoutMs ?? 30_000 });
  } catch (e) {
    await client.close().catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    // the child has exited (or was stopped): what it wrote last is the reason, read to its end
    await Promise.race([stderrEnded, new Promise((r) => setTimeout(r, 1000).unref())]);
    const said = stderrTail(tail);
    const why = err.code === 'ENOENT' ? `${cmd}: command not found` : `${err.message}${said ? `; its stderr: ${said}` : ' (it wrote nothing on stderr)'}`;
    throw new McpStartError(`cannot start the MCP server \`${command.join(' ')}\`: ${why}`);
  }
  return {
    client,
    command: [...command],
    get pid() {
      return closed ? null : transport.pid;
    },
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
    async close() {
      await client.close().catch(() => undefined);
      fireClose();
    },
  };
}

/** Every tool the server lists (following nextCursor), with the pinned fields only. */
export async function listLiveTools(client: Client, o: { timeoutMs?: number } = {}): Promise<LiveTool[]> {
  const out: LiveTool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const r = await client.listTools(cursor ? { cursor } : {}, { timeout: o.timeoutMs ?? 30_000 });
    for (const t of r.tools) out.push({ name: t.name, description: t.description, inputSchema: t.inputSchema as Record<string, unknown> });
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  return out;
}

/** JSON round trip: what YAML or JSON in a manifest can hold (drops undefined, functions). */
function plainJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** The manifest entries for a live list; tools whose names cannot be message types are skipped (not served). */
export function pinTools(live: readonly LiveTool[]): { tools: PinnedTool[]; skipped: string[] } {
  const tools: PinnedTool[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  for (const t of live) {
    if (!TOOL_NAME_RE.test(t.name) || seen.has(t.name)) {
      skipped.push(t.name);
      continue;
    }
    seen.add(t.name);
    const description = t.description ?? '';
    const input_schema = plainJson(t.inputSchema ?? { type: 'object' });
    tools.push({ name: t.name, description, input_schema, sha256: toolDefinitionHash({ name: t.name, description, inputSchema: input_schema }) });
  }
  tools.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { tools, skipped };
}

export interface ToolChange {
  name: string;
  /** What differs: description, input_schema, or the pinned entry's own sha256 (edited by hand?). */
  fields: ('description' | 'input_schema' | 'sha256')[];
}

export interface ToolDiff {
  added: string[];
  removed: string[];
  changed: ToolChange[];
  unchanged: string[];
  /** No tool added, removed or changed. */
  same: boolean;
}

/** Compare live (pinned form) with the manifest's `mcp.tools`, by name. */
export function compareTools(live: readonly PinnedTool[], pinned: readonly PinnedTool[]): ToolDiff {
  const old = new Map(pinned.map((t) => [t.name, t]));
  const now = new Map(live.map((t) => [t.name, t]));
  const added: string[] = [];
  const changed: ToolChange[] = [];
  const unchanged: string[] = [];
  for (const t of live) {
    const p = old.get(t.name);
    if (!p) {
      added.push(t.name);
      continue;
    }
    const fields: ToolChange['fields'] = [];
    if ((p.description ?? '') !== t.description) fields.push('description');
    if (
      toolDefinitionHash({ name: t.name, description: '', inputSchema: p.input_schema }) !==
      toolDefinitionHash({ name: t.name, description: '', inputSchema: t.input_schema })
    )
      fields.push('input_schema');
    // the entry must be what its hash says (a hand-edited description with the old sha256 is not pinned)
    if (
      fields.length === 0 &&
      (p.sha256 !== t.sha256 || toolDefinitionHash({ name: p.name, description: p.description, inputSchema: p.input_schema }) !== p.sha256)
    )
      fields.push('sha256');
    if (fields.length) changed.push({ name: t.name, fields });
    else unchanged.push(t.name);
  }
  const removed = pinned.filter((t) => !now.has(t.name)).map((t) => t.name);
  return { added, removed, changed, unchanged, same: added.length === 0 && removed.length === 0 && changed.length === 0 };
}

/** "added a, b; removed c; changed d (description)" — or "no change". */
export function describeDiff(d: ToolDiff): string {
  const parts: string[] = [];
  if (d.added.length) parts.push(`added ${d.added.join(', ')}`);
  if (d.removed.length) parts.push(`removed ${d.removed.join(', ')}`);
  if (d.changed.length) parts.push(`changed ${d.changed.map((c) => `${c.name} (${c.fields.join(', ')})`).join(', ')}`);
  return parts.length ? parts.join('; ') : 'no change';
}
