// `agentbus mcp pin`: start an MCP server, list its tools and write them into the tool server
// agent's manifest (`mcp.tools`, keeping `mcp.result_max_bytes`), with the send rule its
// replies need (`{ to: '*', types: [tool.result] }`). The manifest must exist (`agentbus
// keygen NAME`); YAML keeps its comments and layout; the result is validated before it is
// written, and written atomically (the verifier polls the directory).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, isSeq } from 'yaml';
import { TOOL_RESULT_TYPE, DEFAULT_TOOL_RESULT_MAX_BYTES } from '@agentbus/protocol';
import { parseManifest } from '@agentbus/protocol/manifest';
import type { Manifest } from '@agentbus/protocol/manifest';
import { startMcpServer, listLiveTools, pinTools, compareTools, describeDiff } from './definitions.js';
import type { PinnedTool, StartMcpOptions, ToolDiff } from './definitions.js';

export class PinError extends Error {
  override name = 'PinError';
}

/** `<dir>/<agent>.yaml` (or .yml, .json), or undefined. */
export function findManifestFile(dir: string, agent: string): string | undefined {
  for (const ext of ['yaml', 'yml', 'json']) {
    const p = join(dir, `${agent}.${ext}`);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export interface PinResult {
  file: string;
  tools: PinnedTool[];
  diff: ToolDiff;
  /** Live tools whose names are not served (outside [a-z0-9][a-z0-9_-]{0,63}). */
  skipped: string[];
  /** The tool.result send rule was added. */
  addedSendRule: boolean;
  /** Anything written at all. */
  written: boolean;
}

/** The `mcp:` section and send rules of `m` with these tools pinned. */
function updated(m: Manifest, tools: PinnedTool[]): { mcp: Manifest['mcp']; send: Manifest['send']; addedSendRule: boolean } {
  const send = m.send.map((r) => ({ ...r, types: [...r.types] }));
  const has = send.some((r) => r.to === '*' && r.types.includes(TOOL_RESULT_TYPE));
  if (!has) send.push({ to: '*', types: [TOOL_RESULT_TYPE] });
  return { mcp: { result_max_bytes: m.mcp?.result_max_bytes ?? DEFAULT_TOOL_RESULT_MAX_BYTES, tools }, send, addedSendRule: !has };
}

/** Write `tools` as the agent's pinned tools; returns what changed. */
export function writePinnedTools(manifestsDir: string, agent: string, tools: PinnedTool[], skipped: string[] = []): PinResult {
  const file = findManifestFile(manifestsDir, agent);
  if (!file)
    throw new PinError(
      `no manifest for ${agent} in ${manifestsDir}: make the agent first (agentbus keygen ${agent}${manifestsDir ? ` --manifests ${manifestsDir}` : ''})`,
    );
  const text = readFileSync(file, 'utf8');
  const current = parseManifest(text, file);
  if (current.agent !== agent) throw new PinError(`${file} is the manifest of ${current.agent}, not ${agent}`);
  const diff = compareTools(tools, current.mcp?.tools ?? []);
  const u = updated(current, tools);
  let out: string;
  if (file.endsWith('.json')) {
    const raw = JSON.parse(text) as Record<string, unknown>;
    raw.mcp = u.mcp;
    raw.send = u.send;
    out = JSON.stringify(raw, null, 2) + '\n';
  } else {
    const doc = parseDocument(text);
    const node = (v: unknown) => doc.createNode(v, { aliasDuplicateObjects: false });
    doc.set('mcp', node(u.mcp));
    if (u.addedSendRule) {
      const send = doc.get('send', true);
      if (isSeq(send)) {
        send.flow = false;
        send.add(node(u.send[u.send.length - 1]));
      } else doc.set('send', node(u.send));
    }
    out = doc.toString();
  }
  parseManifest(out, file); // never write a manifest the verifier would refuse
  const written = out !== text;
  if (written) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, out);
    renameSync(tmp, file);
  }
  return { file, tools, diff, skipped, addedSendRule: u.addedSendRule, written };
}

/** Start the server, list its tools, pin them into `<manifestsDir>/<agent>.yaml`. */
export async function pinServer(o: { agent: string; manifestsDir: string; command: string[] } & StartMcpOptions): Promise<PinResult> {
  const file = findManifestFile(o.manifestsDir, o.agent);
  if (!file) throw new PinError(`no manifest for ${o.agent} in ${o.manifestsDir}: make the agent first (agentbus keygen ${o.agent})`);
  const child = await startMcpServer(o.command, o);
  try {
    const { tools, skipped } = pinTools(await listLiveTools(child.client));
    return writePinnedTools(o.manifestsDir, o.agent, tools, skipped);
  } finally {
    await child.close();
  }
}

/** What `agentbus mcp pin` prints. */
export function pinSummary(agent: string, r: PinResult): string {
  const lines = [
    `${agent}: ${r.tools.length} tool(s) pinned in ${r.file}${r.written ? '' : ' (unchanged)'}: ${describeDiff(r.diff)}${r.diff.unchanged.length && !r.diff.same ? `; ${r.diff.unchanged.length} unchanged` : ''}`,
  ];
  if (r.addedSendRule) lines.push(`  added the send rule { to: '*', types: [${TOOL_RESULT_TYPE}] } (its replies)`);
  if (r.skipped.length) lines.push(`  not served (names must match [a-z0-9][a-z0-9_-]{0,63}, once): ${r.skipped.join(', ')}`);
  return lines.join('\n');
}
