// The console's browser app: client/main.tsx (Preact, d3-force) bundled at build time by
// scripts/build-console-client.cjs into dist/console/client/app.js, with console.css beside it;
// both ship in the package, nothing is fetched from elsewhere at run time. Run from the sources
// (tsx: the tests), there is no app.js: the same script bundles main.tsx in memory, with the
// same options.
import { readFileSync } from 'node:fs';
import { loadBundledScript } from '../common/bundled-script.js';

let css: string | undefined;
let script: string | undefined;

export function consoleCss(): string {
  css ??= readFileSync(new URL('./client/console.css', import.meta.url), 'utf8');
  return css;
}

export function consoleScript(): string {
  script ??= loadBundledScript({
    built: new URL('./client/app.js', import.meta.url),
    entry: new URL('./client/main.tsx', import.meta.url),
    buildScript: new URL('../../../../scripts/build-console-client.cjs', import.meta.url),
    bundle: 'bundleConsoleClient',
    what: "the console's script",
    from: import.meta.url,
  });
  return script;
}
