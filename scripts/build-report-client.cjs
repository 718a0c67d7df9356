#!/usr/bin/env node
// The HTML report's assets (packages/server/src/auditor/report/): bundles the page's script,
// client.ts, with esbuild into one classic script, dist/auditor/report/client.js, and copies
// report.css next to it; page.ts embeds both inline in every report (one self-contained file).
// Run by @agentbus/server's build after tsc (tsconfig.client.json type-checks client.ts: esbuild
// only strips the types). Run from the sources (tsx), the report bundles client.ts in memory
// through bundleReportClient() below: the same options, so the page is the same.
// CommonJS so that assets.ts can load it synchronously (renderHtmlReport is a pure sync function).
const { mkdirSync, copyFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const SRC = join(__dirname, '..', 'packages', 'server', 'src', 'auditor', 'report');
const DIST = join(__dirname, '..', 'packages', 'server', 'dist', 'auditor', 'report');

/** client.ts as the text of one classic script (an IIFE: no import, no export). */
function bundleReportClient() {
  const { buildSync } = require('esbuild');
  const out = buildSync({
    entryPoints: [join(SRC, 'client.ts')],
    absWorkingDir: join(__dirname, '..'), // the path in the bundle's comment, wherever the build runs
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    charset: 'ascii',
    legalComments: 'none',
    logLevel: 'error',
  });
  const text = out.outputFiles[0].text;
  // the page embeds it in <script>…</script>: nothing in it may close the block or open a comment
  if (/<\/script|<!--/i.test(text)) throw new Error('report client script: contains </script or <!--');
  return text;
}

if (require.main === module) {
  mkdirSync(DIST, { recursive: true });
  writeFileSync(join(DIST, 'client.js'), bundleReportClient());
  copyFileSync(join(SRC, 'report.css'), join(DIST, 'report.css'));
}

module.exports = { bundleReportClient };
