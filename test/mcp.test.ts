// Tool calls (MCP) end to end (docs/design.md §11): a real nats-server and verifier, the real
// `mcp-server-filesystem` on a temp directory wrapped by `agentbus mcp serve` (startToolServer),
// a tiny real MCP server script (official SDK) for drift, the SDK's callTool, the official MCP
// Client over BusClientTransport, and `agentbus mcp proxy` spawned as a stdio MCP server. No mocks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { parse, stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { toolDefinitionHash } from '../packages/protocol/src/tools/definition.js';
import { decodeHeader, toHex } from '../packages/protocol/src/envelope.js';
import { Verdict } from '../packages/protocol/src/proto.js';
import { RefusedError, RejectedError, ToolError } from '../packages/sdk/src/errors.js';
import { resultText } from '../packages/sdk/src/tools.js';
import { BusClientTransport, REJECTED_ERROR_CODE } from '../packages/sdk/src/mcp-transport.js';
import type { AgentClient } from '../packages/sdk/src/client.js';
import { createLogger } from '../packages/sdk/src/log.js';
import { startMcpServer, listLiveTools, pinTools, compareTools, McpStartError } from '../packages/server/src/mcp/definitions.js';
import { pinServer } from '../packages/server/src/mcp/pin.js';
import { startToolServer, ToolServerError } from '../packages/server/src/mcp/serve.js';
import type { ToolServer } from '../packages/server/src/mcp/serve.js';
import { startBus, sleep, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { verifiersLoaded } from './helpers/reload.js';
import { cliArgs } from './helpers/cli-bin.js';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));
const FS_BIN = join(repo, 'node_modules', '.bin', 'mcp-server-filesystem');
/** The CLI without blocking this process (the verifier runs here): { status, stdout, stderr }. */
const cliAsync = (args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((res) => {
    const p = spawn(process.execPath, cliArgs(...args), { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => res({ status, stdout, stderr }));
  });
const cli = (args: string[], o: { timeout?: number } = {}) =>
  spawnSync(process.execPath, cliArgs(...args), { cwd: repo, encoding: 'utf8', timeout: o.timeout ?? 60_000 });

// the disk: the fs server may see all of srv/; the callers' policy roots are srv/project
const disk = realpathSync(mkdtempSync(join(tmpdir(), 'agentbus-mcp-')));
const srv = join(disk, 'srv');
const project = join(srv, 'project');
mkdirSync(join(project, 'sub'), { recursive: true });
writeFileSync(join(project, 'hello.txt'), 'hello from the bus\n');
writeFileSync(join(project, 'big.txt'), 'x'.repeat(10_000));
writeFileSync(join(srv, 'secret.txt'), 'the secret outside the project\n');
// inside the root lexically, outside it on disk
symlinkSync(join(srv, 'secret.txt'), join(project, 'link.txt'));

// a tiny real MCP server: one tool `echo` whose description is its command line (drift: start it
// with other words), `extra` adds a tool, and a tool whose name cannot be a message type
const tinyScript = join(disk, 'tiny-server.mjs');
const sdk = (p: string) => JSON.stringify(import.meta.resolve(`@modelcontextprotocol/sdk/${p}`));
writeFileSync(
  tinyScript,
  `import { Server } from ${sdk('server/index.js')};
import { StdioServerTransport } from ${sdk('server/stdio.js')};
import { ListToolsRequestSchema, CallToolRequestSchema } from ${sdk('types.js')};
const argv = process.argv.slice(2);
const tools = [{ name: 'echo', description: argv.filter((a) => a !== 'extra' && a !== 'quit').join(' ') || 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } }];
if (argv.includes('extra')) tools.push({ name: 'extra', description: 'one more', inputSchema: { type: 'object' } });
if (argv.includes('quit')) tools.push({ name: 'quit', description: 'the server exits', inputSchema: { type: 'object' } });
tools.push({ name: 'Shout', description: 'not a message type name', inputSchema: { type: 'object' } });
const s = new Server({ name: 'tiny', version: '1.0.0' }, { capabilities: { tools: {} } });
s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
s.setRequestHandler(CallToolRequestSchema, async (r) => {
  if (r.params.name === 'quit') process.exit(3);
  return { content: [{ type: 'text', text: 'echo: ' + String(r.params.arguments?.text) }] };
});
await s.connect(new StdioServerTransport());
`,
);
const tiny = (...words: string[]) => [process.execPath, tinyScript, ...words];
/** `agentbus mcp serve` of the tiny server, as tiny on this test's bus. */
const serveTiny = (...words: string[]) => [
  'mcp',
  'serve',
  '--agent',
  'tiny',
  '--creds',
  bus.credsPath('tiny'),
  '--manifests',
  bus.manifestsDir,
  '--nats',
  bus.url,
  '--',
  ...tiny(...words),
];

const fsRule = { server: 'fs', tools: ['read_text_file', 'list_directory'], args: { path: { path: { roots: [project] } } } };
// file info only with a person's approval (agentbus approve, as boss)
const approvalRule = { server: 'fs', tools: ['get_file_info'], args: { path: { path: { roots: [project] } } }, approval: 'required' as const };
let bus: TestBus;
let fsServer: ToolServer | undefined;
let alice: AgentClient;
const hostLog: string[] = [];
const sink = new Writable({
  write(c, _e, cb) {
    hostLog.push(String(c));
    cb();
  },
});

/** Rewrite one manifest's YAML in place (the verifier polls the directory). */
function editManifest(agent: string, f: (m: Record<string, any>) => void): void {
  const file = join(bus.manifestsDir, `${agent}.yaml`);
  const m = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  f(m);
  writeFileSync(file, stringify(m));
}

test.before(async () => {
  bus = await startBus({
    agents: {
      fs: {},
      tiny: {},
      alice: { tools: [fsRule, approvalRule, { server: 'tiny', tools: ['echo', 'quit'] }] },
      bob: {},
      boss: { approve: ['fs'] },
    },
  });
});
test.after(async () => {
  await fsServer?.stop();
  await bus?.stop();
  rmSync(disk, { recursive: true, force: true });
});

test('mcp pin - the CLI pins the live tools (hash of name, description, input schema) and the tool.result send rule; pinning again changes nothing and keeps result_max_bytes', async () => {
  const r = cli(['mcp', 'pin', '--agent', 'fs', '--manifests', bus.manifestsDir, '--', FS_BIN, srv]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /fs: 14 tool\(s\) pinned in .*fs\.yaml: added .*read_text_file/);
  assert.match(r.stdout, /added the send rule/);
  const m = parse(readFileSync(join(bus.manifestsDir, 'fs.yaml'), 'utf8'));
  assert.equal(m.send, [{ to: '*', types: ['tool.result'] }]);
  assert.is(m.mcp.tools.length, 14);
  for (const t of m.mcp.tools) assert.is(t.sha256, toolDefinitionHash({ name: t.name, description: t.description, inputSchema: t.input_schema }), t.name);
  const read = m.mcp.tools.find((t: { name: string }) => t.name === 'read_text_file');
  assert.equal(read.input_schema.required, ['path']);
  // a smaller result limit for the test below; pinning again keeps it and reports no change
  editManifest('fs', (x) => (x.mcp.result_max_bytes = 4096));
  const again = cli(['mcp', 'pin', '--agent', 'fs', '--manifests', bus.manifestsDir, '--', FS_BIN, srv]);
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, /fs: 14 tool\(s\) pinned in .* \(unchanged\): no change/);
  assert.not.match(again.stdout, /send rule/);
  const m2 = parse(readFileSync(join(bus.manifestsDir, 'fs.yaml'), 'utf8'));
  assert.is(m2.mcp.result_max_bytes, 4096);
  assert.equal(m2.mcp.tools, m.mcp.tools);
});

test('mcp pin - the hash is stable across two starts of the server; a changed description, an added tool and a removed one are named', async () => {
  const list = async (cmd: string[]) => {
    const c = await startMcpServer(cmd, { stderr: 'ignore' });
    try {
      return pinTools(await listLiveTools(c.client));
    } finally {
      await c.close();
    }
  };
  const a = await list([FS_BIN, srv]);
  const b = await list([FS_BIN, project]);
  assert.equal(
    a.tools.map((t) => t.sha256),
    b.tools.map((t) => t.sha256),
    'same definitions: same hashes',
  );
  assert.ok(compareTools(b.tools, a.tools).same);
  const t1 = await list(tiny('echo', 'the', 'text'));
  assert.equal(t1.skipped, ['Shout'], 'a tool name that cannot be a message type is not pinned');
  const t2 = await list(tiny('repeat', 'the', 'text', 'extra'));
  const d = compareTools(t2.tools, t1.tools);
  assert.not.ok(d.same);
  assert.equal(d.added, ['extra']);
  assert.equal(d.changed, [{ name: 'echo', fields: ['description'] }]);
  assert.equal(compareTools(t1.tools, t2.tools).removed, ['extra']);
  // a pinned entry edited by hand (description changed, old sha256 kept) does not count as pinned
  const forged = t1.tools.map((t) => ({ ...t }));
  const live = t1.tools.map((t) => ({ ...t, description: 'x' }));
  forged[0]!.description = 'x';
  assert.equal(
    compareTools(
      live.map((t) => ({ ...t, sha256: toolDefinitionHash({ name: t.name, description: t.description, inputSchema: t.input_schema }) })),
      forged,
    ).changed,
    [{ name: 'echo', fields: ['sha256'] }],
  );
});

test('mcp pin - the command after -- keeps its own options (also without --); a missing manifest is exit 1, a missing command exit 2', () => {
  const withDash = cli(['mcp', 'pin', '--agent', 'tiny', '--manifests', bus.manifestsDir, '--', ...tiny('echo', '--version', '-h')]);
  assert.is(withDash.status, 0, withDash.stderr);
  assert.is(parse(readFileSync(join(bus.manifestsDir, 'tiny.yaml'), 'utf8')).mcp.tools[0].description, 'echo --version -h');
  const noDash = cli(['mcp', 'pin', '--agent', 'tiny', '--manifests', bus.manifestsDir, ...tiny('echo', '--help', '--version')]);
  assert.is(noDash.status, 0, noDash.stderr);
  assert.match(noDash.stdout, /changed echo \(description\)/);
  assert.is(parse(readFileSync(join(bus.manifestsDir, 'tiny.yaml'), 'utf8')).mcp.tools[0].description, 'echo --help --version');
  const noManifest = cli(['mcp', 'pin', '--agent', 'nobody', '--manifests', bus.manifestsDir, '--', ...tiny()]);
  assert.is(noManifest.status, 1);
  assert.match(noManifest.stderr, /^agentbus: no manifest for nobody in .*agentbus keygen nobody/);
  assert.is(noManifest.stderr.trim().split('\n').length, 1);
  const noCommand = cli(['mcp', 'pin', '--agent', 'tiny', '--manifests', bus.manifestsDir]);
  assert.is(noCommand.status, 2);
  const badName = cli(['mcp', 'pin', '--agent', 'Not-An-Id', '--', ...tiny()]);
  assert.is(badName.status, 2);
  assert.match(badName.stderr, /agent ids match/);
  // the version of agentbus itself is still there
  assert.is(cli(['--version']).stdout.trim(), '0.1.0');
});

test('mcp pin - an MCP server that fails to start is reported with the last lines of its own stderr, in one line; it runs non-interactively (npm_config_yes)', async () => {
  // a fake server: says why on stderr (and what npx would see), exits 1 before the handshake
  const failing = [
    process.execPath,
    '-e',
    "console.error('starting…'); console.error('npm_config_yes=' + process.env.npm_config_yes); console.error('fatal: cannot read /no/such/dir'); process.exit(1)",
  ];
  const e = await startMcpServer(failing, { stderr: 'ignore' }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.instance(e, McpStartError);
  assert.is(e!.message.split('\n').length, 1, e!.message);
  assert.match(
    e!.message,
    /^cannot start the MCP server `.*`: .*[Cc]onnection closed; its stderr: starting… \| npm_config_yes=true \| fatal: cannot read \/no\/such\/dir$/,
  );
  const silent = await startMcpServer([process.execPath, '-e', 'process.exit(2)'], { stderr: 'ignore' }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.match(silent!.message, /it wrote nothing on stderr/);
  // the CLI: exit 1, the child's own stderr passed through, then agentbus's one line naming it
  const r = cli(['mcp', 'pin', '--agent', 'tiny', '--manifests', bus.manifestsDir, '--', ...failing]);
  assert.is(r.status, 1, r.stderr);
  const last = r.stderr.trim().split('\n').at(-1)!;
  assert.match(last, /^agentbus: cannot start the MCP server .*its stderr: .*fatal: cannot read \/no\/such\/dir$/);
});

test('mcp serve - refuses a server whose tools differ from the pinned ones, naming them and `agentbus mcp pin` (the CLI: exit 1, one line)', async () => {
  await pinServer({ agent: 'tiny', manifestsDir: bus.manifestsDir, command: tiny('echo', 'the', 'text'), stderr: 'ignore' });
  const err = await startToolServer({
    agent: 'tiny',
    credentials: bus.credsPath('tiny'),
    manifestsDir: bus.manifestsDir,
    servers: bus.url,
    command: tiny('shout', 'the', 'text', 'extra'),
    stderr: 'ignore',
  }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(err, ToolServerError);
  assert.match(err!.message, /added extra; changed echo \(description\)/);
  assert.match(err!.message, /agentbus mcp pin --agent tiny/);
  const r = cli(serveTiny('echo', 'other', 'words'));
  assert.is(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^agentbus: refusing to serve: .*changed echo \(description\).*run agentbus mcp pin --agent tiny -- /);
});

test('mcp serve - the CLI serves the pinned tools on the bus (a call end to end) and stops on SIGTERM', async () => {
  await pinServer({ agent: 'tiny', manifestsDir: bus.manifestsDir, command: tiny('echo', 'the', 'text'), stderr: 'ignore' });
  const child = spawn(process.execPath, cliArgs(...serveTiny('echo', 'the', 'text')), { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c) => (err += String(c)));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitFor(() => /serving 1 tool/.test(err), 30_000, `serve ready (${err})`);
    assert.match(err, /tiny: serving 1 tool\(s\) of `.*tiny-server\.mjs echo the text` on nats:\/\/.* \(echo\)/);
    alice ??= await bus.agent('alice', { timeoutMs: 5000 });
    await verifiersLoaded(bus, 'tiny'); // the verifier has the pin serve checked
    const r = await alice.callTool('tiny', 'echo', { text: 'over the bus' });
    assert.equal(r.content, [{ type: 'text', text: 'echo: over the bus' }]);
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await exited, 0, err);
});

test('mcp serve - when the MCP server exits, the call in flight gets an error result and serving ends, saying why', async () => {
  await pinServer({ agent: 'tiny', manifestsDir: bus.manifestsDir, command: tiny('echo', 'quit'), stderr: 'ignore' });
  const s = await startToolServer({
    agent: 'tiny',
    credentials: bus.credsPath('tiny'),
    manifestsDir: bus.manifestsDir,
    servers: bus.url,
    command: tiny('echo', 'quit'),
    stderr: 'ignore',
    logger: createLogger({ level: 'fatal', destination: sink }),
  });
  await verifiersLoaded(bus, 'tiny'); // the verifier has the new pin
  const e = await alice.callTool('tiny', 'quit', {}).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.instance(e, ToolError, String(e));
  assert.match(e!.message, /the tool call failed on tiny: .*[Cc]onnection closed/);
  assert.match(await s.done, /^the MCP server `.*tiny-server\.mjs echo quit` exited$/);
  assert.is(s.child.pid, null);
});

test('mcp serve - the filesystem server end to end: list a directory, read a file (signed request, signed tool.result reply)', async () => {
  fsServer = await startToolServer({
    agent: 'fs',
    credentials: bus.credsPath('fs'),
    manifestsDir: bus.manifestsDir,
    servers: bus.url,
    command: [FS_BIN, srv],
    stderr: 'ignore',
    logger: createLogger({ name: 'fs', level: 'warn', destination: sink }),
  });
  assert.is(fsServer.tools.length, 14);
  alice ??= await bus.agent('alice', { timeoutMs: 5000 });
  const ls = await alice.callTool('fs', 'list_directory', { path: project });
  const text = resultText(ls);
  assert.match(text, /\[FILE\] hello\.txt/);
  assert.match(text, /\[DIR\] sub/);
  const read = await alice.callTool('fs', 'read_text_file', { path: join(project, 'hello.txt') });
  assert.equal(read.content, [{ type: 'text', text: 'hello from the bus\n' }]);
  assert.equal(read.structuredContent, { content: 'hello from the bus\n' });
  // the verifier accepted and audited the call and its reply (the reply names the call as its cause)
  await waitFor(
    async () => {
      const headers = (await bus.auditEvents())
        .filter((e) => e.verdict === Verdict.VERDICT_ACCEPTED && e.header?.length)
        .map((e) => decodeHeader(e.header!))
        .flatMap((h) => (h.ok ? [h.value] : []));
      const call = headers.find((h) => h.sender === 'alice' && h.recipient === 'fs' && h.type === 'tool.fs.read_text_file');
      return (
        !!call && headers.some((h) => h.sender === 'fs' && h.recipient === 'alice' && h.type === 'tool.result' && toHex(h.causationId) === toHex(call.msgId))
      );
    },
    5000,
    'the call and its reply in the audit stream',
  );
});

test('mcp serve - a failing tool is ToolError (isError result); a result above result_max_bytes is replaced by an error result', async () => {
  const missing = await alice.callTool('fs', 'read_text_file', { path: join(project, 'missing.txt') }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(missing, ToolError);
  const te = missing as ToolError;
  assert.is(te.result.isError, true);
  assert.is(te.server, 'fs');
  assert.is(te.tool, 'read_text_file');
  assert.match(te.message, /ENOENT|no such file/i);
  const big = await alice.callTool('fs', 'read_text_file', { path: join(project, 'big.txt') }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.instance(big, ToolError);
  assert.equal((big as ToolError).result, { isError: true, content: [{ type: 'text', text: resultText((big as ToolError).result) }] });
  assert.match(resultText((big as ToolError).result), /^result too large: \d+ bytes > 4096$/);
  assert.ok(fsServer!.stats.tooLarge >= 1);
});

test('mcp serve - a symlink inside the root that points outside it: the verifier passes the string, the tool host refuses after resolving it (the fs server itself would have read it)', async () => {
  const link = join(project, 'link.txt');
  const e = await alice.callTool('fs', 'read_text_file', { path: link }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.instance(e, ToolError, String(e));
  const text = resultText((e as ToolError).result);
  assert.match(text, /^refused by the tool host: args\.path resolves to .*secret\.txt, outside the allowed roots \(symlink\?\)/);
  assert.not.match(text, /the secret outside/);
  // without the re-check the file would have been read: the fs server allows all of srv/
  const direct = await fsServer!.child.client.callTool({ name: 'read_text_file', arguments: { path: link } });
  assert.match(JSON.stringify(direct.content), /the secret outside the project/);
  assert.ok(fsServer!.stats.refused >= 1);
  // the tool host logs what it refused, and why
  assert.match(hostLog.join(''), /"sender":"alice","tool":"read_text_file".*resolves to .*secret\.txt.*"msg":"tool call refused by the tool host"/);
});

test('mcp serve - the verifier refuses what the policy does not allow: RejectedError with its reason (tool_not_allowed, argument_refused, schema_invalid)', async () => {
  const bob = await bus.agent('bob', { timeoutMs: 5000, logger: createLogger({ level: 'error', destination: new Writable({ write: (_c, _e, cb) => cb() }) }) });
  const notListed = await bob.callTool('fs', 'list_directory', { path: project }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.instance(notListed, RejectedError);
  assert.is((notListed as RejectedError).reasonName, 'tool_not_allowed');
  const write = await alice.callTool('fs', 'write_file', { path: join(project, 'x'), content: 'x' }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.is((write as RejectedError).reasonName, 'tool_not_allowed');
  const outside = await alice.callTool('fs', 'read_text_file', { path: '/etc/passwd' }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.instance(outside, RejectedError);
  assert.is((outside as RejectedError).reasonName, 'argument_refused');
  assert.match((outside as RejectedError).detail, /args\.path/);
  const traversal = await alice.callTool('fs', 'read_text_file', { path: `${project}/../secret.txt` }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.is((traversal as RejectedError).reasonName, 'argument_refused');
  const schema = await alice.callTool('fs', 'read_text_file', { path: join(project, 'hello.txt'), head: 'ten' }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.instance(schema, RejectedError);
  assert.is((schema as RejectedError).reasonName, 'schema_invalid');
  // a tool.result that answers no call of bob's is not taken (the built-in contract is for answers only)
  const unsolicited = await fsServer!.client.send('bob', 'tool.result', { content: [{ type: 'text', text: 'hi' }] }).then(
    () => undefined,
    (x: Error) => x,
  );
  assert.instance(unsolicited, RefusedError);
  assert.is((unsolicited as RefusedError).reasonName, 'unknown_type');
});

test('mcp serve - a call that needs approval waits for it (agentbus approve), then the real server answers', async () => {
  const call = alice.callTool('fs', 'get_file_info', { path: join(project, 'hello.txt') }, { timeoutMs: 40_000 }).catch((e: Error) => e);
  const approve = (extra: string[]) => cliAsync(['approve', '--creds', bus.credsPath('boss'), '--manifests', bus.manifestsDir, '--nats', bus.url, ...extra]);
  let held: { msg_id: string; caller: string; tool: string } | undefined;
  for (let i = 0; i < 10 && !held; i++)
    held = (
      JSON.parse((await approve(['--json', '--wait-ms', '1500'])).stdout || '[]') as { msg_id: string; caller: string; tool: string; args: string }[]
    ).find((n) => n.tool === 'get_file_info');
  assert.ok(held, 'the call is not listed as held');
  assert.is(held!.caller, 'alice');
  const before = fsServer!.stats.calls;
  const ok = await approve([held!.msg_id]);
  assert.is(ok.status, 0, ok.stderr);
  const r = await call;
  assert.not.instance(r, Error, String(r));
  assert.match(resultText(r as Awaited<ReturnType<AgentClient['callTool']>>), /size: 19/);
  assert.is(fsServer!.stats.calls, before + 1);
});

test('BusClientTransport - the official MCP Client over the bus: lists the pinned tools, calls one, a refusal is a JSON-RPC error naming the reason, a failure an isError result', async () => {
  const client = new Client({ name: 'bus-client', version: '1.0.0' });
  await client.connect(new BusClientTransport(alice, 'fs', { manifestsDir: bus.manifestsDir }));
  assert.is(client.getServerVersion()?.name, 'fs');
  const { tools } = await client.listTools();
  assert.is(tools.length, 14);
  const pinned = parse(readFileSync(join(bus.manifestsDir, 'fs.yaml'), 'utf8')).mcp.tools;
  assert.equal(tools.map((t) => t.name).sort(), pinned.map((t: { name: string }) => t.name).sort());
  assert.equal(tools.find((t) => t.name === 'read_text_file')!.inputSchema, pinned.find((t: { name: string }) => t.name === 'read_text_file').input_schema);
  const r = await client.callTool({ name: 'read_text_file', arguments: { path: join(project, 'hello.txt') } });
  assert.equal(r.content, [{ type: 'text', text: 'hello from the bus\n' }]);
  const failed = await client.callTool({ name: 'read_text_file', arguments: { path: join(project, 'link.txt') } });
  assert.is(failed.isError, true);
  assert.match(JSON.stringify(failed.content), /refused by the tool host/);
  const refused = await client.callTool({ name: 'read_text_file', arguments: { path: '/etc/passwd' } }).then(
    () => undefined,
    (x: Error & { code?: number }) => x,
  );
  assert.ok(refused, 'a refused call throws');
  assert.is((refused as { code?: number }).code, REJECTED_ERROR_CODE);
  assert.match(refused!.message, /argument_refused: .*args\.path/);
  await client.ping();
  const unknown = await client.listPrompts().then(
    () => undefined,
    (x: Error & { code?: number }) => x,
  );
  assert.is((unknown as { code?: number } | undefined)?.code, -32601, 'prompts/list is not served');
  await client.close();
});

test("mcp proxy - a stdio MCP server for any MCP client: pinned tools, calls through the bus as the credential file's agent", async () => {
  // the proxy is alice now: a second alice connected here would receive (and refuse) its answers too
  await alice.close();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: cliArgs('mcp', 'proxy', '--creds', bus.credsPath('alice'), '--server', 'fs', '--manifests', bus.manifestsDir, '--nats', bus.url),
    cwd: repo,
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (c) => (err += String(c)));
  const client = new Client({ name: 'ide', version: '1.0.0' });
  try {
    await client.connect(transport, { timeout: 30_000 });
    assert.is(client.getServerVersion()?.name, 'agentbus-fs');
    const { tools } = await client.listTools();
    assert.is(tools.length, 14);
    const r = await client.callTool({ name: 'list_directory', arguments: { path: project } });
    assert.match(JSON.stringify(r.content), /\[FILE\] hello\.txt/);
    const refused = await client.callTool({ name: 'read_text_file', arguments: { path: join(srv, 'secret.txt') } }).then(
      () => undefined,
      (x: Error) => x,
    );
    assert.ok(refused, err);
    assert.is((refused as { code?: number }).code, REJECTED_ERROR_CODE);
    assert.match(refused!.message, /argument_refused/);
    const notAllowed = await client.callTool({ name: 'write_file', arguments: { path: join(project, 'x'), content: 'x' } }).then(
      () => undefined,
      (x: Error) => x,
    );
    assert.match(notAllowed!.message, /tool_not_allowed/);
  } finally {
    await client.close();
  }
});

test.run();
