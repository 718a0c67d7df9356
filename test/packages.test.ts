// The packages as a user gets them (docs/design.md §14): every workspace is packed, the tarballs hold
// what runs (no tests, benches, sources or maps), and installed into a temporary project with
// `npm ci --offline` they work — the SDK small and free of server code and ClickHouse, with or
// without its optional native backend, and the server package giving the `agentbus` bin.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installOffline, packAll, packedFiles, treeBytes, WORKSPACES } from './helpers/pack.js';
import { builtCliIsFresh } from './helpers/cli-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-pack-'));
let tarballs: Record<string, string>;
test.before(() => {
  // build only a stale tree: rewriting dist while other test files run the built CLI (npm test
  // builds first, and runs two files at once) made one of them load half-written modules
  if (!builtCliIsFresh()) execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'pipe' });
  tarballs = packAll(dir);
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

const node = (cwd: string, code: string) => spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd, encoding: 'utf8' });

test("packages - the lock file lists chDB's native package for every platform (npm ci works on a clean clone, on any OS)", () => {
  const r = spawnSync(process.execPath, ['scripts/fix-lock.mjs', '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { os?: string[]; optional?: boolean }> };
  const chdb = lock.packages['node_modules/chdb'] as unknown as { optionalDependencies: Record<string, string> };
  for (const name of Object.keys(chdb.optionalDependencies)) assert.ok(lock.packages[`node_modules/${name}`]?.optional, name);
});

test('packages - each tarball holds what runs: built JS and types, no tests, benches, sources or source maps', () => {
  const files = packedFiles();
  assert.equal(Object.keys(files).sort(), Object.keys(WORKSPACES).sort());
  for (const [name, list] of Object.entries(files)) {
    assert.ok(list.includes('package.json'), name);
    // the README npm shows: the package's own, not the repository's
    assert.ok(list.includes('README.md'), `${name} ships no README.md`);
    assert.match(readFileSync(join(WORKSPACES[name]!, 'README.md'), 'utf8'), new RegExp(`^# ${name}\\n`), `${name}: README.md is not the package's own`);
    for (const f of list) {
      assert.not.match(f, /(^|\/)(test|bench|src)\//, `${name} ships ${f}`);
      // the one tsconfig shipped is a template: the one `agentbus init --ts` writes into a project
      if (f !== 'dist/examples/quickstart-ts/tsconfig.json') assert.not.match(f, /\.map$|\.test\.|(^|\/)tsconfig/, `${name} ships ${f}`);
      assert.ok(f === 'package.json' || f === 'README.md' || f.startsWith('dist/'), `${name} ships ${f}`);
    }
  }
  assert.ok(files['@agentbus/protocol']!.includes('dist/gen/agentbus.js'), 'the generated wire types');
  assert.ok(files['@agentbus/sdk']!.includes('dist/index.js') && files['@agentbus/sdk']!.includes('dist/index.d.ts'));
  assert.ok(files['@agentbus/server']!.includes('dist/cli/index.js') && files['@agentbus/server']!.includes('dist/examples/research-team/policy.yaml'));
  assert.ok(
    files['@agentbus/server']!.includes('dist/auditor/report/client.js') && files['@agentbus/server']!.includes('dist/auditor/report/report.css'),
    "the HTML report's assets",
  );
  assert.ok(
    files['@agentbus/server']!.includes('dist/console/client/app.js') && files['@agentbus/server']!.includes('dist/console/client/console.css'),
    "the console's page (bundled at build time: no CDN at run time)",
  );
});

test('packages - the SDK installs without chDB, ClickHouse or server code, under 40 MB, and every entry point imports', () => {
  const p = join(dir, 'sdk');
  installOffline(p, { '@agentbus/protocol': tarballs['@agentbus/protocol']!, '@agentbus/sdk': tarballs['@agentbus/sdk']! });
  const nm = join(p, 'node_modules');
  for (const banned of ['chdb', '@clickhouse', '@agentbus/server', 'commander', '@nats-io/jetstream'])
    assert.not.ok(existsSync(join(nm, banned)), `the SDK pulled in ${banned}`);
  const mb = treeBytes(nm) / 1e6;
  assert.ok(mb <= 40, `node_modules is ${mb.toFixed(1)} MB`);
  const r = node(
    p,
    `
    const sdk = await import('@agentbus/sdk');
    const internal = await import('@agentbus/sdk/internal');
    const proto = await import('@agentbus/protocol');
    for (const n of ['connectAgent', 'defineMessage', 'createRegistry', 'sealEnvelope', 'openEnvelope', 'generateIdentity', 'RejectedError', 'UndeliveredError', 'BusConnectionError', 'DeliveryConfirmer', 'backends', 'Reason']) if (!sdk[n]) throw new Error('@agentbus/sdk lacks ' + n);
    for (const n of ['AgentClient', 'PeerKeys', 'createLogger']) if (!internal[n]) throw new Error('@agentbus/sdk/internal lacks ' + n);
    for (const n of ['Envelope', 'Header', 'decodeHeader', 'readManifestKeys', 'McpSection', 'GuardPolicy', 'SIGNING_DOMAIN']) if (!proto[n]) throw new Error('@agentbus/protocol lacks ' + n);
    const sub = { manifest: ['parseManifest', 'Policy', 'loadManifestDir'], tools: ['loadToolPolicy', 'checkToolCall', 'compileWhen'], guard: ['scanPayload', 'SECRETLINT_RULES'] };
    for (const [s, names] of Object.entries(sub)) {
      const m = await import('@agentbus/protocol/' + s);
      for (const n of names) if (!m[n]) throw new Error('@agentbus/protocol/' + s + ' lacks ' + n);
    }
    const id = sdk.generateIdentity('smoke');
    const s = sdk.sealEnvelope({ sender: 'smoke', keyId: id.currentKey().keyId, sign: id.currentKey().sign, recipient: 'peer', type: 'a.b', payload: new Uint8Array([123, 125]), contentType: 'application/json' });
    const o = sdk.openEnvelope(s.bytes, () => id.currentKey().publicKey, sdk.defaultBackend());
    console.log(JSON.stringify({ ok: o.ok, backend: sdk.defaultBackend().name }));`,
  );
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()), { ok: true, backend: 'sodium' });
});

test('packages - without the optional native backend the SDK falls back to node:crypto', () => {
  const p = join(dir, 'sdk-no-native');
  installOffline(p, { '@agentbus/protocol': tarballs['@agentbus/protocol']!, '@agentbus/sdk': tarballs['@agentbus/sdk']! }, ['--omit=optional']);
  assert.not.ok(existsSync(join(p, 'node_modules', 'sodium-native')));
  const r = node(p, `const sdk = await import('@agentbus/sdk'); console.log(sdk.defaultBackend().name);`);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'node');
});

