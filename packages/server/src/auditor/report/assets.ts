// The page's two inline assets, read once per process: report.css, and the page's script —
// client.ts bundled at build time into client.js next to this module
// (scripts/build-report-client.cjs, run by @agentbus/server's build; both files ship in dist).
// Run from the sources (tsx: the tests, `node --import tsx`), there is no client.js beside
// assets.ts: client.ts is bundled in memory by the same script, with the same options.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

let css: string | undefined;
let script: string | undefined;

/** The page's style sheet (report.css). */
export function reportCss(): string {
  css ??= readFileSync(new URL('./report.css', import.meta.url), 'utf8');
  return css;
}

/** The page's script (client.ts, bundled into one classic script). */
export function reportScript(): string {
  script ??= loadScript();
  return script;
}

function loadScript(): string {
  const built = new URL('./client.js', import.meta.url);
  if (existsSync(built)) return readFileSync(built, 'utf8');
  if (import.meta.url.endsWith('.ts') && existsSync(new URL('./client.ts', import.meta.url))) {
    const build = fileURLToPath(new URL('../../../../../scripts/build-report-client.cjs', import.meta.url));
    const { bundleReportClient } = createRequire(import.meta.url)(build) as { bundleReportClient: () => string };
    return bundleReportClient();
  }
  throw new Error(`the HTML report's script is missing: ${fileURLToPath(built)} (npm run build makes it)`);
}
