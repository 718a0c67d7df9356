// `agentbus init --ts`: a TypeScript project — contracts.ts, example.ts, tsconfig.json — whose
// compile errors are the contract's: tsc accepts the example as written and refuses a wrong
// payload and an unknown type (no allowJs, no contracts.mjs); compiled, the example runs on the
// project's `agentbus dev` as example.mjs does. The project resolves the clone's packages through
// a node_modules link (the first-hour test installs the tarballs for the .mjs project).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './helpers/nats-server.js';
import { builtCliIsFresh } from './helpers/cli-bin.js';
import { TS_DEV_DEPENDENCIES } from '../packages/server/src/devbus/init.js';

const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'agentbus-init-ts-'));
const proj = join(dir, 'my-agents');
const bin = join(root, 'packages/server/dist/cli/index.js');
const tsc = join(root, 'node_modules/.bin/tsc');
let port = 0;
let dev: ChildProcess | undefined;
let devOut = '';
const env = () => ({ ...process.env, NO_COLOR: '1', AGENTBUS_SERVERS: `nats://127.0.0.1:${port}` });
const run = (args: string[], cwd = proj) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: env(), timeout: 60_000 });
const compile = () => {
  const r = spawnSync(tsc, ['-p', join(proj, 'tsconfig.json'), '--pretty', 'false'], { cwd: proj, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, errors: `${r.stdout}${r.stderr}`.split('\n').filter((l) => /error TS\d+/.test(l)) };
};

test.before(async () => {
  // the built CLI and SDK (dist/, with its .d.ts), as a project uses them
  if (!builtCliIsFresh()) execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'pipe' });
  port = await freePort();
});
test.after(async () => {
  if (dev && dev.exitCode === null) {
    dev.kill('SIGINT');
    await new Promise((r) => {
      const t = setTimeout(() => (dev!.kill('SIGKILL'), r(undefined)), 15_000);
      dev!.once('exit', () => (clearTimeout(t), r(undefined)));
    });
  }
  rmSync(dir, { recursive: true, force: true });
});

test('init --ts - writes contracts.ts, example.ts and a tsconfig.json; the bus loads the compiled contracts', () => {
  const r = run(['init', '--ts', proj], dir);
  assert.is(r.status, 0, r.stderr);
  for (const f of ['contracts.ts', 'example.ts', 'tsconfig.json', 'README.md', 'package.json', 'agentbus.json', 'manifests/alice.yaml'])
    assert.ok(existsSync(join(proj, f)), f);
  for (const f of ['contracts.mjs', 'example.mjs']) assert.not.ok(existsSync(join(proj, f)), f);
  assert.is(JSON.parse(readFileSync(join(proj, 'agentbus.json'), 'utf8')).contracts, 'dist/contracts.js');
  const tsconfig = JSON.parse(readFileSync(join(proj, 'tsconfig.json'), 'utf8'));
  assert.not.ok(tsconfig.compilerOptions.allowJs, 'allowJs is not what makes the errors');
  assert.is(tsconfig.compilerOptions.strict, true);
  const pkg = JSON.parse(readFileSync(join(proj, 'package.json'), 'utf8'));
  // the same TypeScript and node types this repository builds with
  const ws = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies;
  assert.equal(TS_DEV_DEPENDENCIES, { typescript: ws.typescript, '@types/node': ws['@types/node'] });
  assert.equal({ typescript: pkg.devDependencies.typescript, '@types/node': pkg.devDependencies['@types/node'] }, TS_DEV_DEPENDENCIES);
  assert.match(readFileSync(join(proj, '.gitignore'), 'utf8'), /^dist\/$/m);
  assert.match(r.stdout, /npx tsc\s+# compile/);
  assert.match(r.stdout, /node dist\/example\.js/);
  // before tsc ran: the bus says what to do
  const early = run(['manifest', 'check', 'manifests', '--contracts', 'dist/contracts.js']);
  assert.is(early.status, 1);
  assert.match(early.stderr, /contracts module not found: dist\/contracts\.js \(run npx tsc first/);
});

test('init --ts - tsc compiles the example as written, and refuses a wrong payload and an unknown type', () => {
  symlinkSync(join(root, 'node_modules'), join(proj, 'node_modules'));
  const ok = compile();
  assert.is(ok.status, 0, ok.out);
  assert.ok(existsSync(join(proj, 'dist', 'example.js')) && existsSync(join(proj, 'dist', 'contracts.js')));
  // the example's deliberate mistake is a compile error without its @ts-expect-error
  const example = readFileSync(join(proj, 'example.ts'), 'utf8');
  assert.match(example, /@ts-expect-error/);
  writeFileSync(join(proj, 'example.ts'), example.replace(/^\s*\/\/ @ts-expect-error.*\n/m, ''));
  const bare = compile();
  assert.is(bare.errors.length, 1, bare.out);
  assert.match(bare.errors[0]!, /example\.ts\(\d+,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  writeFileSync(join(proj, 'example.ts'), example);
  // a file of the user's own: a wrong field, an unknown type; the right call compiles
  writeFileSync(
    join(proj, 'mine.ts'),
    [
      `import { connectAgent } from '@agentbus/sdk';`,
      `import { contracts } from './contracts.js';`,
      `const a = await connectAgent({ servers: 'nats://127.0.0.1:4222', credentials: '.agentbus/creds/alice.creds.json', manifestsDir: 'manifests', contracts });`,
      `await a.send('bob', 'note.send', { text: 'right' });`, // 4: compiles
      `await a.send('bob', 'note.send', { txt: 'wrong' });`, // 5: wrong payload
      `await a.send('bob', 'note.sned', { text: 'x' });`, // 6: unknown type
    ].join('\n') + '\n',
  );
  const bad = compile();
  assert.is.not(bad.status, 0, bad.out);
  assert.is(bad.errors.length, 2, bad.out);
  assert.match(bad.errors[0]!, /mine\.ts\(5,\d+\): error TS(2353|2561): .*'txt' does not exist in type '\{ text: string; \}'/);
  assert.match(bad.errors[1]!, /mine\.ts\(6,\d+\): error TS2345: Argument of type '"note\.sned"' is not assignable/);
  rmSync(join(proj, 'mine.ts'));
  rmSync(join(proj, 'dist', 'mine.js'), { force: true });
});

test("init --ts - compiled, the example runs on the project's agentbus dev as example.mjs does", async () => {
  assert.is(compile().status, 0);
  dev = spawn(process.execPath, [bin, 'dev', '--port', String(port)], { cwd: proj, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  dev.stdout!.on('data', (d) => (devOut += d));
  dev.stderr!.on('data', (d) => (devOut += d));
  const t0 = Date.now();
  while (!/Ctrl-C to stop/.test(devOut)) {
    if (dev.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`agentbus dev did not start:\n${devOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(devOut, /contracts:\s+\S+dist\/contracts\.js/);
  const r = spawnSync(process.execPath, ['dist/example.js'], { cwd: proj, encoding: 'utf8', env: env(), timeout: 60_000 });
  assert.is(r.status, 0, r.stderr + r.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^alice sends bob a note: delivered and acknowledged, msg [0-9a-f]{32}$/);
  assert.match(lines[1]!, /^alice asks bob a question: bob answered: you asked "what is six times seven\?": 42$/);
  assert.match(lines[2]!, /^alice forges an answer: rejected by the verifier: type_not_allowed \(question\.answer\)$/);
  assert.match(lines[3]!, /^alice sends a malformed note: refused before signing: schema_invalid/);
  assert.is(lines.length, 4);
});

test.run();