test('packages - the server package gives the agentbus bin, with the auditor on embedded chDB', () => {
  const p = join(dir, 'server');
  installOffline(p, tarballs);
  const bin = join(p, 'node_modules', '.bin', 'agentbus');
  const v = spawnSync(bin, ['--version'], { cwd: p, encoding: 'utf8' });
  assert.is(v.stdout.trim(), JSON.parse(readFileSync('packages/server/package.json', 'utf8')).version, v.stderr);
  const h = spawnSync(bin, ['audit', '--help'], { cwd: p, encoding: 'utf8' });
  assert.is(h.status, 0, h.stderr);
  assert.match(h.stdout, /verify/);
  mkdirSync(join(p, 'db')); // audit commands refuse a store path that does not exist
  const q = spawnSync(bin, ['audit', 'sql', 'SELECT 1 + 1 AS two', '--store', join(p, 'db'), '--json'], { cwd: p, encoding: 'utf8', timeout: 60_000 });
  assert.is(q.status, 0, q.stderr);
  assert.equal(JSON.parse(q.stdout), [{ two: 2 }]);
  // the HTML report's inline assets (the bundled page script, the style sheet) ship in the package
  const out = join(p, 'report.html');
  const r = spawnSync(bin, ['audit', 'report', '--html', out, '--store', join(p, 'db'), '--json'], { cwd: p, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  assert.match(html, /<style>\n:root \{/);
  assert.match(html, /<script>\n[\s\S]*function graph\(root\)[\s\S]*dataset\.rendered/);
});

test.run();
