// The content-guard scanner (docs/design.md §12): every string of a JSON payload — values and keys —
// and every header metadata value, for invisible text, control characters and credentials.
// Pure and synchronous; linear in the input (each string is walked a bounded number of times;
// no regex here or in the rules backtracks more than a bounded window); at most `maxFindings`
// findings per call, `maxPerKind` of one kind — caps on what is recorded, never on whether a kind
// the policy rejects is found (see Collector). The verifier calls it for every message, the
// CLI (`agentbus guard scan`) for a file.
//
// Payloads are scanned decoded: escapes such as "\udb40\udc41" are the characters they spell.
// scanPayload walks the JSON text itself (not the object JSON.parse builds), so a value hidden
// behind a duplicate key — which some consumers read and others drop — is scanned too. A
// payload that is not JSON is scanned as one string; bytes that are not UTF-8 are a finding.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { findCredentials, prescan, secretKeyClass, looksLikeSecretValue, type CredentialMatch } from './credentials.js';
import { scanUnicode, printable } from './unicode.js';
import {
  GUARD_KINDS,
  DEFAULT_MAX_FINDINGS,
  DEFAULT_MAX_FINDINGS_PER_KIND,
  MAX_FINDING_DETAIL,
  type GuardFinding,
  type GuardKind,
  type ScanOptions,
} from './types.js';

export interface ScanResult {
  findings: GuardFinding[];
  /** A cap was reached: findings may have been left out. */
  truncated: boolean;
}

const enc = new TextEncoder();
/** First 12 hex digits of SHA-256 of the text: correlates a secret without keeping it. */
export function secretHash(text: string): string {
  return bytesToHex(sha256(enc.encode(text))).slice(0, 12);
}

/** keySegment, remembered: the same keys repeat across objects and messages. */
const SEGMENTS = new Map<string, string>();
const SEGMENTS_NO_CREDENTIALS = new Map<string, string>();

/** Longest path in a finding (deeper ones keep their head and tail). */
const MAX_PATH = 512;

