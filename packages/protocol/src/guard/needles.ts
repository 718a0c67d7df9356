// The credential scanner's gate (guard/credentials.ts): "could any rule match in this string?",
// answered in one pass over the string instead of one regex alternation of every rule's needle
// (V8 tries each alternative at each position: ~20 ns per character, 1.3 ms for a 64 KiB string,
// the verifier's largest cost at that size). Each needle's regex source is expanded into the
// literal prefixes every match of it starts with (alternations and small character classes
// expanded, cut at the first quantifier, escape class or open-ended class such as [a-z]), lowercased, and the literals go into
// one Aho–Corasick automaton over ASCII with ASCII case folding (as the case-insensitive regex
// folds): a superset of the regex
// gate (a prefix of every match is in the string when a match is), so nothing is lost — each rule
// still tests its own needle. Needles that do not expand to literals of ≥ 2 characters keep a
// residual regex. Pure.

const MAX_EXPANSION = 256;
const OPEN = Symbol('open');
const MIN_LITERAL = 2;

/** Literal prefixes every match of `source` starts with (lowercased), or undefined when it does not expand. */
export function literalPrefixes(source: string): string[] | undefined {
  let i = 0;
  /** After a cut: skip the rest of the sequence (balanced groups and classes) up to its | or ). */
  const skipRest = (): boolean => {
    let depth = 0;
    while (i < source.length) {
      const c = source[i]!;
      if (c === '\\') i += 2;
      else if (c === '[') {
        const end = source.indexOf(']', i + 1);
        if (end < 0) return false;
        i = end + 1;
      } else if (c === '(') depth++, i++;
      else if (c === ')') {
        if (depth === 0) return true;
        depth--;
        i++;
      } else if (c === '|' && depth === 0) return true;
      else i++;
    }
    return depth === 0;
  };
  // sequence := atom*; returns the set of prefixes and whether the sequence was cut (a quantifier)
  const seq = (): { out: string[]; cut: boolean } | undefined => {
    const r = seqHead();
    if (r?.cut && !skipRest()) return undefined;
    return r;
  };
  const seqHead = (): { out: string[]; cut: boolean } | undefined => {
    let acc: string[] = [''];
    while (i < source.length && source[i] !== '|' && source[i] !== ')') {
      const atom = parseAtom();
      if (!atom) return undefined;
      if (atom === OPEN) return { out: acc, cut: true }; // \s, \b, …: the literal ends here
      const q = source[i];
      if (q === '*' || q === '?') return { out: acc, cut: true }; // the atom may be absent: cut before it
      const next: string[] = [];
      for (const a of acc) for (const b of atom.out) next.push(a + b);
      if (next.length > MAX_EXPANSION) return undefined;
      acc = next;
      if (q === '+' || q === '{') return { out: acc, cut: true }; // one copy is certain, the rest is not
      if (atom.cut) return { out: acc, cut: true };
    }
    return { out: acc, cut: false };
  };
  const alt = (): { out: string[]; cut: boolean } | undefined => {
    const all: string[] = [];
    let cut = false;
    for (;;) {
      const s = seq();
      if (!s) return undefined;
      all.push(...s.out);
      cut ||= s.cut;
      if (source[i] === '|') {
        i++;
        continue;
      }
      return { out: all, cut };
    }
  };
  const parseAtom = (): { out: string[]; cut: boolean } | typeof OPEN | undefined => {
    const c = source[i]!;
    if (c === '(') {
      if (source.startsWith('(?:', i)) i += 3;
      else if (source[i + 1] === '?')
        return undefined; // lookarounds, named groups
      else i += 1;
      const inner = alt();
      if (!inner || source[i] !== ')') return undefined;
      i++;
      return inner;
    }
    if (c === '[') {
      const end = source.indexOf(']', i + 1);
      if (end < 0) return undefined;
      const body = source.slice(i + 1, end);
      i = end + 1;
      if (body.startsWith('^') || body.includes('\\')) return undefined;
      const chars = new Set<string>();
      for (let k = 0; k < body.length; k++) {
        if (body[k + 1] === '-' && k + 2 < body.length) {
          const from = body.charCodeAt(k);
          const to = body.charCodeAt(k + 2);
          if (to - from > 16) return OPEN; // an open-ended class: the literal ends before it
          for (let x = from; x <= to; x++) chars.add(String.fromCharCode(x).toLowerCase());
          k += 2;
        } else chars.add(body[k]!.toLowerCase());
      }
      return { out: [...chars], cut: false };
    }
    if (c === '\\') {
      const e = source[i + 1];
      i += 2;
      if (e === undefined) return undefined;
      if (e === 'd') return { out: '0123456789'.split(''), cut: false };
      if (/[A-Za-z]/.test(e)) return OPEN; // \s, \w, \b, …: not a literal
      return { out: [e], cut: false };
    }
    if ('.^$*+?{}|'.includes(c)) return undefined;
    i++;
    return { out: [c.toLowerCase()], cut: false };
  };
  const r = alt();
  if (!r || i !== source.length) return undefined;
  if (r.out.some((s) => s.length < MIN_LITERAL)) return undefined;
  return [...new Set(r.out)];
}

