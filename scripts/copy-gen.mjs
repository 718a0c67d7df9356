#!/usr/bin/env node
// @agentbus/protocol's build, after tsc: copy what tsc does not emit — the generated protobufjs
// JS and its .d.ts (src/gen/) — into dist/gen/. Run from the package directory.
import { cpSync, readdirSync, mkdirSync } from 'node:fs';
mkdirSync('dist/gen', { recursive: true });
for (const f of readdirSync('src/gen')) cpSync(`src/gen/${f}`, `dist/gen/${f}`);
