import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allReasons, reasonName, reasonFromName, Reason } from '../packages/protocol/src/proto.js';

test('proto - committed generated code matches a fresh `npm run gen`', () => {
  const out = mkdtempSync(join(tmpdir(), 'agentbus-gen-'));
  try {
    execFileSync(process.execPath, ['scripts/gen-proto.mjs', out], { stdio: 'pipe' });
    for (const f of ['agentbus.js', 'agentbus.d.ts']) {
      const fresh = readFileSync(join(out, f), 'utf8');
      const committed = readFileSync(join('packages', 'protocol', 'src', 'gen', f), 'utf8');
      assert.ok(fresh === committed, `packages/protocol/src/gen/${f} is stale: run npm run gen and commit`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('proto - buf lint is clean', () => {
  execFileSync(join('node_modules', '.bin', 'buf'), ['lint'], { stdio: 'pipe' });
});

test('proto - every reason has a unique snake_case name that maps back', () => {
  const names = allReasons().map(reasonName);
  assert.is(new Set(names).size, names.length);
  for (const n of names) {
    assert.match(n, /^[a-z_]+$/);
    assert.is(reasonName(reasonFromName(n)!), n);
  }
  assert.is(reasonName(Reason.REASON_BAD_SIGNATURE), 'bad_signature');
  assert.is(reasonName(999), 'reason_999');
});

/** Every module URL the ESM loader resolves while `code` runs (under tsx, @agentbus/... resolve to the packages' src). */
function resolvedBy(code: string): string[] {
  const hook =
    'data:text/javascript,' +
    encodeURIComponent("export async function resolve(s, c, n) { const r = await n(s, c); process.stderr.write('RESOLVED ' + r.url + '\\n'); return r; }");
  const r = spawnSync(process.execPath, ['--no-warnings', '--experimental-loader', hook, '--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('RESOLVED '))
    .map((l) => l.slice(9));
}

test('proto - importing the SDK loads no verifier, auditor, chDB or ClickHouse client', () => {
  const urls = resolvedBy("await import('./packages/sdk/src/index.ts')");
  assert.ok(
    urls.some((u) => u.includes('/packages/protocol/src/envelope.ts')),
    'trace saw the SDK and its protocol',
  );
  for (const u of urls) {
    assert.not.ok(/\/packages\/server\/|\/bus\/|\/auditor\/|chdb|@clickhouse/.test(u), `SDK import pulled in ${u}`);
  }
});

// The broker's parts of the protocol (issue 25): the whole manifest with its compiled policy, the
// tool-call policy (CEL, RE2, IP classification) and the content-guard scanner (secretlint's
// rules) are behind @agentbus/protocol/manifest, /tools and /guard; the SDK loads none of them.
const BROKER_ONLY =
  /@secretlint\/|@marcbachmann\/cel-js|@bufbuild\/re2|ipaddr\.js|\/packages\/protocol\/src\/(manifest\.ts|tools\/(?!definition\.ts)|guard\/(?!types\.ts))/;

test('proto - importing the SDK or @agentbus/protocol loads no secretlint, CEL, RE2 or tool/guard policy code', () => {
  for (const entry of ['./packages/sdk/src/index.ts', './packages/sdk/src/internal.ts', '@agentbus/protocol']) {
    const urls = resolvedBy(`await import(${JSON.stringify(entry)})`);
    assert.ok(
      urls.some((u) => u.includes('/packages/protocol/src/manifest-keys.ts')),
      `trace saw ${entry} load the protocol`,
    );
    const pulled = urls.filter((u) => BROKER_ONLY.test(u));
    assert.equal(pulled, [], `${entry} pulled in broker-only modules`);
  }
  // and the pattern does see them where they are meant to load
  for (const sub of ['tools', 'guard', 'manifest']) {
    assert.ok(
      resolvedBy(`await import('@agentbus/protocol/${sub}')`).some((u) => BROKER_ONLY.test(u)),
      `@agentbus/protocol/${sub} loads its code`,
    );
  }
});

test.run();
