#!/usr/bin/env node
// After tsc: copy what tsc does not emit — the generated protobufjs JS (and its .d.ts) and the
// example policies — into dist/, and make the CLI executable.
import { cpSync, readdirSync, chmodSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'dist/sdk/gen'), { recursive: true });
for (const f of readdirSync(join(root, 'sdk/gen'))) cpSync(join(root, 'sdk/gen', f), join(root, 'dist/sdk/gen', f));
for (const ex of readdirSync(join(root, 'examples'), { withFileTypes: true })) {
  if (!ex.isDirectory()) continue;
  for (const f of readdirSync(join(root, 'examples', ex.name))) {
    if (/\.(ya?ml|json|md)$/.test(f)) {
      mkdirSync(join(root, 'dist/examples', ex.name), { recursive: true });
      cpSync(join(root, 'examples', ex.name, f), join(root, 'dist/examples', ex.name, f));
    }
  }
}
chmodSync(join(root, 'dist/bus/cli.js'), 0o755);
