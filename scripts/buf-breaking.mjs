#!/usr/bin/env node
// `buf breaking` (the rules in buf.yaml's `breaking` section) for the .proto files in the working
// tree against a base commit's: $BUF_BREAKING_AGAINST if set (any git revision; it must resolve),
// else the fork point from origin/HEAD when HEAD is on a branch ahead of it (so every commit of
// the branch is covered, not only the last), else HEAD~1 (the previous commit; for a merge, its
// first parent, i.e. the branch merged into).
// The base's buf.yaml/buf.lock and .proto files are read with git into a temporary directory,
// so buf never clones and nothing touches the network.
//
// Prints one line saying what it compared and the outcome. Exits 0 when compatible, 1 on a
// breaking change (buf's findings above the line) or an error. When there is nothing to compare
// with — the first commit of a complete history, a base with no buf.yaml or no .proto — it prints
// "buf breaking: SKIPPED — <why>" and exits 0. When it cannot compare — not a git checkout, git
// not installed, a shallow clone without the parent — it does the same locally, but under CI
// (CI=true) it prints "buf breaking: FAILED — CI=true: cannot compare, <why>" and exits 1: CI must
// not pass a check it did not run (.ci/run fetches the parent of a shallow clone first).
// Usage: node scripts/buf-breaking.mjs [dir]   (dir: where buf.yaml is; default the cwd)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const dir = resolve(process.argv[2] ?? '.');
const say = (line) => console.log(`buf breaking: ${line}`);
const skip = (why) => {
  say(`SKIPPED — ${why}; nothing was compared`);
  process.exit(0);
};
const fail = (why) => {
  say(`FAILED — ${why}`);
  process.exit(1);
};
const ci = /^(1|true|yes)$/i.test(process.env.CI ?? '');
/** Missing information (not a lack of history to compare with): a skip locally, a failure in CI. */
const cannot = (why) => (ci ? fail(`CI=true: cannot compare, ${why}; nothing was compared`) : skip(why));

/** git in `dir`; undefined when it exits non-zero. */
function git(args, encoding = 'utf8') {
  const r = spawnSync('git', ['-C', dir, ...args], { encoding, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error?.code === 'ENOENT') cannot('git is not installed');
  return r.status === 0 ? r.stdout : undefined;
}
const rev = (spec) => git(['rev-parse', '--verify', '--quiet', `${spec}^{commit}`])?.trim() || undefined;

if (git(['rev-parse', '--is-inside-work-tree'])?.trim() !== 'true') cannot(`${dir} is not a git checkout`);
const head = rev('HEAD');
if (!head) skip('the repository has no commit yet');
const short = (sha) => sha.slice(0, 12);

let base;
let how;
const explicit = process.env.BUF_BREAKING_AGAINST;
if (explicit) {
  base = rev(explicit);
  if (!base) fail(`BUF_BREAKING_AGAINST=${explicit} is not a commit in this clone`);
  how = `BUF_BREAKING_AGAINST=${explicit}`;
} else {
  const upstream = rev('refs/remotes/origin/HEAD');
  const forkPoint = upstream ? git(['merge-base', 'HEAD', upstream])?.trim() : undefined;
  if (forkPoint && forkPoint !== head) {
    base = forkPoint;
    how = `the fork point from ${git(['symbolic-ref', '--short', 'refs/remotes/origin/HEAD'])?.trim() || 'origin/HEAD'}`;
  } else {
    base = rev('HEAD~1');
    how = 'HEAD~1, the previous commit';
    if (!base) {
      if (git(['rev-parse', '--is-shallow-repository'])?.trim() === 'true')
        cannot(`shallow clone: the parent of ${short(head)} was not fetched (git fetch --deepen=1)`);
      skip(`${short(head)} is the first commit: there is no previous one`);
    }
  }
}

// The base's files under `dir` (paths relative to it), written into a temporary directory.
const prefix = git(['rev-parse', '--show-prefix'])?.trim() ?? '';
const names = (git(['ls-tree', '-r', '-z', '--full-name', '--name-only', base, '--', '.']) ?? '')
  .split('\0')
  .filter(Boolean)
  .map((p) => p.slice(prefix.length));
const config = names.filter((p) => /^(buf\.yaml|buf\.lock|buf\.work\.yaml)$/.test(p));
const protos = names.filter((p) => p.endsWith('.proto'));
if (!config.includes('buf.yaml') && !config.includes('buf.work.yaml')) skip(`${short(base)} (${how}) has no buf.yaml`);
if (protos.length === 0) skip(`${short(base)} (${how}) has no .proto files`);

const against = mkdtempSync(join(tmpdir(), 'buf-breaking-'));
let outcome;
try {
  outcome = compare();
} finally {
  rmSync(against, { recursive: true, force: true });
}
if (outcome.ok) say(outcome.line);
else fail(outcome.line);

function compare() {
  for (const p of [...config, ...protos]) {
    const blob = git(['cat-file', 'blob', `${base}:${prefix}${p}`], 'buffer');
    if (blob === undefined) return { ok: false, line: `cannot read ${prefix}${p} at ${short(base)}` };
    mkdirSync(dirname(join(against, p)), { recursive: true });
    writeFileSync(join(against, p), blob);
  }
  const dirty = git(['status', '--porcelain', '--', '*.proto', 'buf.yaml'])?.trim() ? ' (with uncommitted changes)' : '';
  const what = `compared the .proto in the working tree${dirty} with ${short(base)} (${how}), ${protos.length} file(s)`;
  const buf = createRequire(import.meta.url).resolve('@bufbuild/buf/bin/buf');
  const r = spawnSync(process.execPath, [buf, 'breaking', dir, '--against', against], { stdio: 'inherit' });
  if (r.status === 0) return { ok: true, line: `${what}: no breaking change` };
  if (r.status === 100) return { ok: false, line: `${what}: breaking change(s) above` };
  return { ok: false, line: `${what}: buf exited ${r.status ?? r.signal}` };
}
