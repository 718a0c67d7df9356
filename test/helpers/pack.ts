// Installing the packed packages the way a user would, without the network: `npm ci --offline`
// in a temporary project whose lock file is made from the workspace's (the same versions and
// integrity hashes, the public registry's tarball addresses), so npm takes every tarball from
// its cache — filled by the `npm ci` that set up this checkout.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  bin?: Record<string, string>;
  license?: string;
  link?: boolean;
  [k: string]: unknown;
}

export const WORKSPACES: Record<string, string> = {
  '@agentbus/protocol': 'packages/protocol',
  '@agentbus/sdk': 'packages/sdk',
  '@agentbus/server': 'packages/server',
};
const WORKSPACE_PATHS = new Set(Object.values(WORKSPACES));
/** The published workspaces only (tools/api-docs is a private workspace of dev tools). */
const PACKED = Object.values(WORKSPACES).flatMap((w) => ['-w', w]);

/** `npm pack` every workspace into `dest`; returns package name → tarball path. */
export function packAll(dest: string): Record<string, string> {
  const out = execFileSync('npm', ['pack', ...PACKED, '--json', '--pack-destination', dest], { encoding: 'utf8' });
  const packed = JSON.parse(out) as { name: string; filename: string; files: { path: string }[] }[];
  return Object.fromEntries(packed.map((p) => [p.name, join(dest, p.filename)]));
}

/** The files in each tarball (npm pack --dry-run --json). */
export function packedFiles(): Record<string, string[]> {
  const out = execFileSync('npm', ['pack', ...PACKED, '--dry-run', '--json'], { encoding: 'utf8' });
  const packed = JSON.parse(out) as { name: string; files: { path: string }[] }[];
  return Object.fromEntries(packed.map((p) => [p.name, p.files.map((f) => f.path)]));
}

/** A temporary project with these tarballs installed by `npm ci --offline` (extra npm args, e.g. --omit=optional). */
export function installOffline(dir: string, tarballs: Record<string, string>, extra: string[] = []): void {
  mkdirSync(dir, { recursive: true });
  const ws = (JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const pk: Record<string, unknown> = {};
  const deps: Record<string, string> = {};
  // [lock path of the dependent, dependency name]: resolved the way Node does, from the
  // dependent's own node_modules up to the top (the workspace lock keeps nested versions there)
  const want: [string, string][] = [];
  const resolved = (e: LockEntry, name: string) => ({ ...e, resolved: `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${e.version}.tgz` });
  for (const [name, tgz] of Object.entries(tarballs)) {
    const e = ws[WORKSPACES[name]!]!;
    deps[name] = `file:${tgz}`;
    pk[`node_modules/${name}`] = {
      version: e.version,
      resolved: `file:${tgz}`,
      dependencies: e.dependencies,
      optionalDependencies: e.optionalDependencies,
      ...(e.bin ? { bin: e.bin } : {}),
      license: e.license,
    };
    for (const d of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) want.push([`node_modules/${name}`, d]);
  }
  while (want.length) {
    const [from, d] = want.pop()!;
    // candidate paths: from/node_modules/d, then each ancestor's node_modules/d
    let at: string | undefined;
    for (let base = from; ; ) {
      const cand = `${base}/node_modules/${d}`;
      if (ws[cand] && !WORKSPACE_PATHS.has(base)) {
        at = cand;
        break;
      }
      const i = base.lastIndexOf('/node_modules/');
      if (i < 0) break;
      base = base.slice(0, i);
    }
    at ??= ws[`node_modules/${d}`] ? `node_modules/${d}` : undefined;
    if (!at) throw new Error(`${d} (needed by ${from}) is not in package-lock.json`);
    if (pk[at]) continue;
    pk[at] = resolved(ws[at]!, d);
    for (const x of Object.keys({ ...ws[at]!.dependencies, ...ws[at]!.optionalDependencies })) want.push([at, x]);
  }
  const manifest = { name: 'try-agentbus', version: '1.0.0', type: 'module', private: true, dependencies: deps };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify(
      {
        name: manifest.name,
        version: manifest.version,
        lockfileVersion: 3,
        requires: true,
        packages: { '': { name: manifest.name, version: manifest.version, dependencies: deps }, ...pk },
      },
      null,
      2,
    ),
  );
  execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error', ...extra], { cwd: dir, stdio: 'pipe', timeout: 240_000 });
}

/** Size of a directory tree in bytes (du -sb). */
export function treeBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}
