// Path arguments of tool calls (docs/design.md §11): a POSIX path is accepted only if it is, after
// normalization, inside one of the allowed roots — and only if no spelling trick could make the
// tool host see something else. The verifier checks the string; the tool host re-checks with
// `recheckRealPath` after resolving symlinks (the verifier cannot see the tool host's disk).
//
// Refused outright (never "cleaned"): NUL and other control characters, backslashes, lone
// surrogates, `..` segments (even ones that would stay inside a root: `a/..` resolved by the
// kernel goes to the parent of wherever the symlink `a` points, not lexically back), percent
// escapes that decode — once or repeatedly — to `.`, `/`, `\`, NUL or a control character,
// percent escapes that are not valid UTF-8 (overlong `%c0%ae` is the classic), and strings whose
// NFKC form has a different `.`/`/`/`\` structure (fullwidth dot U+FF0E, one-dot leader U+2024,
// two-dot leader U+2025, fullwidth solidus U+FF0F...): some tools normalize Unicode, the kernel
// does not, and the two must not disagree about where the path goes. On the tool host a dangling
// symlink is refused too: writing through it would create its target, wherever that is.
import { posix } from 'node:path';
import { realpathSync, lstatSync } from 'node:fs';

/** PATH_MAX on Linux; longer strings are refused before any other work. */
export const MAX_TOOL_PATH_LENGTH = 4096;
/** Rounds of percent-decoding tried before a still-encoded string is refused as too deep. */
const MAX_DECODE_ROUNDS = 4;

/** `detail` is a predicate about the path ("contains a NUL byte"); callers put the argument's name before it. */
export type PathCheck = { ok: true; path: string } | { ok: false; detail: string };

// C0 controls (NUL included), DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// A lone surrogate (in u-mode a valid pair is one code point and does not match).
const LONE_SURROGATE = /\p{Cs}/u;
const ASCII = /^[\u0000-\u007f]*$/;
const DOTDOT = /(?:^|\/)\.\.(?:\/|$)/;
const PCT = /%[0-9a-fA-F]{2}/;
const PCT_G = /%([0-9a-fA-F]{2})/g;
// Escapes whose decoding is structural or a control character: . / \ and C0/DEL.
const PCT_DANGEROUS = /%(2e|2f|5c|0[0-9a-f]|1[0-9a-f]|7f)/i;
const STRUCTURE = /[^./\\%]/g;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const enc = new TextEncoder();

