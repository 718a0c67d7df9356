#!/usr/bin/env node
// The console's browser app (packages/server/src/console/client/): bundles main.tsx (Preact,
// d3-force) with esbuild into one script, dist/console/client/app.js, and copies console.css next
// to it; the console serves both from its own origin (no CDN). Run by @agentbus/server's build
// after tsc (tsconfig.client.json type-checks the client: esbuild only strips the types). Run from
// the sources (tsx), console/assets.ts bundles it in memory through bundleConsoleClient() below:
// the same options, so the app is the same.
const { mkdirSync, copyFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const SRC = join(__dirname, '..', 'packages', 'server', 'src', 'console', 'client');
const DIST = join(__dirname, '..', 'packages', 'server', 'dist', 'console', 'client');

function bundleConsoleClient() {
  const { buildSync } = require('esbuild');
  const out = buildSync({
    entryPoints: [join(SRC, 'main.tsx')],
    absWorkingDir: join(__dirname, '..'),
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    charset: 'ascii',
    legalComments: 'eof', // the licence notices of Preact and d3-force, if their sources carry any
    logLevel: 'error',
  });
  return out.outputFiles[0].text;
}

if (require.main === module) {
  mkdirSync(DIST, { recursive: true });
  writeFileSync(join(DIST, 'app.js'), bundleConsoleClient());
  copyFileSync(join(SRC, 'console.css'), join(DIST, 'console.css'));
}

module.exports = { bundleConsoleClient };
