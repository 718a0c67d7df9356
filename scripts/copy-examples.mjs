#!/usr/bin/env node
// @agentbus/server's build, after tsc: copy the example policies (tsc emits only the .ts) into
// dist/examples/ — and a *-ts template's TypeScript sources as they are (`init --ts` copies them;
// tsconfig.build.json leaves them out) —, and make the CLI executable. Run from the package directory.
import { cpSync, readdirSync, chmodSync, mkdirSync } from 'node:fs';
for (const ex of readdirSync('src/examples', { withFileTypes: true })) {
  if (!ex.isDirectory()) continue;
  for (const f of readdirSync(`src/examples/${ex.name}`)) {
    if (!/\.(ya?ml|json|md|mjs|py)$/.test(f) && !(ex.name.endsWith('-ts') && f.endsWith('.ts'))) continue;
    mkdirSync(`dist/examples/${ex.name}`, { recursive: true });
    cpSync(`src/examples/${ex.name}/${f}`, `dist/examples/${ex.name}/${f}`);
  }
}
chmodSync('dist/cli/index.js', 0o755);
