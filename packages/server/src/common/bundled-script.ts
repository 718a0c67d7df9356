// A browser script the server serves or embeds (the console's app, the HTML report's page script):
// bundled at build time by a scripts/build-*-client.cjs into dist beside the module that asks for
// it. Run from the sources (tsx: the tests), there is no built file: the same build script bundles
// the entry in memory, with the same options, so the script is the same.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The built script at `built`, else (from the sources only, where `entry` exists) the bundle that
 * `buildScript`'s export `bundle` makes in memory. `what` names the script in the error when neither is there.
 */
export function loadBundledScript(o: { built: URL; entry: URL; buildScript: URL; bundle: string; what: string; from: string }): string {
  if (existsSync(o.built)) return readFileSync(o.built, 'utf8');
  if (o.from.endsWith('.ts') && existsSync(o.entry)) {
    const mod = createRequire(o.from)(fileURLToPath(o.buildScript)) as Record<string, () => string>;
    return mod[o.bundle]!();
  }
  throw new Error(`${o.what} is missing: ${fileURLToPath(o.built)} (npm run build makes it)`);
}
