// The first hour, as a newcomer runs it from the README: the packages installed from their
// tarballs (npm ci --offline), `agentbus init`, `agentbus dev` inside the project, the project's
// example.mjs — shown verbatim in the README and in docs/sdk.md — then the audit queried on the
// live bus, the live tail, an agent added with keygen, a contract changed while the bus runs, and the
// mistakes a newcomer makes, each told in one line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installOffline, packAll } from './helpers/pack.js';
import { freePort } from './helpers/nats-server.js';
import { builtCliIsFresh } from './helpers/cli-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-first-hour-'));
const proj = join(dir, 'my-agents');
let bin: string;
let port: number;
let dev: ChildProcess | undefined;
let devOut = '';
const env = () => ({ ...process.env, NO_COLOR: '1', AGENTBUS_SERVERS: `nats://127.0.0.1:${port}` });

test.before(async () => {
  // build only a stale tree: rewriting dist while the other test file running beside this one
  // runs the built CLI makes it load half-written modules (npm test builds first)
  if (!builtCliIsFresh()) execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'pipe' });
  // the project lives inside the install dir: its imports of agentbus and zod resolve there
  mkdirSync(join(dir, 'tarballs'));
  installOffline(dir, packAll(join(dir, 'tarballs')));
  bin = join(dir, 'node_modules', '.bin', 'agentbus');
  port = await freePort();
});
test.after(async () => {
  if (dev && dev.exitCode === null) {
    dev.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], cwd = proj, timeout = 60_000) => spawnSync(bin, args, { cwd, encoding: 'utf8', env: env(), timeout });
const node = (file: string, cwd = proj) => spawnSync(process.execPath, [file], { cwd, encoding: 'utf8', env: env(), timeout: 60_000 });

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; dev said:\n${devOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('first hour - agentbus init makes a project with two agents, keys (0600) and manifests', () => {
  const r = run(['init', proj], dir);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /agents alice, bob/);
  assert.match(r.stdout, /npx agentbus dev/);
  for (const f of ['agentbus.json', 'contracts.mjs', 'example.mjs', 'package.json', '.gitignore', 'manifests/alice.yaml', 'manifests/bob.yaml'])
    assert.ok(existsSync(join(proj, f)), f);
  for (const a of ['alice', 'bob']) assert.is(statSync(join(proj, '.agentbus', 'creds', `${a}.creds.json`)).mode & 0o777, 0o600, a);
  assert.match(readFileSync(join(proj, '.gitignore'), 'utf8'), /^\.agentbus\/$/m);
  // init never overwrites
  const again = run(['init', proj], dir);
  assert.is(again.status, 1);
  assert.match(again.stderr, /already has agentbus\.json/);
  assert.is(again.stderr.trim().split('\n').length, 1);
});

test('first hour - the README and docs/sdk.md show example.mjs, verbatim', () => {
  const example = readFileSync(join(proj, 'example.mjs'), 'utf8');
  for (const doc of ['README.md', 'docs/sdk.md'])
    assert.ok(readFileSync(doc, 'utf8').includes('```js\n' + example + '```'), `${doc} shows another example than the one init writes`);
});

test('first hour - agentbus dev in the project runs it: its agents only, the banner true', async () => {
  dev = spawn(bin, ['dev', '--port', String(port)], { cwd: proj, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  dev.stdout!.on('data', (d) => (devOut += d));
  dev.stderr!.on('data', (d) => (devOut += d));
  await waitFor(() => /Ctrl-C to stop/.test(devOut), 60_000, 'the banner');
  assert.match(devOut, new RegExp(`servers:\\s+nats://127\\.0\\.0\\.1:${port}`));
  assert.match(devOut, new RegExp(`alice\\s+${join(proj, '.agentbus', 'creds', 'alice.creds.json').replace(/[.]/g, '\\.')}`));
  assert.match(devOut, /bob\s+\S+bob\.creds\.json/);
  assert.not.match(devOut, /planner|researcher|browser/, 'the example scenario leaked into the project');
  // every credential the banner names exists
  for (const m of devOut.matchAll(/(\/\S+\.creds\.json)/g)) assert.ok(existsSync(m[1]!), m[1]);
  assert.not.ok(existsSync(join(proj, 'manifests', 'planner.yaml')));
});

test('first hour - example.mjs: send, request/reply, a rejection explained, a contract error', () => {
  const r = node('example.mjs');
  assert.is(r.status, 0, r.stderr + r.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^alice sends bob a note: delivered and acknowledged, msg [0-9a-f]{32}$/);
  assert.match(lines[1]!, /^alice asks bob a question: bob answered: you asked "what is six times seven\?": 42$/);
  assert.match(lines[2]!, /^alice forges an answer: rejected by the verifier: type_not_allowed \(question\.answer\)$/);
  assert.match(lines[3]!, /^alice sends a malformed note: refused before signing: schema_invalid/);
  assert.is(lines.length, 4);
});

test('first hour - the dev terminal is not silent: the rejection is one line there', async () => {
  await waitFor(() => /rejected.*type_not_allowed/.test(devOut), 10_000, 'the rejection on the dev terminal');
  assert.match(devOut, /rejected\s+type_not_allowed\s+alice → bob\s+question\.answer/);
});

test("first hour - audit commands read the running bus's store (no --store, no lock error), read-only", async () => {
  let top: Record<string, unknown>[] = [];
  await waitFor(
    () => {
      const r = run(['audit', 'top', '--json']);
      if (r.status !== 0) throw new Error(r.stderr);
      top = JSON.parse(r.stdout);
      return top.some((t) => t.sender === 'alice' && Number(t.rejected) === 1);
    },
    30_000,
    'the audit rows of the example',
  );
  const alice = top.find((t) => t.sender === 'alice')!;
  assert.is(Number(alice.total), 3);
  const rej = run(['audit', 'rejections', '--json']);
  assert.is(rej.status, 0, rej.stderr);
  assert.equal(
    JSON.parse(rej.stdout).map((x: { reason: string }) => x.reason),
    ['type_not_allowed'],
  );
  const v = run(['audit', 'verify']);
  assert.is(v.status, 0, v.stderr + v.stdout);
  assert.match(v.stdout, /findings 0/);
  const w = run(['audit', 'sql', "INSERT INTO agentbus.alerts (rule) VALUES ('x')"]);
  assert.is(w.status, 1);
  // a second dev on the same project is refused, and does not touch the running one's config
  const conf = readFileSync(join(proj, '.agentbus', 'nats.conf'), 'utf8');
  const second = run(['dev', '--port', '0']);
  assert.is(second.status, 1);
  assert.match(second.stderr, /in use by another agentbus dev \(pid \d+\)/);
  assert.is(readFileSync(join(proj, '.agentbus', 'nats.conf'), 'utf8'), conf);
  // the port taken: one line, and how to pick another
  const other = run(['dev', '--port', String(port), '--state-dir', join(dir, 'other-state')]);
  assert.is(other.status, 1);
  assert.match(other.stderr, new RegExp(`port ${port} is in use.*--port`));
});

test('first hour - agentbus tail shows the live verdicts', async () => {
  const tail = spawn(bin, ['tail', '--json'], { cwd: proj, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  tail.stdout!.on('data', (d) => (out += d));
  tail.stderr!.on('data', (d) => (out += d));
  await new Promise((r) => setTimeout(r, 1500)); // subscribed
  assert.is(node('example.mjs').status, 0);
  await waitFor(() => /type_not_allowed/.test(out), 10_000, 'the rejection in the tail');
  tail.kill('SIGINT');
  await new Promise((r) => tail.once('exit', r));
  const verdicts = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(
    verdicts.some((v) => v.verdict === 'accepted' && v.sender === 'alice'),
    out,
  );
  assert.ok(
    verdicts.some((v) => v.verdict === 'rejected' && v.reason === 'type_not_allowed'),
    out,
  );
});

test('first hour - an agent added with keygen connects at once; one whose manifest is missing is told why', async () => {
  const k = run(['keygen', 'carol']);
  assert.is(k.status, 0, k.stderr);
  assert.ok(
    existsSync(join(proj, '.agentbus', 'creds', 'carol.creds.json')) && existsSync(join(proj, 'manifests', 'carol.yaml')),
    'keygen wrote where dev looks',
  );
  await waitFor(() => /manifests reloaded: .*carol/.test(devOut), 10_000, 'the reload line');
  writeFileSync(
    join(proj, 'carol.mjs'),
    `import { connectAgent, CredentialError } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const who = process.argv[2];
try {
  const c = await connectAgent({ servers: process.env.AGENTBUS_SERVERS, credentials: '.agentbus/creds/' + who + '.creds.json', manifestsDir: 'manifests', contracts });
  console.log('connected');
  await c.close();
} catch (e) {
  console.log(e instanceof CredentialError ? 'CredentialError: ' + e.message : 'other: ' + e.message);
}
`,
  );
  const c = spawnSync(process.execPath, ['carol.mjs', 'carol'], { cwd: proj, encoding: 'utf8', env: env(), timeout: 30_000 });
  assert.is(c.stdout.trim(), 'connected', c.stderr);
  // dave has credentials but no manifest: not a bare "Authorization Violation"
  const d = run(['keygen', 'dave']);
  assert.is(d.status, 0);
  rmSync(join(proj, 'manifests', 'dave.yaml'));
  await new Promise((r) => setTimeout(r, 1200));
  const dv = spawnSync(process.execPath, ['carol.mjs', 'dave'], { cwd: proj, encoding: 'utf8', env: env(), timeout: 30_000 });
  assert.match(dv.stdout, /^CredentialError: .*refused agent "dave".*no manifest/);
});

test('first hour - a contract added while the bus runs is loaded (no restart)', async () => {
  const contracts = readFileSync(join(proj, 'contracts.mjs'), 'utf8');
  writeFileSync(
    join(proj, 'contracts.mjs'),
    contracts.replace(
      'export const contracts = createRegistry(NoteSend, NoteAck, QuestionAsk, QuestionAnswer);',
      "export const NotePin = defineMessage('note.pin', z.strictObject({ id: z.string() }));\nexport const contracts = createRegistry(NoteSend, NoteAck, QuestionAsk, QuestionAnswer, NotePin);",
    ),
  );
  const alice = join(proj, 'manifests', 'alice.yaml');
  writeFileSync(alice, readFileSync(alice, 'utf8').replace('types:\n      - note.send', 'types:\n      - note.pin\n      - note.send'));
  assert.match(readFileSync(alice, 'utf8'), /note\.pin/);
  await waitFor(() => /contracts reloaded: .*note\.pin/.test(devOut), 15_000, 'the contracts reload');
  writeFileSync(
    join(proj, 'pin.mjs'),
    `import { connectAgent } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const o = { servers: process.env.AGENTBUS_SERVERS, manifestsDir: 'manifests', contracts };
const alice = await connectAgent({ ...o, credentials: '.agentbus/creds/alice.creds.json' });
const bob = await connectAgent({ ...o, credentials: '.agentbus/creds/bob.creds.json' });
void (async () => { for await (const m of bob.inbox()) console.log('bob got', m.type, m.payload.id); })();
const ack = await alice.send('bob', 'note.pin', { id: 'p1' });
console.log('delivered', ack.delivered);
await alice.close(); await bob.close();
`,
  );
  const r = node('pin.mjs');
  assert.is(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /bob got note\.pin p1/);
  assert.match(r.stdout, /delivered true/);
});

test('first hour - Ctrl-C stops the bus and frees the state dir', async () => {
  dev!.kill('SIGINT');
  const code = await new Promise<number | null>((r) => dev!.once('exit', (c) => r(c)));
  assert.is(code, 0, devOut);
  assert.not.ok(existsSync(join(proj, '.agentbus', 'bus.lock')));
  assert.not.ok(existsSync(join(proj, '.agentbus', 'bus.json')));
  // the store is readable directly afterwards
  const r = run(['audit', 'top', '--json']);
  assert.is(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).some((t: { sender: string }) => t.sender === 'alice'));
});

test.run();