class Collector {
  readonly findings: GuardFinding[] = [];
  truncated = false;
  /** The strings being walked are printable ASCII (scanMessage's `plain`): none holds an invisible or control character. */
  plain = false;
  private readonly perKind = new Map<GuardKind, number>();
  private readonly seen = new Set<string>();
  readonly max: number;
  readonly maxPerKind: number;
  readonly want: Record<GuardKind, boolean>;
  /** Kinds the policy rejects (and that are scanned): looked for whatever the caps, until one is recorded. */
  private readonly must: Record<GuardKind, boolean>;
  /** A kind in `must` is still to be looked for past the caps: no finding of such a kind yet. */
  private hunting: boolean;
  constructor(o: ScanOptions = {}) {
    this.max = o.maxFindings ?? DEFAULT_MAX_FINDINGS;
    this.maxPerKind = o.maxPerKind ?? DEFAULT_MAX_FINDINGS_PER_KIND;
    const p = o.policy;
    const kinds = o.kinds ?? (p ? GUARD_KINDS.filter((k) => p[k] !== 'off') : GUARD_KINDS);
    this.want = { credential: kinds.includes('credential'), invisible_text: kinds.includes('invisible_text'), control_chars: kinds.includes('control_chars') };
    // no policy: every kind is rejected (DEFAULT_GUARD_POLICY)
    const rejects = (k: GuardKind) => this.want[k] && (!p || p[k] === 'reject');
    this.must = { credential: rejects('credential'), invisible_text: rejects('invisible_text'), control_chars: rejects('control_chars') };
    this.hunting = this.must.credential || this.must.invisible_text || this.must.control_chars;
  }
  /**
   * Nothing more can be added that matters: every wanted kind has reached its cap, or the total
   * has — and no kind the policy rejects is still unfound (that one is looked for to the end).
   */
  get full(): boolean {
    if (this.hunting) return false;
    if (this.findings.length >= this.max) return true;
    for (const k of GUARD_KINDS) if (this.want[k] && (this.perKind.get(k) ?? 0) < this.maxPerKind) return false;
    return true;
  }
  /**
   * Still looking for kind k. A kind at its cap (or past the total) is not scanned further — the
   * result is marked truncated — unless the policy rejects it and none of a rejected kind is found yet.
   */
  wants(k: GuardKind): boolean {
    if (!this.want[k]) return false;
    if ((this.perKind.get(k) ?? 0) < this.maxPerKind && this.findings.length < this.max) return true;
    this.truncated = true;
    return this.hunting && this.must[k];
  }
  add(f: GuardFinding): void {
    if (!this.want[f.kind]) return;
    const id = `${f.kind}\0${f.path}\0${f.rule ?? ''}\0${f.hash ?? ''}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    const n = this.perKind.get(f.kind) ?? 0;
    if (n >= this.maxPerKind || this.findings.length >= this.max) {
      this.truncated = true;
      // the first finding of a rejected kind is recorded past the caps: the verdict depends on it
      if (!(this.hunting && this.must[f.kind])) return;
    }
    if (this.must[f.kind]) this.hunting = false;
    this.perKind.set(f.kind, n + 1);
    if (f.path.length > MAX_PATH) f.path = `${f.path.slice(0, MAX_PATH / 2)}…${f.path.slice(-MAX_PATH / 2)}`;
    if (f.detail.length > MAX_FINDING_DETAIL) f.detail = f.detail.slice(0, MAX_FINDING_DETAIL - 1) + '…';
    this.findings.push(f);
  }
  segment(k: string): string {
    const cache = this.want.credential ? SEGMENTS : SEGMENTS_NO_CREDENTIALS;
    let seg = cache.get(k);
    if (seg === undefined) {
      seg = keySegment(k, this.want.credential);
      if (k.length <= 256) {
        if (cache.size >= 4096) cache.clear();
        cache.set(k, seg);
      }
    }
    return seg;
  }
  result(): ScanResult {
    return { findings: this.findings, truncated: this.truncated };
  }
}

function credentialFinding(path: string, s: string, m: CredentialMatch, where: string): GuardFinding {
  return {
    kind: 'credential',
    path,
    rule: m.rule,
    detail: `${m.what}${where}, ${m.end - m.start} characters at index ${m.start}`,
    hash: secretHash(s.slice(m.start, m.end)),
  };
}

/** The text with each credential in it replaced by `[credential sha256:…]`. */
function redactCredentials(text: string): string {
  const ms = findCredentials(text);
  if (!ms.length) return text;
  let out = '';
  let at = 0;
  for (const m of ms) {
    out += text.slice(at, m.start) + `[credential sha256:${secretHash(text.slice(m.start, m.end))}]`;
    at = m.end;
  }
  return out + text.slice(at);
}

/** A JSON path, made only when a finding needs it (most strings have none). */
class PathRef {
  private made: string | undefined;
  constructor(
    private readonly base: PathRef | string,
    private readonly arr: boolean,
    private readonly index: number,
    private readonly seg: string,
  ) {}
  toString(): string {
    if (this.made !== undefined) return this.made;
    // iterative: a deeply nested payload must not overflow the stack
    const chain: PathRef[] = [];
    let r: PathRef | string = this;
    while (typeof r !== 'string' && r.made === undefined) {
      chain.push(r);
      r = r.base;
    }
    let acc = typeof r === 'string' ? r : r.made!;
    for (let i = chain.length - 1; i >= 0; i--) {
      const x = chain[i]!;
      acc += x.arr ? `[${x.index}]` : x.seg;
      x.made = acc;
    }
    return acc;
  }
}
type PathOf = string | PathRef;

/**
 * One string at `path`. `key`: it is an object key (detail says so). `memberKey`: the key this
 * value is stored under, for the secret-like-key check.
 */
function scanString(c: Collector, s: string, pathOf: PathOf, key: boolean, memberKey?: string): void {
  if (c.full) return;
  let path: string | undefined;
  const inKey = key ? 'key: ' : '';
  let stripped: string | undefined;
  let hidden = '';
  const invisible = c.wants('invisible_text');
  const control = c.wants('control_chars');
  const credential = c.wants('credential');
  // also when only credentials are looked for (invisible text off, or at its cap): a credential
  // with invisible or control characters inside it is found in the text without them
  const unicode = (invisible || control || credential) && !c.plain;
  // one pass over the string for the credential gates and the Unicode candidates
  const pre = credential ? prescan(s, unicode) : undefined;
  if (unicode) {
    const u = scanUnicode(s, invisible, control, redactCredentials, pre?.unicode);
    if (u) {
      for (const h of u.hits) c.add({ kind: h.kind, path: (path ??= String(pathOf)), rule: h.rule, detail: inKey + h.detail });
      stripped = u.stripped;
      hidden = u.hidden;
    }
  }
  if (!credential) return;
  const where = key ? ' in the key' : '';
  const found = findCredentials(s, 16, pre);
  for (const m of found) c.add(credentialFinding((path ??= String(pathOf)), s, m, where));
  // a credential with invisible or control characters inside it, or hidden in tag characters
  if (stripped !== undefined && stripped !== s)
    for (const m of findCredentials(stripped))
      c.add(credentialFinding((path ??= String(pathOf)), stripped, m, `${where} (with the invisible characters removed)`));
  if (hidden) for (const m of findCredentials(hidden)) c.add(credentialFinding((path ??= String(pathOf)), hidden, m, ' hidden in invisible characters'));
  if (memberKey !== undefined && !key && !found.length) {
    const cls = secretKeyClass(memberKey);
    if (cls && looksLikeSecretValue(s, cls, false))
      c.add({
        kind: 'credential',
        path: (path ??= String(pathOf)),
        rule: 'agentbus:secret-field',
        detail: `secret-looking value under a ${cls}-like key, ${s.length} characters`,
        hash: secretHash(s),
      });
  }
}

// ------------------------------------------------------------------------------------- paths

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const MAX_KEY_IN_PATH = 64;

/**
 * The path segment of an object key: `.name`, or `["…"]` in printable ASCII (invisible
 * characters escaped); a key that holds a credential is `[<redacted sha256:…>]`.
 */
export function keySegment(k: string, wantCredentials = true): string {
  if (wantCredentials && k.length >= 8 && findCredentials(k).length) return `[<redacted sha256:${secretHash(k)}>]`;
  if (IDENT.test(k) && k.length <= MAX_KEY_IN_PATH) return `.${k}`;
  return `["${printable(k, MAX_KEY_IN_PATH)}"]`;
}

// -------------------------------------------------------------------------------------- API

/** One string (e.g. a non-JSON payload) at `path` (default `$`). */
export function scanText(s: string, path = '$', opts: ScanOptions = {}): GuardFinding[] {
  const c = new Collector(opts);
  scanString(c, s, path, false);
  return c.findings;
}

/** Every string of a parsed JSON value, keys too. Paths start at `rootPath` (default `$`). */
export function scanJson(value: unknown, opts: ScanOptions = {}): GuardFinding[] {
  const c = new Collector(opts);
  walkValue(c, value, opts.rootPath ?? '$');
  return c.findings;
}

function walkValue(c: Collector, root: unknown, rootPath: string): void {
  const stack: [unknown, string, string | undefined][] = [[root, rootPath, undefined]];
  const seen = new WeakSet<object>();
  while (stack.length && !c.full) {
    const [v, path, memberKey] = stack.pop()!;
    if (typeof v === 'string') {
      scanString(c, v, path, false, memberKey);
      continue;
    }
    if (!v || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}[${i}]`, undefined]);
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) continue; // JSON values only
    const keys = Object.keys(v);
    const paths = keys.map((k) => path + c.segment(k));
    // keys first, in order; then the values, in order
    keys.forEach((k, i) => scanString(c, k, paths[i]!, true));
    for (let i = keys.length - 1; i >= 0; i--) stack.push([(v as Record<string, unknown>)[keys[i]!], paths[i]!, keys[i]]);
  }
}

