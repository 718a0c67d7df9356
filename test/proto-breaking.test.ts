// scripts/buf-breaking.mjs on scratch git repositories made here (no network): this project's
// buf.yaml and .proto files, then commits that keep or break the wire. A renumbered field fails;
// an added message passes; the first commit says SKIPPED and passes (there is no earlier wire);
// a shallow clone and a directory outside git say SKIPPED locally but FAIL under CI=true (the
// check did not run); on a branch the base is the fork point, so a break two commits back is
// still caught.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCRIPT = join(ROOT, 'scripts', 'buf-breaking.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'agentbus-buf-breaking-'));
// A git that ignores the machine's config (signing, hooks, default branch).
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.invalid',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.invalid',
  GIT_TERMINAL_PROMPT: '0',
};
delete (GIT_ENV as Record<string, string | undefined>)['BUF_BREAKING_AGAINST'];
delete (GIT_ENV as Record<string, string | undefined>)['CI']; // each case says whether it runs as CI

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function run(cwd: string, env: Record<string, string> = {}): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [SCRIPT], { cwd, env: { ...GIT_ENV, ...env }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** The last line the script printed (its verdict). */
const verdict = (out: string) => out.trim().split('\n').at(-1) ?? '';

let seq = 0;
/** A repository holding this project's buf.yaml and proto modules, one commit. Returns it and the Envelope file. */
function scratchRepo(): { dir: string; envelope: string } {
  const dir = join(tmp, `repo${seq++}`);
  mkdirSync(dir, { recursive: true });
  cpSync(join(ROOT, 'buf.yaml'), join(dir, 'buf.yaml'));
  const modules = (parse(readFileSync(join(ROOT, 'buf.yaml'), 'utf8')) as { modules: { path: string }[] }).modules;
  for (const m of modules) cpSync(join(ROOT, m.path), join(dir, m.path), { recursive: true });
  const protos = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.proto'));
  const envelope = protos.find((f) => /^message Envelope \{/m.test(readFileSync(join(dir, f), 'utf8')));
  assert.ok(envelope, 'the Envelope message is in a module');
  git(dir, 'init', '-q', '-b', 'main');
  commitAll(dir, 'proto as in agentbus');
  return { dir, envelope: join(dir, envelope!) };
}

function commitAll(dir: string, msg: string) {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', msg);
}

/** Replace exactly one occurrence (a test whose edit did not happen must not pass). */
function edit(file: string, from: string, to: string) {
  const text = readFileSync(file, 'utf8');
  assert.is(text.split(from).length, 2, `${relative(tmp, file)} contains ${JSON.stringify(from)} once`);
  writeFileSync(file, text.replace(from, to));
}

const RENUMBER = ['  bytes signature = 3;', '  bytes signature = 4;'] as const;
const ADD_MESSAGE = '\nmessage ScratchAddition {\n  string note = 1;\n}\n';

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test('proto-breaking - the first commit: SKIPPED, visibly, exit 0', () => {
  const { dir } = scratchRepo();
  const r = run(dir);
  assert.is(r.code, 0, r.out);
  assert.match(verdict(r.out), /^buf breaking: SKIPPED — [0-9a-f]{12} is the first commit: there is no previous one; nothing was compared$/);
  // there is no earlier wire to break, in CI too
  const ci = run(dir, { CI: 'true' });
  assert.is(ci.code, 0, ci.out);
  assert.match(verdict(ci.out), /^buf breaking: SKIPPED — [0-9a-f]{12} is the first commit/);
});

test('proto-breaking - an added message is compatible with the previous commit', () => {
  const { dir, envelope } = scratchRepo();
  writeFileSync(envelope, readFileSync(envelope, 'utf8') + ADD_MESSAGE);
  commitAll(dir, 'add a message');
  const r = run(dir);
  assert.is(r.code, 0, r.out);
  assert.match(
    verdict(r.out),
    /^buf breaking: compared the \.proto in the working tree with [0-9a-f]{12} \(HEAD~1, the previous commit\), \d+ file\(s\): no breaking change$/,
  );
  assert.ok(verdict(r.out).includes(git(dir, 'rev-parse', '--short=12', 'HEAD~1')));
});

test('proto-breaking - a renumbered field fails, committed or not, naming the field', () => {
  const { dir, envelope } = scratchRepo();
  writeFileSync(envelope, readFileSync(envelope, 'utf8') + ADD_MESSAGE);
  commitAll(dir, 'add a message');
  edit(envelope, ...RENUMBER);
  const dirty = run(dir);
  assert.is(dirty.code, 1, dirty.out);
  assert.match(dirty.out, /Previously present field "3" with name "signature" on message "Envelope" was deleted/);
  assert.match(verdict(dirty.out), /^buf breaking: FAILED — compared the \.proto in the working tree \(with uncommitted changes\) with [0-9a-f]{12} \(HEAD~1/);
  commitAll(dir, 'renumber signature');
  const committed = run(dir);
  assert.is(committed.code, 1, committed.out);
  assert.match(verdict(committed.out), /^buf breaking: FAILED — .*: breaking change\(s\) above$/);
  // an explicit base at the breaking commit itself accepts it
  const accepted = run(dir, { BUF_BREAKING_AGAINST: 'HEAD' });
  assert.is(accepted.code, 0, accepted.out);
  assert.match(verdict(accepted.out), /\(BUF_BREAKING_AGAINST=HEAD\), \d+ file\(s\): no breaking change$/);
  // an explicit base that does not resolve is an error, not a skip
  const missing = run(dir, { BUF_BREAKING_AGAINST: 'no-such-ref' });
  assert.is(missing.code, 1, missing.out);
  assert.match(verdict(missing.out), /FAILED — BUF_BREAKING_AGAINST=no-such-ref is not a commit/);
});

test('proto-breaking - a shallow clone without the parent: SKIPPED, visibly, exit 0; under CI=true FAILED, exit 1', () => {
  const { dir, envelope } = scratchRepo();
  edit(envelope, ...RENUMBER);
  commitAll(dir, 'renumber signature');
  const clone = join(tmp, `shallow${seq++}`);
  git(tmp, 'clone', '-q', '--depth', '1', `file://${dir}`, clone);
  assert.is(git(clone, 'rev-parse', '--is-shallow-repository'), 'true');
  const r = run(clone);
  assert.is(r.code, 0, r.out);
  assert.match(verdict(r.out), /^buf breaking: SKIPPED — shallow clone: the parent of [0-9a-f]{12} was not fetched/);
  const ci = run(clone, { CI: 'true' });
  assert.is(ci.code, 1, ci.out);
  assert.match(
    verdict(ci.out),
    /^buf breaking: FAILED — CI=true: cannot compare, shallow clone: the parent of [0-9a-f]{12} was not fetched .*; nothing was compared$/,
  );
  // with the parent fetched, the same commit fails
  git(clone, 'fetch', '-q', '--deepen=1');
  assert.is(run(clone).code, 1);
});

test('proto-breaking - on a branch the base is the fork point from origin/HEAD: a break two commits back fails', () => {
  const { dir, envelope } = scratchRepo();
  const clone = join(tmp, `clone${seq++}`);
  git(tmp, 'clone', '-q', `file://${dir}`, clone);
  git(clone, 'switch', '-q', '-c', 'feature');
  edit(join(clone, relative(dir, envelope)), ...RENUMBER);
  commitAll(clone, 'renumber signature');
  writeFileSync(join(clone, 'NOTES'), 'unrelated\n');
  commitAll(clone, 'unrelated');
  const r = run(clone);
  assert.is(r.code, 1, r.out);
  assert.match(verdict(r.out), /with [0-9a-f]{12} \(the fork point from origin\/main\)/);
  assert.ok(verdict(r.out).includes(git(clone, 'rev-parse', '--short=12', 'origin/main')));
  // the previous commit alone would not have seen it
  assert.is(run(clone, { BUF_BREAKING_AGAINST: 'HEAD~1' }).code, 0);
  // on the default branch itself (HEAD = origin/HEAD) it is HEAD~1 again: here the first commit
  git(clone, 'switch', '-q', 'main');
  assert.match(verdict(run(clone).out), /SKIPPED — [0-9a-f]{12} is the first commit/);
});

test('proto-breaking - outside a git checkout: SKIPPED, visibly, exit 0; under CI=true FAILED, exit 1', () => {
  const dir = join(tmp, `plain${seq++}`);
  mkdirSync(dir, { recursive: true });
  cpSync(join(ROOT, 'buf.yaml'), join(dir, 'buf.yaml'));
  const r = run(dir);
  assert.is(r.code, 0, r.out);
  assert.match(verdict(r.out), /^buf breaking: SKIPPED — .* is not a git checkout; nothing was compared$/);
  const ci = run(dir, { CI: 'true' });
  assert.is(ci.code, 1, ci.out);
  assert.match(verdict(ci.out), /^buf breaking: FAILED — CI=true: cannot compare, .* is not a git checkout; nothing was compared$/);
});

test.run();
