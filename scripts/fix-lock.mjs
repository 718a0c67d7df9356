#!/usr/bin/env node
// Keeps package-lock.json correct for every platform chDB ships a native library for.
//
// chdb lists one optional package per platform (@chdb/lib-<os>-<cpu>[-gnu]). The registry this
// project is developed against serves only the linux-x64 one, so `npm install` here drops the
// others from the lock — and `npm ci` then refuses the lock as out of sync with chdb's
// optionalDependencies, on every machine. This script adds the missing entries (version, os,
// cpu, libc: what npm needs to skip them on other platforms and to fetch them on theirs). They
// carry no `integrity`, since the registry here cannot tell it: npm on macOS or ARM fetches them from
// the public registry and records the hash there. Run after any `npm install` that touches the lock:
//   node scripts/fix-lock.mjs          (or --check: exit 1 if an entry is missing)
import { readFileSync, writeFileSync } from 'node:fs';

const check = process.argv.includes('--check');
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const chdb = lock.packages['node_modules/chdb'];
if (!chdb) {
  console.error('fix-lock: chdb is not in package-lock.json');
  process.exit(1);
}
const missing = [];
for (const [name, version] of Object.entries(chdb.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  const m = /^@chdb\/lib-(darwin|linux|win32)-(x64|arm64)(-gnu|-musl)?$/.exec(name);
  if (!m) {
    console.error(`fix-lock: unknown chdb platform package ${name}`);
    process.exit(1);
  }
  missing.push(name);
  lock.packages[key] = {
    version,
    cpu: [m[2]],
    ...(m[3] ? { libc: [m[3] === '-gnu' ? 'glibc' : 'musl'] } : {}),
    license: chdb.license ?? 'Apache-2.0',
    optional: true,
    os: [m[1]],
  };
}
if (check) {
  if (missing.length) {
    console.error(`fix-lock: package-lock.json lacks ${missing.join(', ')}: run node scripts/fix-lock.mjs`);
    process.exit(1);
  }
  console.log('fix-lock: every chdb platform package is in package-lock.json');
  process.exit(0);
}
const keys = Object.keys(lock.packages).sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0));
lock.packages = Object.fromEntries(keys.map((k) => [k, lock.packages[k]]));
writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
console.log(missing.length ? `fix-lock: added ${missing.join(', ')}` : 'fix-lock: nothing to add');