/** The path segment of a map key: always `["…"]` (a field is `.name`); a key holding a credential is redacted. */
function mapKeySegment(k: string, wantCredentials: boolean): string {
  if (wantCredentials && k.length >= 8 && findCredentials(k).length) return `[<redacted sha256:${secretHash(k)}>]`;
  return `["${printable(k, MAX_KEY_IN_PATH)}"]`;
}

/**
 * The declared text fields of a decoded binary (protobuf) message: every string inside each —
 * repeated elements (`$.items[2]`), nested messages' fields (`$.meta.note`), map keys and values
 * (`$.labels["k"]`), a oneof's member (the field that is set) — to any depth, with an explicit
 * stack (no recursion: the walk's cost is bounded by the value's size, not by the call stack).
 * Objects whose prototype is Object's (or null) are maps, their keys scanned too; other objects
 * are messages, their own enumerable properties fields; byte arrays and numbers are not text.
 */
function walkFields(c: Collector, value: unknown, names: readonly string[], root: string): void {
  if (!value || typeof value !== 'object') return;
  const stack: [unknown, PathOf, string | undefined][] = [];
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i]!;
    if (Object.hasOwn(value, name)) stack.push([(value as Record<string, unknown>)[name], new PathRef(root, false, 0, c.segment(name)), name]);
  }
  const seen = new WeakSet<object>();
  while (stack.length && !c.full) {
    const [v, path, memberKey] = stack.pop()!;
    if (typeof v === 'string') {
      scanString(c, v, path, false, memberKey);
      continue;
    }
    if (!v || typeof v !== 'object' || seen.has(v) || ArrayBuffer.isView(v)) continue;
    seen.add(v);
    const base = path as PathRef | string;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], new PathRef(base, true, i, ''), undefined]);
      continue;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    const map = proto === Object.prototype || proto === null;
    const keys = Object.keys(v);
    const paths = keys.map((k) => new PathRef(base, false, 0, map ? mapKeySegment(k, c.want.credential) : c.segment(k)));
    if (map) keys.forEach((k, i) => scanString(c, k, paths[i]!, true));
    for (let i = keys.length - 1; i >= 0; i--) stack.push([(v as Record<string, unknown>)[keys[i]!], paths[i]!, keys[i]]);
  }
}

