// Invisible text and control characters in one string (docs/design.md §12). One pass over the string:
// a single regex finds every candidate (controls, format characters Cf, private use Co,
// unassigned Cn, lone surrogates Cs, default-ignorable code points), and each candidate is
// judged by its neighbours. What is legitimate, and why, is in docs/decisions.md
// ("Content guards"); in short:
//  - emoji: ZWJ between two pictographs (after any skin tone or VS16), one variation selector
//    after a visible character (VS17+ only after an ideograph), tag characters only as a
//    subdivision flag (U+1F3F4, a region code and 1–4 tag letters/digits, U+E007F);
//  - scripts: ZWJ/ZWNJ after a letter or mark of a script that uses them for shaping (Arabic,
//    Persian, Syriac, N'Ko, Mongolian, the Indic and Brahmic scripts, …); ZWSP (a line-break
//    hint) next to a letter or punctuation mark of a script written without spaces (Thai, Lao,
//    Khmer, Myanmar, Javanese, …); LRM/RLM/ALM (at most 3 in a row) in a string
//    that has right-to-left letters; Mongolian variation selectors after Mongolian; visible
//    "prepended concatenation marks" (Arabic number signs, end of ayah);
//  - a BOM (U+FEFF) as the first character.
// Everything else of those classes is a finding: bidi embeddings, overrides and isolates
// (Trojan Source) always; tag characters otherwise (decoded: the hidden ASCII is the attack);
// runs of variation selectors (decoded as bytes: the emoji-smuggling encoding); zero-width
// characters; other Cf (soft hyphen, invisible operators, …); Hangul fillers; private use;
// unassigned code points and noncharacters (by the runtime's Unicode version, reserved emoji
// code points excepted); lone surrogates.
import { MAX_FINDING_DETAIL } from './types.js';

export interface UnicodeHit {
  kind: 'invisible_text' | 'control_chars';
  rule: string;
  detail: string;
}

export interface UnicodeScan {
  hits: UnicodeHit[];
  /** Text hidden in tag characters or variation-selector runs, decoded (bounded). */
  hidden: string;
  /** The string without the flagged characters (for a credential re-scan), if any were. */
  stripped: string | undefined;
}

const CANDIDATE = /[\0-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}]/gu;
const PLAIN = /^[\t\n\r\x20-\x7E]*$/;

const EP_RE = /^\p{Extended_Pictographic}$/u;
const LM_RE = /^[\p{L}\p{M}]$/u;
const JOINING_RE =
  /^[\p{scx=Arab}\p{scx=Syrc}\p{scx=Nkoo}\p{scx=Mong}\p{scx=Hebr}\p{scx=Thaa}\p{scx=Mand}\p{scx=Mani}\p{scx=Phlp}\p{scx=Phag}\p{scx=Rohg}\p{scx=Sogd}\p{scx=Adlm}\p{scx=Deva}\p{scx=Beng}\p{scx=Guru}\p{scx=Gujr}\p{scx=Orya}\p{scx=Taml}\p{scx=Telu}\p{scx=Knda}\p{scx=Mlym}\p{scx=Sinh}\p{scx=Tibt}\p{scx=Mymr}\p{scx=Khmr}\p{scx=Bali}\p{scx=Java}\p{scx=Limb}\p{scx=Lana}\p{scx=Brah}\p{scx=Kthi}\p{scx=Shrd}\p{scx=Sind}\p{scx=Gran}\p{scx=Newa}\p{scx=Tirh}\p{scx=Modi}\p{scx=Takr}\p{scx=Dogr}\p{scx=Gonm}\p{scx=Gong}\p{scx=Sylo}\p{scx=Cakm}\p{scx=Mtei}\p{scx=Saur}\p{scx=Sund}\p{scx=Bugi}\p{scx=Tglg}\p{scx=Laoo}\p{scx=Thai}]$/u;