/** One round of percent-decoding as UTF-8; undefined if the bytes are not valid UTF-8 (overlong forms included). */
function decodeOnce(s: string): string | undefined {
  const parts = s.split(PCT_G); // odd indices are the hex pairs
  const bytes: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 1) bytes.push(parseInt(parts[i]!, 16));
    else for (const b of enc.encode(parts[i]!)) bytes.push(b);
  }
  try {
    return utf8.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

/** Why `s` is not an acceptable spelling of a path, or undefined. Does not look at roots. */
export function pathSpellingProblem(s: string): string | undefined {
  if (s.length === 0) return 'is empty';
  if (s.length > MAX_TOOL_PATH_LENGTH) return `is longer than ${MAX_TOOL_PATH_LENGTH} characters`;
  if (s.includes('\u0000')) return 'contains a NUL byte';
  if (CONTROL.test(s)) return 'contains a control character';
  if (s.includes('\\')) return 'contains a backslash';
  const ascii = ASCII.test(s); // ASCII is NFKC-invariant and has no surrogates
  if (!ascii && LONE_SURROGATE.test(s)) return 'is not well-formed Unicode (lone surrogate)';
  // Percent escapes, possibly nested (%252e -> %2e -> .).
  let cur = s;
  for (let round = 0; PCT.test(cur); round++) {
    if (round >= MAX_DECODE_ROUNDS) return 'is percent-encoded too many times';
    if (PCT_DANGEROUS.test(cur))
      return round === 0
        ? 'contains a percent-encoded dot, slash, backslash or control character'
        : 'contains a multiply percent-encoded dot, slash, backslash or control character';
    const next = decodeOnce(cur);
    if (next === undefined) return 'contains percent escapes that are not valid UTF-8 (overlong encoding?)';
    if (next.includes('\\') || CONTROL.test(next)) return 'contains a percent-encoded backslash or control character';
    cur = next;
  }
  // Unicode compatibility forms of . / \ (and anything else that changes the structure under NFKC).
  const nfkc = ascii ? s : s.normalize('NFKC');
  if (nfkc !== s && nfkc.replace(STRUCTURE, '') !== s.replace(STRUCTURE, ''))
    return 'contains a Unicode look-alike of ".", "/", "\\" or "%" (changes under NFKC)';
  if (DOTDOT.test(s)) return 'contains a ".." segment';
  return undefined;
}

/** A root as given in a policy: absolute, spelled plainly, normalized, no trailing slash (except "/"). */
export function normalizeRoot(root: string): string {
  const p = pathSpellingProblem(root);
  if (p) throw new Error(`root ${JSON.stringify(root)} ${p}`);
  if (!root.startsWith('/')) throw new Error(`root ${JSON.stringify(root)} is not absolute`);
  const n = posix.normalize(root);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** `p` (normalized, absolute) is `root` or below it, with a separator boundary: /srv/project2 is not inside /srv/project. */
export function isInsideRoot(root: string, p: string): boolean {
  if (root === '/') return p.startsWith('/');
  return p === root || (p.startsWith(root) && p.charCodeAt(root.length) === 47) /* / */;
}

/**
 * Check a path argument against normalized roots (see `normalizeRoot`). A relative path is
 * refused unless `base` (normalized, absolute) is given, then it is resolved against it.
 * On success `path` is the normalized absolute path (what a wrapper should pass to the tool).
 */
export function checkToolPath(value: string, roots: readonly string[], base?: string): PathCheck {
  const problem = pathSpellingProblem(value);
  if (problem) return { ok: false, detail: problem };
  let abs: string;
  if (value.startsWith('/')) abs = value;
  else if (base !== undefined) abs = `${base}/${value}`;
  else return { ok: false, detail: 'is relative (must be absolute)' };
  let n = posix.normalize(abs);
  if (n.length > 1 && n.endsWith('/')) n = n.slice(0, -1);
  for (const r of roots) if (isInsideRoot(r, n)) return { ok: true, path: n };
  return { ok: false, detail: `is ${n}, outside the allowed roots (${roots.join(', ')})` };
}

/**
 * For the tool host, after the verifier accepted `p`: resolve symlinks and check that the real
 * path is still inside one of the real roots. A path that does not exist yet (a file about to be
 * written) is checked through its deepest existing ancestor; the missing tail must not contain
 * `..` (checkToolPath already refused that). Between this check and the tool's open() a symlink
 * can still be swapped in; a wrapper that needs more opens with O_NOFOLLOW or inside a chroot.
 */
export function recheckRealPath(roots: string | readonly string[], p: string): PathCheck {
  const list = typeof roots === 'string' ? [roots] : roots;
  const realRoots: string[] = [];
  for (const r of list) {
    try {
      realRoots.push(realpathSync(r));
    } catch {
      // a root that does not exist on this host admits nothing
    }
  }
  if (realRoots.length === 0) return { ok: false, detail: 'no allowed root exists on this host' };
  let real: string;
  try {
    real = resolveExisting(p);
  } catch (e) {
    return { ok: false, detail: `cannot be resolved (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  for (const r of realRoots) if (isInsideRoot(r, real)) return { ok: true, path: real };
  return { ok: false, detail: `resolves to ${real}, outside the allowed roots (symlink?)` };
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function resolveExisting(p: string): string {
  const abs = posix.normalize(p);
  const tail: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = realpathSync(cur);
      return tail.length ? posix.join(real, ...tail.reverse()) : real;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      if (cur === '/' || cur === '') throw e;
      // It exists but does not resolve: a dangling symlink, whose target the tool would create.
      if (exists(cur)) throw Object.assign(new Error('dangling symlink'), { code: 'EDANGLING' });
      const seg = posix.basename(cur);
      if (seg === '..' || seg === '.') throw e;
      tail.push(seg);
      cur = posix.dirname(cur);
    }
  }
}
