// The page's two inline assets, read once per process: report.css, and the page's script —
// client.ts bundled at build time into client.js next to this module
// (scripts/build-report-client.cjs, run by @agentbus/server's build; both files ship in dist).
// Run from the sources (tsx: the tests, `node --import tsx`), there is no client.js beside
// assets.ts: client.ts is bundled in memory by the same script, with the same options.
import { readFileSync } from 'node:fs';
import { loadBundledScript } from '../../common/bundled-script.js';

let css: string | undefined;
let script: string | undefined;

/** The page's style sheet (report.css). */
export function reportCss(): string {
  css ??= readFileSync(new URL('./report.css', import.meta.url), 'utf8');
  return css;
}

/** The page's script (client.ts, bundled into one classic script). */
export function reportScript(): string {
  script ??= loadBundledScript({
    built: new URL('./client.js', import.meta.url),
    entry: new URL('./client.ts', import.meta.url),
    buildScript: new URL('../../../../../scripts/build-report-client.cjs', import.meta.url),
    bundle: 'bundleReportClient',
    what: "the HTML report's script",
    from: import.meta.url,
  });
  return script;
}
