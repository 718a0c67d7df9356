// How tests run the `agentbus` CLI. The built one (packages/server/dist/cli/index.js, plain node)
// when the build is newer than every source file of the three packages — `npm test` builds
// first — and none of the arguments is a TypeScript module the CLI would import (a contracts
// file); else the sources through tsx. The built CLI starts in ~0.55 s, the sources in ~1.2 s,
// and the suite starts it a few hundred times.
import { readdirSync, statSync, existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const DIST = join(root, 'packages', 'server', 'dist', 'cli', 'index.js');
const SRC = join(root, 'packages', 'server', 'src', 'cli', 'index.ts');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let fresh: boolean | undefined;
/** Is the build newer than every source file? (computed once per test file) */
export function builtCliIsFresh(): boolean {
  if (fresh === undefined) {
    fresh = existsSync(DIST) && ['protocol', 'sdk', 'server'].every((p) => newestSource(join(root, 'packages', p, 'src')) <= statSync(DIST).mtimeMs);
    if (process.env.AGENTBUS_TEST_CLI === 'src') fresh = false;
  }
  return fresh;
}

/** node's arguments that run `agentbus ...args`. */
export function cliArgs(...args: string[]): string[] {
  const ts = args.some((a) => /\.(c|m)?ts$/.test(a));
  return !ts && builtCliIsFresh() ? [DIST, ...args] : ['--import', 'tsx', SRC, ...args];
}

/** Resolves when a service the CLI started says `ready` on stderr; rejects with what it wrote if it exits first. */
export function untilReady(child: ChildProcess): Promise<void> {
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (/ready/.test(out)) {
        clearInterval(t);
        resolve();
      }
      if (child.exitCode !== null) {
        clearInterval(t);
        reject(new Error(out));
      }
    }, 20);
  });
}
