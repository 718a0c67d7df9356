// The SDK's compile-time typing (issue 14): tsc must REJECT a send with the wrong payload and
// one with a type the registry does not know, and accept the right call and inbox narrowing.
// Runs the repo's tsc (root tsconfig options) on one small temporary file, so the test fails if
// the typing regresses to `unknown` (the wrong calls would then compile). The full set of
// compile-time cases is test/types/sdk-types.ts, checked by `npm run typecheck`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('sdk types - tsc rejects a wrong payload and an unknown type, accepts a right call and narrows the inbox', () => {
  // outside the repo (a leftover must never break `npm run typecheck`); .mts: always ESM
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-types-'));
  try {
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(root, 'tsconfig.json'),
        compilerOptions: { noEmit: true, skipLibCheck: true, typeRoots: [join(root, 'node_modules/@types')] },
        files: ['./check.mts'],
        include: [],
      }),
    );
    const lines = [
      `import { connectAgent } from '@agentbus/sdk';`,
      `import { contracts } from ${JSON.stringify(join(root, 'test/helpers/contracts.js'))};`,
      `const agent = await connectAgent({ servers: 'nats://127.0.0.1:1', credentials: 'none.json', contracts, verifyEndToEnd: false });`,
      `await agent.send('bob', 'note.post', { text: 'right' });`, // 4: compiles
      `await agent.send('bob', 'note.post', { txt: 1 });`, // 5: wrong payload
      `await agent.send('bob', 'note.pots', { text: 'x' });`, // 6: unknown type
      `for await (const m of agent.inbox()) { if (m.type === 'note.post') { const s: string = m.payload.text; void s; } }`, // 7: narrows
    ];
    writeFileSync(join(dir, 'check.mts'), lines.join('\n') + '\n');
    const r = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    assert.is.not(r.status, 0, `tsc accepted the wrong calls:\n${out}`);
    const errors = out.split('\n').filter((l) => /error TS\d+/.test(l));
    assert.is(errors.length, 2, `expected exactly the two wrong calls to fail:\n${out}`);
    assert.match(errors[0]!, /check\.mts\(5,\d+\): error TS(2353|2561): .*'txt' does not exist in type '\{ text: string; \}'/);
    assert.match(errors[1]!, /check\.mts\(6,\d+\): error TS2345: Argument of type '"note\.pots"' is not assignable to parameter of type '.*"note\.post".*'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