/** Header metadata (`Record<string, string>`): values and keys, at `metadata.<key>`. */
export function scanMetadata(md: Readonly<Record<string, string>>, opts: ScanOptions = {}): GuardFinding[] {
  const c = new Collector(opts);
  walkMetadata(c, md, opts.rootPath ?? 'metadata');
  return c.findings;
}

function walkMetadata(c: Collector, md: Readonly<Record<string, string>>, root: string): void {
  for (const [k, v] of Object.entries(md)) {
    if (c.full) return;
    const p = root + c.segment(k);
    scanString(c, k, p, true);
    if (typeof v === 'string') scanString(c, v, p, false, k);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lossy = new TextDecoder('utf-8', { fatal: false });

/** A payload: UTF-8 JSON (walked as JSON text), else one string at `$`. */
export function scanPayload(bytes: Uint8Array, opts: ScanOptions = {}): GuardFinding[] {
  const c = new Collector(opts);
  walkPayload(c, bytes, opts.rootPath ?? '$');
  return c.findings;
}

function walkPayload(c: Collector, bytes: Uint8Array, root: string): void {
  let text: string;
  try {
    text = utf8.decode(bytes); // a leading BOM is dropped
  } catch {
    text = utf8Lossy.decode(bytes);
    let bad = 0;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0xfffd) bad++;
    c.add({
      kind: 'invisible_text',
      path: root,
      rule: 'invalid_utf8',
      detail: `the payload is not valid UTF-8 (${bad} replacement character(s) after decoding)`,
    });
    scanString(c, text, root, false);
    return;
  }
  let ok = true;
  try {
    JSON.parse(text);
  } catch {
    ok = false;
  }
  if (!ok) {
    scanString(c, text, root, false);
    return;
  }
  walkJsonText(c, text, root);
}

interface Frame {
  /** Path of the container itself. */
  base: PathRef | string;
  arr: boolean;
  index: number;
  /** Object: the current member's key, its path segment; expecting a key next. */
  key: string | undefined;
  seg: string;
  expectKey: boolean;
}

/** Path of the current position: the top frame's current member or element. */
function here(stack: Frame[], root: string): PathOf {
  const top = stack[stack.length - 1];
  return top ? new PathRef(top.base, top.arr, top.index, top.seg) : root;
}

/** Walk valid JSON text: every string literal, with its path (duplicate keys included). */
function walkJsonText(c: Collector, text: string, root: string): void {
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  // the next backslash at or after the current string's position (-2: not looked for yet, -1:
  // none left): found with indexOf, like the closing quotes, instead of a loop per character
  let bs = -2;
  while (i < n) {
    if (c.full) return;
    const ch = text.charCodeAt(i);
    if (ch === 0x7b /* { */) {
      stack.push({ base: here(stack, root) as PathRef | string, arr: false, index: 0, key: undefined, seg: '', expectKey: true });
      i++;
    } else if (ch === 0x5b /* [ */) {
      stack.push({ base: here(stack, root) as PathRef | string, arr: true, index: 0, key: undefined, seg: '', expectKey: false });
      i++;
    } else if (ch === 0x7d || ch === 0x5d /* } ] */) {
      stack.pop();
      i++;
    } else if (ch === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top) {
        if (top.arr) top.index++;
        else top.expectKey = true;
      }
      i++;
    } else if (ch === 0x3a /* : */) {
      const top = stack[stack.length - 1];
      if (top) top.expectKey = false;
      i++;
    } else if (ch === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q === -1) {
          j = n;
          break;
        }
        if (bs !== -1 && bs < j) bs = text.indexOf('\\', j);
        if (bs !== -1 && bs < q) {
          // an escape before the quote: skip the escaped character (it may be a quote)
          escaped = true;
          j = bs + 2;
          continue;
        }
        j = q;
        break;
      }
      const s = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
      i = j + 1;
      const top = stack[stack.length - 1];
      if (top && !top.arr && top.expectKey) {
        top.key = s;
        top.seg = c.segment(s);
        scanString(c, s, here(stack, root), true);
      } else {
        scanString(c, s, here(stack, root), false, top && !top.arr ? top.key : undefined);
      }
    } else i++;
  }
}

