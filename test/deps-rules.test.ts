// The import rules (.dependency-cruiser.cjs, run by `npm run lint:deps` in `npm test` on the
// built packages) can fail: an upward import between rooms, a sideways one between rooms of one
// layer, a circle and an SDK that imports server code are each reported on a planted tree, and
// the real build has none of them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';

const root = process.cwd();
const bin = join(root, 'node_modules', '.bin', 'depcruise');

function cruise(cwd: string, paths: string[]): { code: number | null; out: string } {
  const r = spawnSync(bin, ['--config', join(cwd, '.dependency-cruiser.cjs'), ...paths], { cwd, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('deps - a planted tree: upward, sideways, circular and sdk→server imports are errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-deps-'));
  try {
    copyFileSync(join(root, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
    const file = (p: string, body: string) => {
      mkdirSync(dirname(join(dir, p)), { recursive: true });
      writeFileSync(join(dir, p), body);
    };
    file('packages/server/dist/cli/index.js', "import '../devbus/dev.js';\n");
    file('packages/server/dist/devbus/dev.js', "import '../verifier/verifier.js';\n");
    file('packages/server/dist/verifier/verifier.js', "import '../common/tls.js';\nimport '../auditor/rows.js';\n"); // sideways
    file('packages/server/dist/auditor/rows.js', 'export const x = 1;\n');
    file('packages/server/dist/common/tls.js', "import '../cli/index.js';\n"); // upward (and a circle)
    file('packages/server/dist/mcp/a.js', "import './b.js';\n");
    file('packages/server/dist/mcp/b.js', "import './a.js';\n"); // a circle within a room
    file('packages/server/dist/a2a/serve.js', "import '../memory/service.js';\n"); // sideways: a2a and memory are one layer
    file('packages/server/dist/memory/service.js', 'export const y = 1;\n');
    file('packages/server/dist/loose.js', "import './common/tls.js';\n"); // outside every room
    file('packages/sdk/dist/index.js', "import '../../server/dist/common/tls.js';\n"); // sdk → server
    file('packages/server/dist/console/server.js', "import '../ops/tail.js';\nimport '../devbus/dev.js';\n"); // down (fine), then up
    file('packages/server/dist/ops/tail.js', "import '../console/server.js';\n"); // upward (and a circle)
    const r = cruise(dir, ['packages']);
    assert.ok(r.code !== 0, r.out); // exit code = the number of errors
    assert.match(r.out, /10 dependency violations/);
    for (const rule of [
      'common-imports-down-only',
      'verifier-imports-down-only',
      'a2a-imports-down-only',
      'console-imports-down-only',
      'ops-imports-down-only',
      'no-circular',
      'sdk-not-server',
      'server-rooms-only',
    ])
      assert.match(r.out, rule, `${rule} not reported:\n${r.out}`);
    assert.match(r.out, /mcp\/a\.js/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deps - the built packages keep the rules', () => {
  if (!existsSync(join(root, 'packages/server/dist/cli/index.js')))
    assert.unreachable('packages/server/dist is not built: npm run build (npm test builds before it runs the tests)');
  const r = cruise(root, ['packages/server/dist', 'packages/sdk/dist', 'packages/protocol/dist']);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /no dependency violations found/);
});

test.run();
