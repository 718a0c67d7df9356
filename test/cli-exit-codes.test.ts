// Every command path of the CLI, nested subcommands included, exits with the code docs/guide.md
// states: 2 for a usage error, 1 for an operational failure or a failed check, 0 otherwise —
// each with one line on stderr.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './helpers/nats-server.js';
import { cliArgs } from './helpers/cli-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-exit-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, cliArgs(...args), { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

/** Run cases two at a time (2 cores), then check each. */
async function expectCodes(cases: [string[], number, RegExp?][]): Promise<void> {
  const results: Awaited<ReturnType<typeof cli>>[] = new Array(cases.length);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < cases.length) {
        const i = next++;
        results[i] = await cli(cases[i]![0]);
      }
    }),
  );
  cases.forEach(([args, code, re], i) => {
    const r = results[i]!;
    assert.is(r.code, code, `agentbus ${args.join(' ')} → ${r.code}: ${r.err}`);
    if (code !== 0) {
      assert.is(r.err.trim().split('\n').length, 1, `one line on stderr for: agentbus ${args.join(' ')}: ${r.err}`);
      if (re) assert.match(r.err, re, `agentbus ${args.join(' ')}: ${r.err}`);
    }
  });
}

test('exit codes - usage errors exit 2 on every command, nested ones too', async () => {
  await expectCodes([
    [['nosuch'], 2, /unknown command/],
    [['--nosuch'], 2, /unknown option/],
    [['keygen'], 2, /missing required argument/],
    [['keygen', 'Bad Agent!'], 2],
    [['manifest', 'check'], 2, /missing required argument/],
    [['manifest', 'check', dir, '--nosuch'], 2, /unknown option/],
    [['nats-config', '--manifests', dir], 2, /required option/],
    [['verifier', '--delivery-timeout-ms', '5'], 2],
    [['keys', 'rotate'], 2, /missing required argument/],
    [['keys', 'revoke', 'a'], 2, /missing required argument/],
    [['keys', 'nosuch'], 2, /unknown command/],
    [['dev', '--nodes', 'x'], 2],
    [['demo', '--nosuch'], 2, /unknown option/],
    [['tail', '--verdict', 'nope'], 2, /--verdict must be one of/],
    [['auditor', '--ttl-days', '0'], 2],
    [['audit', 'nosuch'], 2, /unknown command/],
    [['audit', 'top', '--limit', '0'], 2],
    [['audit', 'edges', '--since', 'whenever'], 2],
    [['audit', 'rejections', '--nosuch'], 2, /unknown option/],
    [['audit', 'alerts', '--until', 'x'], 2],
    [['audit', 'report'], 2, /--html/],
    [['audit', 'trail'], 2, /exactly one of/],
    [['audit', 'sql'], 2, /missing required argument/],
    [['audit', 'verify', '--state-dir', join(dir, 'no-bus')], 2, /--manifests/], // no bus there, so no manifests to default to
    [['audit', 'export', '--manifests', dir], 2, /--bundle/],
  ]);
});

test('exit codes - operational failures exit 1 on every command that does work', async () => {
  const closed = `http://127.0.0.1:${await freePort()}`; // nothing listens: the store is unreachable
  const nats = `nats://127.0.0.1:${await freePort()}`;
  const creds = join(dir, 'creds');
  mkdirSync(creds, { recursive: true });
  writeFileSync(join(dir, 'bad.yaml'), 'agent: [oops');
  const badDir = join(dir, 'badmanifests');
  mkdirSync(badDir);
  writeFileSync(join(badDir, 'x.yaml'), 'agent: Not Valid');
  await expectCodes([[['keygen', 'once', '--creds-dir', creds, '--manifests', join(dir, 'm')], 0]]);
  await expectCodes([
    [['keygen', 'once', '--creds-dir', creds, '--manifests', join(dir, 'm')], 1, /exists; use --force/],
    [['manifest', 'check', join(dir, 'nope')], 1, /cannot read manifests directory/],
    [['manifest', 'check', badDir], 1, /x\.yaml/],
    [['nats-config', '--manifests', badDir, '--verifier-creds', join(creds, 'v.json'), '--auditor-creds', join(creds, 'a.json')], 1],
    [['keys', 'rotate', 'ghost', '--creds-dir', creds, '--manifests', join(dir, 'm')], 1],
    [['keys', 'revoke', 'ghost', 'k1', '--manifests', join(dir, 'm')], 1],
    [['tail', '--state-dir', join(dir, 'no-dev-bus')], 1, /no observer credential/],
    [['audit', 'top', '--store', closed], 1],
    [['audit', 'edges', '--store', closed], 1],
    [['audit', 'rejections', '--store', closed], 1],
    [['audit', 'alerts', '--store', closed], 1],
    [['audit', 'report', '--html', join(dir, 'r.html'), '--store', closed], 1],
    [['audit', 'trail', '--msg-id', '0'.repeat(32), '--store', closed], 1],
    [['audit', 'sql', 'SELECT 1', '--store', closed], 1],
    [['audit', 'verify', '--manifests', join(dir, 'm'), '--store', closed], 1],
    [['audit', 'export', '--bundle', join(dir, 'b'), '--manifests', join(dir, 'm'), '--store', closed], 1],
    [['auditor', '--nats', nats, '--store', join(dir, 'auditor-db')], 1, /cannot connect to NATS/],
  ]);
});