/**
 * A whole message: payload and header metadata, under one set of caps.
 *
 * `jsonText`, instead of `payload`: the payload already decoded (UTF-8, fatal, BOM dropped) and
 * accepted by JSON.parse (a JSON contract's decode returns it): walked as is, not decoded and
 * parsed again. Text that is not valid JSON must never be passed here.
 *
 * `plain`, with `jsonText`: the caller checked that the text's UTF-8 bytes are all ASCII with no
 * backslash and no DEL (0x7f) — a fast pre-pass on the bytes, e.g. node:buffer's isAscii and two
 * indexOf. Text JSON.parse accepted has no other control character than the whitespace between
 * tokens, so then every string in it (no escape to decode) is printable ASCII: the Unicode check
 * (invisible text, control characters) has nothing to find and is skipped for the payload's
 * strings; credentials are looked for as always.
 *
 * `fields`, instead of either: a decoded binary message and the names of its text fields (a
 * contract's `textFields`): every string inside those fields, at any depth (see walkFields).
 */
export function scanMessage(
  m: {
    payload?: Uint8Array;
    jsonText?: string;
    plain?: boolean;
    fields?: { value: unknown; names: readonly string[] };
    metadata?: Readonly<Record<string, string>>;
  },
  opts: ScanOptions = {},
): ScanResult {
  const c = new Collector(opts);
  if (m.jsonText !== undefined) {
    c.plain = m.plain === true;
    walkJsonText(c, m.jsonText, '$');
    c.plain = false;
  } else if (m.fields) walkFields(c, m.fields.value, m.fields.names, '$');
  else if (m.payload) walkPayload(c, m.payload, '$');
  if (m.metadata) walkMetadata(c, m.metadata, 'metadata');
  return c.result();
}

/** scanPayload with the truncation flag (for the CLI). */
export function scanPayloadResult(bytes: Uint8Array, opts: ScanOptions = {}): ScanResult {
  const c = new Collector(opts);
  walkPayload(c, bytes, opts.rootPath ?? '$');
  return c.result();
}