const SPACELESS_RE = /^[\p{scx=Thai}\p{scx=Laoo}\p{scx=Khmr}\p{scx=Mymr}\p{scx=Lana}\p{scx=Talu}\p{scx=Tavt}\p{scx=Tibt}\p{scx=Bali}\p{scx=Java}]$/u;
const RTL_RE =
  /[\p{scx=Hebr}\p{scx=Arab}\p{scx=Syrc}\p{scx=Thaa}\p{scx=Nkoo}\p{scx=Samr}\p{scx=Mand}\p{scx=Adlm}\p{scx=Rohg}\p{scx=Yezi}\p{scx=Mend}\p{scx=Phnx}\p{scx=Armi}\p{scx=Avst}\p{scx=Mani}\p{scx=Phlp}\p{scx=Sogd}\p{scx=Chrs}\p{scx=Elym}\p{scx=Hatr}\p{scx=Nbat}\p{scx=Palm}\p{scx=Sarb}\p{scx=Narb}\p{scx=Orkh}\p{scx=Cprt}\p{scx=Lydi}\p{scx=Khar}]/u;
const MONGOLIAN_RE = /^\p{scx=Mong}$/u;
const KHMER_RE = /^\p{sc=Khmr}$/u;
const IDEO_RE = /^\p{Ideographic}$/u;
const CO_RE = /^\p{Co}$/u;
const CN_RE = /^\p{Cn}$/u;
const NONCHAR_RE = /^\p{Noncharacter_Code_Point}$/u;
const SPACE_RE = /^\s$/u;
const SUSPECT_ONE = /^[\0-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}]$/u;

const ch = (cp: number) => String.fromCodePoint(cp);
const isEP = (cp: number) => cp >= 0 && EP_RE.test(ch(cp));
const isLM = (cp: number) => cp >= 0 && LM_RE.test(ch(cp));
const isJoining = (cp: number) => isLM(cp) && JOINING_RE.test(ch(cp));
const isSpaceless = (cp: number) => cp >= 0 && SPACELESS_RE.test(ch(cp));
const isSuspect = (cp: number) => cp >= 0 && (cp === 0xfeff || SUSPECT_ONE.test(ch(cp)));
const isVS = (cp: number) => (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef);
const isTag = (cp: number) => cp >= 0xe0000 && cp <= 0xe007f;
const isDirMark = (cp: number) => cp === 0x200e || cp === 0x200f || cp === 0x061c;
const isJamo = (cp: number) => (cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0xa960 && cp <= 0xa97f) || (cp >= 0xd7b0 && cp <= 0xd7ff);
/** Visible "prepended concatenation marks" (Cf, but printed): Arabic number signs, end of ayah, … */
const isPCM = (cp: number) =>
  (cp >= 0x0600 && cp <= 0x0605) || cp === 0x06dd || cp === 0x070f || cp === 0x0890 || cp === 0x0891 || cp === 0x08e2 || cp === 0x110bd || cp === 0x110cd;

