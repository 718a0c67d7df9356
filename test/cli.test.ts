import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './helpers/nats-server.js';
import { cliArgs } from './helpers/cli-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('cli - every command has --help', () => {
  for (const c of [[], ['keygen'], ['manifest', 'check'], ['nats-config'], ['verifier']]) {
    const r = cli(...c, '--help');
    assert.is(r.code, 0, c.join(' '));
    assert.match(r.out, /Usage: agentbus/);
  }
});

test('cli - argument mistakes give one line and exit code 2', () => {
  for (const args of [
    ['nosuch'],
    ['keygen'],
    ['keygen', 'Bad Id!'],
    ['verifier', '--bogus'],
    ['nats-config', '--manifests', 'x', '--verifier-creds', 'y', '--auditor-creds', 'z', '--port', 'abc'],
  ]) {
    const r = cli(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.is(r.err.trim().split('\n').length, 1, r.err);
    assert.not.match(r.err, /\n\s+at /);
  }
});

test('cli - keygen writes a 0600 credential file and a manifest; manifest check accepts it', () => {
  const creds = join(dir, 'creds');
  const manifests = join(dir, 'manifests');
  const r = cli('keygen', 'planner', '--creds-dir', creds, '--manifests', manifests);
  assert.is(r.code, 0, r.err);
  assert.is(statSync(join(creds, 'planner.creds.json')).mode & 0o777, 0o600);
  const m = readFileSync(join(manifests, 'planner.yaml'), 'utf8');
  assert.match(m, /agent: planner/);
  assert.not.match(m, /seed/);
  const again = cli('keygen', 'planner', '--creds-dir', creds, '--manifests', manifests);
  assert.is(again.code, 1);
  assert.match(again.err, /exists; use --force/);
  const ok = cli('manifest', 'check', manifests);
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.out, /1 manifest\(s\) ok: planner/);
});

test('cli - a bad manifest exits 1 with the file and the field path', () => {
  const manifests = join(dir, 'bad');
  cli('keygen', 'coder', '--creds-dir', join(dir, 'creds'), '--manifests', manifests);
  const f = join(manifests, 'coder.yaml');
  writeFileSync(f, readFileSync(f, 'utf8').replace(/max_depth: \d+/, 'max_depth: -3'));
  const r = cli('manifest', 'check', manifests);
  assert.is(r.code, 1);
  assert.match(r.err, /coder\.yaml at max_depth: /);
  assert.is(r.err.trim().split('\n').length, 1);
});

/** `agentbus nats-config` of this test's manifests and the verifier's and auditor's credentials (keygen'd by the test). */
const natsConfig = () => [
  'nats-config',
  '--manifests',
  join(dir, 'manifests'),
  '--verifier-creds',
  join(dir, 'creds', 'verifier.creds.json'),
  '--auditor-creds',
  join(dir, 'creds', 'auditor.creds.json'),
];
/** `agentbus verifier` of this test's manifests, the test contracts and the verifier's credentials. */
const verifier = () => [
  'verifier',
  '--manifests',
  join(dir, 'manifests'),
  '--contracts',
  'test/helpers/contracts.ts',
  '--creds',
  join(dir, 'creds', 'verifier.creds.json'),
];

test('cli - nats-config renders the permissions of docs/design.md §4', () => {
  const creds = join(dir, 'creds');
  assert.is(cli('keygen', 'verifier', '--service', '--creds-dir', creds).code, 0);
  assert.is(cli('keygen', 'auditor', '--service', '--creds-dir', creds).code, 0);
  assert.is(statSync(join(creds, 'verifier.creds.json')).mode & 0o777, 0o600);
  const r = cli(...natsConfig(), '--port', '4333');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /listen: "127.0.0.1:4333"/);
  assert.match(r.out, /publish: \{ allow: \["agentbus.in.planner", "agentbus.part.\d.planner", "agentbus.delivered.\*.planner"\] \}/);
  assert.match(r.out, /"agentbus.in.\*": "agentbus.part.\{\{partition\(8,1\)\}\}.\{\{wildcard\(1\)\}\}"/);
  assert.match(r.out, /subscribe: \{ allow: \["agentbus.to.planner.>", "agentbus.inbox.planner.>"\] \}/);
  assert.match(r.out, /jetstream/);
});

test('cli - keygen observer --service and nats-config --observer-creds: a read-only user that publishes nothing', () => {
  const creds = join(dir, 'creds');
  assert.is(cli('keygen', 'observer', '--service', '--creds-dir', creds, '--manifests', join(dir, 'manifests')).code, 0);
  assert.is(statSync(join(creds, 'observer.creds.json')).mode & 0o777, 0o600);
  // it signs nothing: no public key among those `audit verify` trusts (<manifests>/services/)
  assert.not.ok(existsSync(join(dir, 'manifests', 'services', 'observer.json')));
  const base = natsConfig();
  const r = cli(...base, '--observer-creds', join(creds, 'observer.creds.json'));
  assert.is(r.code, 0, r.err);
  assert.match(
    r.out,
    /# observer \(read-only\)\n\s+\{ nkey: "U[A-Z2-7]+", permissions: \{\n\s+publish: \{ deny: \[">"\] \}\n\s+subscribe: \{ allow: \["agentbus.alert.>", "agentbus.audit.>", "_INBOX_observer.>"\] \}/,
  );
  assert.not.match(cli(...base).out, /observer/, 'no observer unless asked');
  // the auditor's credential as the observer's: refused, one line
  const same = cli(...base, '--observer-creds', join(creds, 'auditor.creds.json'));
  assert.is(same.code, 1, same.err);
  assert.match(same.err, /given to two service users \(auditor, observer\)/);
});

test('cli - verifier against an unreachable server exits 1 with one line', async () => {
  const port = await freePort();
  const r = cli(...verifier(), '--nats', `nats://127.0.0.1:${port}`);
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /cannot start the verifier against nats:\/\/127\.0\.0\.1/);
  assert.is(r.err.trim().split('\n').length, 1, r.err);
});

test('cli - verifier --delivery-timeout-ms below 100 exits 2 with the reason', () => {
  const r = cli(...verifier(), '--delivery-timeout-ms', '0');
  assert.is(r.code, 2, r.err);
  assert.match(r.err, /--delivery-timeout-ms must be at least 100/);
  assert.is(r.err.trim().split('\n').length, 1, r.err);
});

test('cli - runs through a symlink, as npm installs its bin (npx agentbus)', async () => {
  const { symlinkSync } = await import('node:fs');
  const link = join(dir, 'agentbus-link.ts');
  symlinkSync(join(process.cwd(), 'packages', 'server', 'src', 'cli', 'index.ts'), link);
  const r = spawnSync(process.execPath, ['--import', 'tsx', link, '--version'], { encoding: 'utf8' });
  assert.is(r.stdout.trim(), '0.1.0', r.stderr);
});

test.run();
