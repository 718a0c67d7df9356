// Strict JSON (docs/design.md §15, §9): every JSON payload the verifier, a receiver or the tool host
// reads is one unambiguous value. JSON.parse keeps the LAST of two equal keys, while a person
// reading the text (or a display cut at some length) sees the first: `{"path":"a","p\u0061th":"b"}`
// shows "a" and runs "b". So a payload whose objects repeat a key — compared after escape
// decoding — is refused, and so is one nested deeper than MAX_JSON_DEPTH (every walker after
// this one — schema checks, guards, the audit event, CEL, canonical JSON — is then bounded).
//
// The walk is one pass over the text, iterative (no recursion: a 20,000-deep payload costs a
// loop, not the stack), skipping string contents with indexOf. It does not validate syntax:
// JSON.parse does that right after; text it cannot follow is left to JSON.parse to refuse.
// Hand-written because no maintained npm JSON parser reports duplicate keys after escape
// decoding without building a full AST first (docs/decisions.md, "Strict JSON").

/** Deepest nesting of arrays and objects a payload may have. */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

interface Frame {
  object: boolean;
  first: string | undefined;
  keys: Set<string> | undefined;
}

/** A key as it may be shown in a detail: at most 64 characters, anything unprintable escaped. */
function shownKey(k: string): string {
  const s = JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}…` : k);
  return s.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/**
 * Why `text` is not strict JSON (duplicate key, too deep), or undefined if the walk found
 * neither. Syntax errors are not reported here (JSON.parse reports them).
 */
export function strictJsonProblem(text: string, maxDepth: number = MAX_JSON_DEPTH): string | undefined {
  const n = text.length;
  const stack: Frame[] = [];
  let top: Frame | undefined;
  let expectKey = false;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // the closing quote: the next one not escaped by an odd run of backslashes
      let j = i + 1;
      let end = -1;
      let escaped = false;
      for (;;) {
        const k = text.indexOf('"', j);
        if (k < 0) break;
        let b = k - 1;
        while (b > i && text.charCodeAt(b) === BACKSLASH) b--;
        if ((k - 1 - b) % 2 === 0) {
          end = k;
          break;
        }
        escaped = true;
        j = k + 1;
      }
      if (end < 0) return undefined; // unterminated: JSON.parse refuses it
      if (expectKey && top !== undefined && top.object) {
        let key: string;
        const bs = escaped ? i : text.indexOf('\\', i + 1);
        if (bs >= 0 && bs < end) {
          try {
            key = JSON.parse(text.slice(i, end + 1)) as string;
          } catch {
            return undefined; // a bad escape: JSON.parse refuses the payload
          }
        } else key = text.slice(i + 1, end);
        if (top.first === undefined) top.first = key;
        else {
          if (top.keys === undefined) top.keys = new Set([top.first]);
          if (top.keys.has(key)) return `duplicate key ${shownKey(key)} (after escape decoding): an object may name a key once`;
          top.keys.add(key);
        }
        expectKey = false;
      }
      i = end + 1;
      continue;
    }
    if (c === LBRACE || c === LBRACKET) {
      if (stack.length >= maxDepth) return `nested deeper than ${maxDepth} levels`;
      top = { object: c === LBRACE, first: undefined, keys: undefined };
      stack.push(top);
      expectKey = top.object;
    } else if (c === RBRACE || c === RBRACKET) {
      stack.pop();
      top = stack[stack.length - 1];
      expectKey = false;
    } else if (c === COMMA) expectKey = top !== undefined && top.object;
    else if (c === COLON) expectKey = false;
    i++;
  }
  return undefined;
}

export type StrictJson = { ok: true; value: unknown } | { ok: false; detail: string };

/** JSON.parse, after strictJsonProblem: one meaning per payload, bounded depth. Never throws. */
export function parseStrictJson(text: string, maxDepth: number = MAX_JSON_DEPTH): StrictJson {
  const problem = strictJsonProblem(text, maxDepth);
  if (problem !== undefined) return { ok: false, detail: problem };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, detail: 'not JSON' };
  }
}
