// The console's browser app: client/main.tsx (Preact, d3-force) bundled at build time by
// scripts/build-console-client.cjs into dist/console/client/app.js, with console.css beside it;
// both ship in the package, nothing is fetched from elsewhere at run time. Run from the sources
// (tsx: the tests), there is no app.js: the same script bundles main.tsx in memory, with the
// same options.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

let css: string | undefined;
let script: string | undefined;

export function consoleCss(): string {
  css ??= readFileSync(new URL('./client/console.css', import.meta.url), 'utf8');
  return css;
}

export function consoleScript(): string {
  script ??= loadScript();
  return script;
}

function loadScript(): string {
  const built = new URL('./client/app.js', import.meta.url);
  if (existsSync(built)) return readFileSync(built, 'utf8');
  if (import.meta.url.endsWith('.ts') && existsSync(new URL('./client/main.tsx', import.meta.url))) {
    const build = fileURLToPath(new URL('../../../../scripts/build-console-client.cjs', import.meta.url));
    const { bundleConsoleClient } = createRequire(import.meta.url)(build) as { bundleConsoleClient: () => string };
    return bundleConsoleClient();
  }
  throw new Error(`the console's script is missing: ${fileURLToPath(built)} (npm run build makes it)`);
}