/** The code point that ends just before index i (-1 at the start). */
function cpBefore(s: string, i: number): number {
  if (i <= 0) return -1;
  const lo = s.charCodeAt(i - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && i >= 2) {
    const hi = s.charCodeAt(i - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return ((hi - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
  }
  return lo;
}
const cpAt = (s: string, i: number): number => (i < s.length ? s.codePointAt(i)! : -1);
const width = (cp: number) => (cp > 0xffff ? 2 : 1);

const NAMES: Record<number, string> = {
  0x00ad: 'SOFT HYPHEN',
  0x034f: 'COMBINING GRAPHEME JOINER',
  0x061c: 'ARABIC LETTER MARK',
  0x115f: 'HANGUL CHOSEONG FILLER',
  0x1160: 'HANGUL JUNGSEONG FILLER',
  0x17b4: 'KHMER VOWEL INHERENT AQ',
  0x17b5: 'KHMER VOWEL INHERENT AA',
  0x180e: 'MONGOLIAN VOWEL SEPARATOR',
  0x200b: 'ZERO WIDTH SPACE',
  0x200c: 'ZERO WIDTH NON-JOINER',
  0x200d: 'ZERO WIDTH JOINER',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x2060: 'WORD JOINER',
  0x2061: 'FUNCTION APPLICATION',
  0x2062: 'INVISIBLE TIMES',
  0x2063: 'INVISIBLE SEPARATOR',
  0x2064: 'INVISIBLE PLUS',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
  0x3164: 'HANGUL FILLER',
  0xfeff: 'ZERO WIDTH NO-BREAK SPACE',
  0xffa0: 'HALFWIDTH HANGUL FILLER',
  0xfff9: 'INTERLINEAR ANNOTATION ANCHOR',
  0xfffa: 'INTERLINEAR ANNOTATION SEPARATOR',
  0xfffb: 'INTERLINEAR ANNOTATION TERMINATOR',
  0xe0001: 'LANGUAGE TAG',
  0xe007f: 'CANCEL TAG',
  0x7f: 'DELETE',
  0x85: 'NEXT LINE',
};
const C0 = [
  'NUL',
  'SOH',
  'STX',
  'ETX',
  'EOT',
  'ENQ',
  'ACK',
  'BEL',
  'BS',
  'HT',
  'LF',
  'VT',
  'FF',
  'CR',
  'SO',
  'SI',
  'DLE',
  'DC1',
  'DC2',
  'DC3',
  'DC4',
  'NAK',
  'SYN',
  'ETB',
  'CAN',
  'EM',
  'SUB',
  'ESC',
  'FS',
  'GS',
  'RS',
  'US',
];

/** `U+202E RIGHT-TO-LEFT OVERRIDE`. */
export function describeCodePoint(cp: number): string {
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  let name = NAMES[cp];
  if (!name && cp < 0x20) name = C0[cp];
  if (!name && cp >= 0x80 && cp <= 0x9f) name = 'C1 CONTROL';
  if (!name && cp >= 0xfe00 && cp <= 0xfe0f) name = `VARIATION SELECTOR-${cp - 0xfe00 + 1}`;
  if (!name && cp >= 0xe0100 && cp <= 0xe01ef) name = `VARIATION SELECTOR-${cp - 0xe0100 + 17}`;
  if (!name && cp > 0xe0001 && cp < 0xe007f) name = 'TAG CHARACTER';
  if (!name && cp >= 0xd800 && cp <= 0xdfff) name = cp < 0xdc00 ? 'LONE HIGH SURROGATE' : 'LONE LOW SURROGATE';
  return name ? `${hex} ${name}` : hex;
}

/** Printable ASCII for a detail: others as \xNN / \uXXXX, cut at max. */
export function printable(s: string, max: number): string {
  let out = '';
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    const piece =
      cp >= 0x20 && cp < 0x7f
        ? c === '\\' || c === '"'
          ? `\\${c}`
          : c
        : cp <= 0xff
          ? `\\x${cp.toString(16).padStart(2, '0')}`
          : cp <= 0xffff
            ? `\\u${cp.toString(16).padStart(4, '0')}`
            : `\\u{${cp.toString(16)}}`;
    if (out.length + piece.length > max) return out + '…';
    out += piece;
  }
  return out;
}

interface Acc {
  kind: UnicodeHit['kind'];
  count: number;
  first: number;
  cps: number[];
  extra?: string;
}

const MAX_HIDDEN = 1024;

/**
 * Invisible text and control characters in `s`. `redact` turns the decoded hidden text into
 * what may be shown (the caller removes credentials from it).
 */
/**
 * Per UTF-16 code unit: 0 never a candidate, 1 a candidate (what CANDIDATE matches), 2 a
 * surrogate (the code point decides). Built on first use: a table walk is several times faster
 * than the regex over ordinary text, which has no candidate at all (measured: bench/guarded.ts).
 */
let UNIT: Uint8Array | undefined;
const CANDIDATE_ONE = /^[\0-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Default_Ignorable_Code_Point}]$/u;
function unitTable(): Uint8Array {
  const t = new Uint8Array(0x10000);
  for (let c = 0; c < 0x10000; c++) t[c] = c >= 0xd800 && c <= 0xdfff ? 2 : CANDIDATE_ONE.test(String.fromCharCode(c)) ? 1 : 0;
  return t;
}
/** The per-code-unit table (see UNIT), for a caller that walks a string once for several checks (credentials.ts `prescan`). */
export function candidateTable(): Uint8Array {
  return (UNIT ??= unitTable());
}

/**
 * At a code unit the table marks 2 (a surrogate): is the code point there a candidate? A lone
 * surrogate is; a pair is when its code point is. The caller then skips the low half of a pair.
 */
export function surrogateCandidate(s: string, i: number): boolean {
  const cp = s.codePointAt(i)!;
  return cp <= 0xffff || CANDIDATE_ONE.test(String.fromCodePoint(cp));
}

/** Does `s` hold any code point CANDIDATE matches? (the common answer, no, fast) */
export function hasCandidate(s: string): boolean {
  const t = candidateTable();
  for (let i = 0; i < s.length; i++) {
    const u = t[s.charCodeAt(i)]!;
    if (u === 0) continue;
    if (u === 1 || surrogateCandidate(s, i)) return true;
    i++;
  }
  return false;
}

/**
 * `candidate`: the caller already knows whether `s` holds a candidate (hasCandidate's answer,
 * computed in its own pass over the string); otherwise this function finds out.
 */
export function scanUnicode(
  s: string,
  invisible: boolean,
  control: boolean,
  redact: (hidden: string) => string = (h) => h,
  candidate?: boolean,
): UnicodeScan | undefined {
  if (candidate === false || (candidate === undefined && (PLAIN.test(s) || !hasCandidate(s)))) return undefined;
  const re = CANDIDATE; // global: lastIndex is the cursor (this function is not re-entered while it runs)
  re.lastIndex = 0;
  let m = re.exec(s);
  if (!m) return undefined;
  const accs = new Map<string, Acc>();
  const flagged: [number, number][] = [];
  let tagText = '';
  const vsBytes: number[] = [];
  let rtl: boolean | undefined;
  const hit = (rule: string, kind: Acc['kind'], i: number, cp: number, n = 1) => {
    if (kind === 'invisible_text' ? !invisible : !control) return;
    let a = accs.get(rule);
    if (!a) accs.set(rule, (a = { kind, count: 0, first: i, cps: [] }));
    a.count += n;
    if (a.cps.length < 4 && !a.cps.includes(cp)) a.cps.push(cp);
  };
  const flag = (rule: string, kind: Acc['kind'], i: number, len: number, cp: number, n = 1) => {
    hit(rule, kind, i, cp, n);
    if (flagged.length < 100_000) flagged.push([i, i + len]);
  };
  for (; m; m = re.exec(s)) {
    const i = m.index;
    const cp = s.codePointAt(i)!;
    const w = width(cp);
    // ---- control characters
    if (cp < 0x20 || cp === 0x7f) {
      flag('c0_control', 'control_chars', i, 1, cp);
      continue;
    }
    if (cp >= 0x80 && cp <= 0x9f) {
      flag('c1_control', 'control_chars', i, 1, cp);
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdfff) {
      flag('lone_surrogate', 'invisible_text', i, 1, cp);
      continue;
    }
    // ---- tag characters: a whole run at once
    if (isTag(cp)) {
      let j = i;
      const run: number[] = [];
      while (j < s.length) {
        const c = cpAt(s, j);
        if (!isTag(c)) break;
        run.push(c);
        j += 2;
      }
      re.lastIndex = j;
      const wellFormed =
        cpBefore(s, i) === 0x1f3f4 && run.length >= 4 && run.length <= 7 && subdivisionFlag(String.fromCharCode(...run.map((c) => c - 0xe0000)));
      if (!wellFormed) {
        flag('tag_chars', 'invisible_text', i, j - i, cp, run.length);
        for (const c of run) {
          if (tagText.length >= MAX_HIDDEN) break;
          if (c >= 0xe0020 && c <= 0xe007e) tagText += String.fromCharCode(c - 0xe0000);
          else if (c !== 0xe0001 && c !== 0xe007f) tagText += '\ufffd';
        }
      }
      continue;
    }
    // ---- variation selectors: a whole run at once
    if (isVS(cp)) {
      let j = i;
      const run: number[] = [];
      while (j < s.length) {
        const c = cpAt(s, j);
        if (!isVS(c)) break;
        run.push(c);
        j += width(c);
      }
      re.lastIndex = j;
      const prev = cpBefore(s, i);
      const base = prev >= 0 && !isSuspect(prev) && !SPACE_RE.test(ch(prev));
      const ok = run.length === 1 && base && (cp < 0xe0100 || IDEO_RE.test(ch(prev)));
      if (!ok) {
        flag('variation_selector', 'invisible_text', i, j - i, cp, run.length);
        for (const c of run) if (vsBytes.length < MAX_HIDDEN) vsBytes.push(c <= 0xfe0f ? c - 0xfe00 : c - 0xe0100 + 16);
      }
      continue;
    }
    const prev = cpBefore(s, i);
    const next = cpAt(s, i + w);
    switch (cp) {
      case 0x200d: // ZWJ
      case 0x200c: {
        // ZWNJ
        if (cp === 0x200d && emojiZwj(s, i, next)) continue;
        if (isJoining(prev) && (next < 0 || (isLM(next) ? isJoining(next) : !isSuspect(next)))) continue;
        flag('zero_width', 'invisible_text', i, 1, cp);
        continue;
      }
      case 0x200b: // ZWSP: a line-break hint in scripts written without spaces, beside their letters or punctuation
        if ((isSpaceless(prev) && !isSuspect(next)) || (isSpaceless(next) && !isSuspect(prev))) continue;
        flag('zero_width', 'invisible_text', i, 1, cp);
        continue;
      case 0x2060:
        flag('zero_width', 'invisible_text', i, 1, cp);
        continue;
      case 0xfeff:
        if (i === 0) continue; // a byte order mark
        flag('zero_width', 'invisible_text', i, 1, cp);
        continue;
      case 0x200e:
      case 0x200f:
      case 0x061c: {
        let j = i + 1;
        while (j < s.length && isDirMark(s.charCodeAt(j))) j++;
        re.lastIndex = j;
        rtl ??= RTL_RE.test(s);
        if (rtl && j - i <= 3) continue;
        flag('directional_mark', 'invisible_text', i, j - i, cp, j - i);
        continue;
      }
      case 0x180e:
        if (MONGOLIAN_RE.test(ch(Math.max(prev, 0))) || MONGOLIAN_RE.test(ch(Math.max(next, 0)))) continue;
        flag('format_char', 'invisible_text', i, 1, cp);
        continue;
      case 0x034f: // CGJ: keeps marks from reordering; only after a letter or mark
        if (isLM(prev) && !isSuspect(next)) continue;
        flag('invisible_filler', 'invisible_text', i, 1, cp);
        continue;
      case 0x115f:
      case 0x1160:
        if (isJamo(prev) || isJamo(next)) continue;
        flag('invisible_filler', 'invisible_text', i, 1, cp);
        continue;
      case 0x3164:
      case 0xffa0:
        flag('invisible_filler', 'invisible_text', i, 1, cp);
        continue;
      case 0x17b4:
      case 0x17b5:
        if (prev >= 0 && KHMER_RE.test(ch(prev)) && !isSuspect(next)) continue;
        flag('invisible_filler', 'invisible_text', i, 1, cp);
        continue;
    }
    if (isPCM(cp)) continue;
    if (cp >= 0x202a && cp <= 0x202e) {
      flag('bidi_control', 'invisible_text', i, 1, cp);
      continue;
    }
    if (cp >= 0x2066 && cp <= 0x2069) {
      flag('bidi_control', 'invisible_text', i, 1, cp);
      continue;
    }
    // Mongolian free variation selectors, after Mongolian
    if ((cp >= 0x180b && cp <= 0x180d) || cp === 0x180f) {
      if (prev >= 0 && MONGOLIAN_RE.test(ch(prev))) continue;
      flag('format_char', 'invisible_text', i, 1, cp);
      continue;
    }
    // format controls of Egyptian hieroglyphs, Duployan shorthand and musical notation, in them
    if (cp >= 0x13430 && cp <= 0x1345f) {
      if ((prev >= 0x13000 && prev <= 0x1345f) || (next >= 0x13000 && next <= 0x1345f)) continue;
      flag('format_char', 'invisible_text', i, w, cp);
      continue;
    }
    if (cp >= 0x1bca0 && cp <= 0x1bca3) {
      if (prev >= 0x1bc00 && prev <= 0x1bc9f) continue;
      flag('format_char', 'invisible_text', i, w, cp);
      continue;
    }
    if (cp >= 0x1d173 && cp <= 0x1d17a) {
      if (prev >= 0x1d100 && prev <= 0x1d1ff) continue;
      flag('format_char', 'invisible_text', i, w, cp);
      continue;
    }
    const c = ch(cp);
    if (CO_RE.test(c)) {
      flag('private_use', 'invisible_text', i, w, cp);
      continue;
    }
    if (CN_RE.test(c)) {
      if (EP_RE.test(c)) continue; // reserved for emoji: a newer emoji than this runtime knows
      flag(NONCHAR_RE.test(c) ? 'noncharacter' : 'unassigned', 'invisible_text', i, w, cp);
      continue;
    }
    flag('format_char', 'invisible_text', i, w, cp);
  }
  // nothing to report, but characters to strip (kinds not wanted): the stripped text is the caller's
  if (!accs.size && !flagged.length) return undefined;
  const hidden = tagText + (vsBytes.length ? new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(vsBytes)) : '');
  const hits: UnicodeHit[] = [];
  for (const [rule, a] of accs) {
    let d = `${a.count} × ${a.cps.map(describeCodePoint).join(', ')}${a.cps.length >= 4 ? ', …' : ''}, first at index ${a.first}`;
    if (rule === 'tag_chars' && tagText) d += `; hidden text: "${printable(redact(tagText), MAX_FINDING_DETAIL)}"`;
    if (rule === 'variation_selector' && vsBytes.length > 1) {
      const text = new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(vsBytes));
      d += `; as bytes: "${printable(redact(text), MAX_FINDING_DETAIL)}"`;
    }
    hits.push({ kind: a.kind, rule, detail: d.length > MAX_FINDING_DETAIL ? d.slice(0, MAX_FINDING_DETAIL - 1) + '…' : d });
  }
  let stripped: string | undefined;
  if (flagged.length) {
    stripped = '';
    let at = 0;
    for (const [a, b] of flagged) {
      stripped += s.slice(at, a);
      at = b;
    }
    stripped += s.slice(at);
  }
  return { hits, hidden, stripped };
}

