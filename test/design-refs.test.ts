// The design of record lives in the repository (docs/design.md), and every reference to it
// resolves. Code comments, CLI help, tests, benches and docs cite sections as
// `docs/design.md §N` (several: `§6, §9`; a range: `§9–§10`). This test reads every tracked text
// file (git ls-files; not node_modules, dist or the generated protocol code) and fails, naming
// file:line, on a reference to a section docs/design.md does not have, on the old upper-case
// spelling of a design reference, on a reference that names the file without its `docs/` path,
// on an anchor link to a missing anchor, and on any path into the shared working area outside
// the repository. It also checks docs/design.md's own numbering and anchors, and that
// docs/README.md indexes every file in docs/. The scanner is exercised on planted bad
// references below, so a scanner that finds nothing cannot pass.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, relative, dirname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DESIGN_FILE = 'docs/design.md';

/** Files not scanned: dependencies, build output, generated code. */
const SKIP = (path: string) => /(^|\/)(node_modules|dist|\.git)\//.test(path) || path.startsWith('packages/protocol/src/gen/');

/** Sections of docs/design.md: each heading `## §N Title` right after its anchor `<a id="sN"></a>`. */
function designSections(text: string): { numbers: number[]; problems: string[] } {
  const lines = text.split('\n');
  const numbers: number[] = [];
  const problems: string[] = [];
  lines.forEach((line, i) => {
    const heading = /^## §(\d+) \S/.exec(line);
    const anchor = /^<a id="s(\d+)"><\/a>$/.exec(line);
    if (anchor) {
      const next = lines[i + 1] ?? '';
      if (!new RegExp(`^## §${anchor[1]} \\S`).test(next))
        problems.push(`${DESIGN_FILE}:${i + 1}: anchor s${anchor[1]} is not followed by the heading "## §${anchor[1]} …"`);
    }
    if (heading) {
      if ((lines[i - 1] ?? '') !== `<a id="s${heading[1]}"></a>`)
        problems.push(`${DESIGN_FILE}:${i + 1}: heading §${heading[1]} has no anchor <a id="s${heading[1]}"></a> on the line before`);
      numbers.push(Number(heading[1]));
    } else if (/^#{1,6}\s*§/.test(line)) problems.push(`${DESIGN_FILE}:${i + 1}: a section heading must read "## §N Title"`);
  });
  return { numbers, problems };
}

/**
 * A reference: `docs/design.md` then one or more `§N`, joined by commas, dashes, "and", "or",
 * whitespace, and the comment markers of a list broken over lines.
 */
const REF = /docs\/design\.md((?:(?:\s|,|–|-|\/\/|\*|#|\band\b|\bor\b)*§\d+(?:\.\d+)*)+)/g;
const SECTION = /§(\d+(?:\.\d+)*)/g;
/** Anything that is not the one form. */
const OLD_FORM = /\b[D]ESIGN(?:\.md)?\b/;
const BARE_FILE_REF = /(?<!docs\/)\bdesign\.md\s*§/;
const ANCHOR_LINK = /design\.md#s(\d+)\b/g;
const OUTSIDE = [/\.\.\/shared\b/, /\bshared\/[D]ESIGN\b/i];

/** Problems in one file's text, each "file:line: what". `sections` are the numbers design.md has. */
function scanText(file: string, text: string, sections: ReadonlySet<number>): { problems: string[]; refs: number } {
  const problems: string[] = [];
  const lineOf = (index: number) => text.slice(0, index).split('\n').length;
  let refs = 0;
  for (const m of text.matchAll(REF)) {
    for (const s of m[1]!.matchAll(SECTION)) {
      refs++;
      const n = s[1]!;
      if (!/^\d+$/.test(n) || !sections.has(Number(n))) {
        problems.push(`${file}:${lineOf(m.index! + 'docs/design.md'.length + s.index!)}: docs/design.md has no section §${n}`);
      }
    }
  }
  for (const m of text.matchAll(ANCHOR_LINK)) {
    if (!sections.has(Number(m[1]))) problems.push(`${file}:${lineOf(m.index!)}: docs/design.md has no anchor s${m[1]}`);
  }
  text.split('\n').forEach((line, i) => {
    if (OLD_FORM.test(line)) problems.push(`${file}:${i + 1}: old spelling of a design reference; write docs/design.md §N`);
    if (BARE_FILE_REF.test(line)) problems.push(`${file}:${i + 1}: a design reference names the file from the repository root: docs/design.md §N`);
    for (const re of OUTSIDE)
      if (re.test(line)) problems.push(`${file}:${i + 1}: refers to a path outside the repository (the design of record is docs/design.md)`);
  });
  return { problems, refs };
}

/** The repository's tracked (and new, not ignored) files; a plain walk when this is not a git checkout. */
function repoFiles(): string[] {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    return [...new Set(out.split('\0').filter(Boolean))].filter((f) => !SKIP(f) && existsSync(join(ROOT, f)));
  } catch {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        const rel = relative(ROOT, p);
        if (e.isDirectory()) {
          if (!SKIP(`${rel}/`)) walk(p);
        } else if (e.isFile() && !SKIP(rel)) files.push(rel);
      }
    };
    walk(ROOT);
    return files;
  }
}

function readText(file: string): string | undefined {
  const buf = readFileSync(join(ROOT, file));
  if (buf.subarray(0, 8192).includes(0)) return undefined; // binary
  return buf.toString('utf8');
}

const design = designSections(readFileSync(join(ROOT, DESIGN_FILE), 'utf8'));
const SECTIONS: ReadonlySet<number> = new Set(design.numbers);

test('docs/design.md - sections §1–§19 in order, numbered once each, every heading with its anchor', () => {
  assert.equal(design.problems, []);
  assert.ok(design.numbers.length >= 19, `${design.numbers.length} sections`);
  // the numbering is an interface: §1–§19 as agreed, later sections appended in order
  assert.equal(
    design.numbers,
    design.numbers.map((_, i) => i + 1),
  );
});

test('design refs - every reference in the repository names a section docs/design.md has, in the one form', () => {
  const files = repoFiles();
  assert.ok(files.includes(DESIGN_FILE) && files.includes('README.md') && files.some((f) => f.startsWith('packages/')), 'the file list is the repository');
  const problems: string[] = [];
  let refs = 0;
  const citing = new Set<string>();
  for (const file of files) {
    const text = readText(file);
    if (text === undefined) continue;
    const r = scanText(file, text, SECTIONS);
    problems.push(...r.problems);
    refs += r.refs;
    if (r.refs) citing.add(file.split('/')[0]!);
  }
  assert.ok(problems.length === 0, `\n${problems.join('\n')}`);
  // the scan found the references the code and docs carry (a broken pattern would find none)
  assert.ok(refs >= 100, `only ${refs} references found`);
  for (const top of ['packages', 'test', 'bench', 'docs', 'README.md']) assert.ok(citing.has(top), `no reference found under ${top}`);
});

test('design refs - the scanner fails on planted bad references, with file and line', () => {
  // every sample is built from `D` and `old`, so this file's own source cites nothing
  const D = 'docs/design' + '.md';
  const old = 'DES' + 'IGN';
  const S = new Set([1, 2, 9, 10, 19]);
  const scan = (text: string) => scanText('x.ts', text, S).problems;
  // good ones pass
  assert.equal(scan(`// a (${D} §9)\n// b ${D} §9–§10\n// c (${D} §1, §2 and §19)\nsee ${D}#s9\n// PROTOCOL.md §15.3 is not ours\n`), []);
  assert.equal(scanText('x.ts', `${D} §9, §10`, S).refs, 2);
  // a section that does not exist, alone, in a list, at the end of a range, a subsection
  assert.equal(scan(`one\n// ${D} §42: gone`), [`x.ts:2: ${D} has no section §42`]);
  assert.equal(scan(`${D} §9, §20`), [`x.ts:1: ${D} has no section §20`]);
  assert.equal(scan(`a\nb\n(${D} §9–§11)`), [`x.ts:3: ${D} has no section §11`]);
  assert.equal(scan(`${D} §9.2`), [`x.ts:1: ${D} has no section §9.2`]);
  // a list broken over two comment lines is still one reference
  assert.equal(scan(`// (${D} §9,\n// §12)`), [`x.ts:2: ${D} has no section §12`]);
  // an anchor link that does not exist
  assert.equal(scan(`[x](${D.slice(5)}#s7)`), [`x.ts:1: ${D} has no anchor s7`]);
  // the old spelling, whatever the section
  assert.equal(scan(`// ok\n// (${old} §9)`), [`x.ts:2: old spelling of a design reference; write ${D} §N`]);
  assert.equal(scan(`${old}.md says`).length, 1);
  // the file without its path from the root
  assert.equal(scan(`see ${D.slice(5)} §9`), [`x.ts:1: a design reference names the file from the repository root: ${D} §N`]);
  // paths outside the repository
  assert.equal(scan(`read ${'..'}/shared/x`).length, 1);
  assert.equal(scan(`read /work/shared/${old}.md`).length, 2); // the path, and the old name
});

test('docs/README.md - indexes every file in docs/ and the top-level README.md and PROTOCOL.md; every link resolves', () => {
  const index = readFileSync(join(ROOT, 'docs/README.md'), 'utf8');
  const links = [...index.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);
  const targets = new Set(links.map((l) => normalize(join('docs', l))));
  for (const l of links) assert.ok(existsSync(join(ROOT, 'docs', l)), `docs/README.md links ${l}, which does not exist`);
  const docs: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir))) {
      const rel = `${dir}/${e}`;
      // the generated API reference: its README indexes its pages (test/api-docs.test.ts checks them)
      if (rel === 'docs/api') docs.push('docs/api/README.md');
      else if (statSync(join(ROOT, rel)).isDirectory()) walk(rel);
      else docs.push(rel);
    }
  };
  walk('docs');
  assert.ok(docs.includes(DESIGN_FILE), 'docs/ listed');
  for (const f of docs) assert.ok(targets.has(normalize(f)), `docs/README.md does not list ${f}`);
  for (const f of ['README.md', 'PROTOCOL.md']) assert.ok(targets.has(f), `docs/README.md does not list ${f}`);
});

test.run();