/** A gate over ASCII literals (matched in the lowercased string) and, for the rest, a residual regex. */
export interface NeedleGate {
  test(s: string): boolean;
  /**
   * Which sources may match in `s` (1 per index of `sources`), or undefined when none may: a
   * literal of theirs is in `s`, or they are residual (left for their own regex to say).
   */
  candidates(s: string): Uint8Array | undefined;
  readonly literals: number;
  readonly residual: RegExp | undefined;
  /**
   * The automaton itself, for a caller that fuses it into a pass of its own (credentials.ts
   * `prescan`): `deltaHit[state * 128 + c]` is the next state for an ASCII code c, stored as
   * ~state when that state accepts, whose sources are `emitOf[state]`; a code of 128 or more
   * goes back to state 0. `residualIdx`: the sources the automaton cannot see.
   */
  readonly table: { readonly deltaHit: Int32Array; readonly emitOf: readonly Int32Array[]; readonly residualIdx: readonly number[]; readonly sources: number };
}

export function needleGate(sources: string[]): NeedleGate {
  const literals = new Set<string>();
  const owners = new Map<string, number[]>();
  const rest: string[] = [];
  const residualIdx: number[] = [];
  sources.forEach((src, idx) => {
    const l = literalPrefixes(src);
    if (l && l.every((x) => /^[\x20-\x7e]+$/.test(x))) {
      for (const x of l) {
        literals.add(x);
        owners.set(x, [...(owners.get(x) ?? []), idx]);
      }
    } else {
      rest.push(src);
      residualIdx.push(idx);
    }
  });
  const residual = rest.length ? new RegExp(rest.map((x) => `(?:${x})`).join('|'), 'i') : undefined;
  // the automaton: a full DFA over the 128 ASCII codes (failure links folded in)
  const W = 128;
  const next: number[][] = [new Array<number>(W).fill(-1)];
  const out: boolean[] = [false];
  const emits: number[][] = [[]];
  for (const lit of literals) {
    let s = 0;
    for (const ch of lit) {
      const c = ch.charCodeAt(0);
      if (next[s]![c] === -1) {
        next[s]![c] = next.length;
        next.push(new Array<number>(W).fill(-1));
        out.push(false);
        emits.push([]);
      }
      s = next[s]![c]!;
    }
    out[s] = true;
    emits[s]!.push(...owners.get(lit)!);
  }
  const fail = new Array<number>(next.length).fill(0);
  const queue: number[] = [];
  for (let c = 0; c < W; c++) {
    const t = next[0]![c]!;
    if (t === -1) next[0]![c] = 0;
    else {
      fail[t] = 0;
      queue.push(t);
    }
  }
  while (queue.length) {
    const s = queue.shift()!;
    out[s] ||= out[fail[s]!]!;
    if (emits[fail[s]!]!.length) emits[s] = [...new Set([...emits[s]!, ...emits[fail[s]!]!])];
    for (let c = 0; c < W; c++) {
      const t = next[s]![c]!;
      if (t === -1) next[s]![c] = next[fail[s]!]![c]!;
      else {
        fail[t] = next[fail[s]!]![c]!;
        queue.push(t);
      }
    }
  }
  // ASCII case folding in the table (as a non-unicode /i regex does), so the string is not lowercased
  const delta = new Int32Array(next.length * W);
  next.forEach((row, s) => row.forEach((t, c) => (delta[s * W + c] = c >= 65 && c <= 90 ? row[c + 32]! : t)));
  const hit = Uint8Array.from(out, (b) => (b ? 1 : 0));
  const emitOf = emits.map((e) => Int32Array.from(e));
  // the same table with accepting targets stored as ~state (negative): one load and one sign
  // test per character in the hot loop of candidates()
  const deltaHit = Int32Array.from(delta, (t) => (hit[t] ? ~t : t));
  return {
    literals: literals.size,
    residual,
    table: { deltaHit, emitOf, residualIdx, sources: sources.length },
    candidates(s: string): Uint8Array | undefined {
      let flags: Uint8Array | undefined;
      if (residualIdx.length && residual!.test(s)) {
        flags = new Uint8Array(sources.length);
        for (const i of residualIdx) flags[i] = 1;
      }
      let state = 0;
      const n = s.length;
      for (let k = 0; k < n; k++) {
        const c = s.charCodeAt(k);
        let t = c < W ? deltaHit[state * W + c]! : 0;
        if (t < 0) {
          t = ~t;
          flags ??= new Uint8Array(sources.length);
          const e = emitOf[t]!;
          for (let j = 0; j < e.length; j++) flags[e[j]!] = 1;
        }
        state = t;
      }
      return flags;
    },
    test(s: string): boolean {
      if (residual?.test(s)) return true;
      if (literals.size === 0) return false;
      let state = 0;
      for (let k = 0; k < s.length; k++) {
        const c = s.charCodeAt(k);
        state = c < W ? delta[state * W + c]! : 0;
        if (hit[state]) return true;
      }
      return false;
    },
  };
}