test('cli - audit commands refuse a store path that does not exist (no new empty store), keygen writes both files or neither, manifest check names an unknown recipient', async () => {
  const missing = join(dir, 'no-such-store');
  const r = await cli(['audit', 'top', '--store', missing]);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /no audit store there/);
  assert.not.ok(existsSync(missing), 'the mistyped store was created');
  // keygen: a manifest in the way stops it before the credential file is written
  const creds = join(dir, 'kg-creds');
  const manifests = join(dir, 'kg-manifests');
  mkdirSync(manifests, { recursive: true });
  writeFileSync(join(manifests, 'carol.yaml'), 'agent: carol\n');
  const k = await cli(['keygen', 'carol', '--creds-dir', creds, '--manifests', manifests]);
  assert.is(k.code, 1, k.err);
  assert.match(k.err, /carol\.yaml exists/);
  assert.not.ok(existsSync(join(creds, 'carol.creds.json')), 'a credential file without its manifest was left behind');
  // manifest check: a send rule to an agent that has no manifest
  const md = join(dir, 'mc');
  for (const a of ['dave', 'erin']) assert.is((await cli(['keygen', a, '--creds-dir', join(dir, 'mc-creds'), '--manifests', md])).code, 0);
  writeFileSync(
    join(md, 'dave.yaml'),
    readFileSync(join(md, 'dave.yaml'), 'utf8').replace('send: []', 'send:\n  - { to: erin, types: [note.post] }\n  - { to: frank, types: [note.post] }'),
  );
  const c = await cli(['manifest', 'check', md]);
  assert.is(c.code, 1, c.out + c.err);
  assert.match(c.err, /send\.1\.to: no manifest for recipient frank/);
});

test('cli - manifest check knows the built-in types (memory.*, tool.*, approval.decision) and prints every finding, then exits 1', async () => {
  const md = join(dir, 'mc-builtin');
  const creds = join(dir, 'mc-builtin-creds');
  for (const a of ['gina', 'hank', 'memory']) assert.is((await cli(['keygen', a, '--creds-dir', creds, '--manifests', md])).code, 0);
  const fresh = Object.fromEntries(['gina', 'hank', 'memory'].map((a) => [a, readFileSync(join(md, `${a}.yaml`), 'utf8')]));
  const rules = (a: string, send: string) => writeFileSync(join(md, `${a}.yaml`), fresh[a]!.replace('send: []', `send:\n${send}`));
  // what agentbus writes itself: the memory service's answers, a tool server's results; and an
  // agent that calls tools, uses memory and approves held calls
  rules('memory', '  - { to: "*", types: [memory.result, memory.event] }');
  rules('hank', '  - { to: "*", types: [tool.result] }');
  rules(
    'gina',
    '  - { to: hank, types: [task.assign, tool.hank.search, approval.decision] }\n  - { to: memory, types: [memory.get, memory.put, memory.list] }',
  );
  const ok = await cli(['manifest', 'check', md, '--contracts', 'test/helpers/contracts.ts']);
  assert.is(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /3 manifest\(s\) ok/);
  // three mistakes: all three named, one line each
  rules(
    'hank',
    '  - { to: "*", types: [tool.result] }\n  - { to: gina, types: [task.nosuch] }\n  - { to: ivan, types: [task.result] }\n  - { to: gina, types: [memory.nosuch] }',
  );
  const bad = await cli(['manifest', 'check', md, '--contracts', 'test/helpers/contracts.ts']);
  assert.is(bad.code, 1, bad.out + bad.err);
  const lines = bad.err.trim().split('\n');
  assert.is(lines.length, 3, bad.err);
  assert.match(bad.err, /hank at send\.2\.to: no manifest for recipient ivan/);
  assert.match(bad.err, /hank at send\.1\.types: task\.nosuch has no contract/);
  assert.match(bad.err, /hank at send\.3\.types: memory\.nosuch has no contract/);
});

test.run();