// ISO 3166-1 alpha-2: the region part of a subdivision flag's tag sequence (`gb` of `gbsct`).
const REGIONS = new Set(
  'ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo bq br bs bt bv bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg eh er es et fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug um us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw'.split(
    ' ',
  ),
);

/**
 * The tag letters of a well-formed subdivision flag (after U+1F3F4): a region code, then 1–4
 * letters or digits of a subdivision (CLDR), then the cancel tag. England, Scotland and Wales
 * (gbeng, gbsct, gbwls) are the ones vendors draw; the others are well-formed too.
 */
function subdivisionFlag(spec: string): boolean {
  return /^[a-z]{2}[a-z0-9]{1,4}\x7f$/.test(spec) && REGIONS.has(spec.slice(0, 2));
}

/** ZWJ inside an emoji ZWJ sequence: a pictograph (then skin tone, VS16) before, one after. */
function emojiZwj(s: string, i: number, next: number): boolean {
  if (!isEP(next)) return false;
  let j = i;
  for (let k = 0; k < 8; k++) {
    const p = cpBefore(s, j);
    if (p === 0xfe0f || p === 0xfe0e || (p >= 0x1f3fb && p <= 0x1f3ff)) {
      j -= width(p);
      continue;
    }
    return isEP(p);
  }
  return false;
}
