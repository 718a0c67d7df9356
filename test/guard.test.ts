// Content guards (docs/design.md §12): the scanner (packages/protocol/src/guard) and `agentbus guard scan`.
// MUSTs pinned here: invisible text (tag characters outside subdivision flags, bidi controls,
// zero-width characters outside emoji and script joining, other format and private-use
// characters) and credentials are found in every string of a payload and of the metadata;
// findings carry kind and JSON path and never the secret; legitimate multilingual text and
// emoji produce no finding. The corpora (test/fixtures/guard/*.jsonl, made by make-corpus.ts)
// run through the scanner and through the CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { isAscii } from 'node:buffer';
import protobuf from 'protobufjs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuardPolicy, DEFAULT_GUARD_POLICY, resolveGuardPolicy, applyGuardPolicy, scannedKinds, type GuardFinding } from '../packages/protocol/src/index.js';
import { scanText, scanJson, scanPayload, scanMetadata, scanMessage, secretHash, SECRETLINT_RULES } from '../packages/protocol/src/guard/index.js';
import {
  setCredentialPrefilters,
  ANY_NEEDLE,
  NEEDLE_GATE,
  prescan,
  hasTokenRun,
  assignNeedleStarts,
  assignNeedleStartsByRegex,
} from '../packages/protocol/src/guard/credentials.js';
import { hasCandidate } from '../packages/protocol/src/guard/unicode.js';
import { literalPrefixes } from '../packages/protocol/src/guard/needles.js';
import { cliArgs } from './helpers/cli-bin.js';

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);
const tags = (s: string) => [...s].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
const rules = (fs: GuardFinding[]) => fs.map((f) => f.rule);
const kinds = (fs: GuardFinding[]) => [...new Set(fs.map((f) => f.kind))].sort();

interface Sample {
  name: string;
  expect?: string[];
  secrets?: string[];
  payload?: unknown;
  raw?: string;
}
const load = (f: string): { line: string; s: Sample }[] =>
  readFileSync(join('test/fixtures/guard', f), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ line, s: JSON.parse(line) as Sample }));
const attacks = load('attacks.jsonl');
const benign = load('benign.jsonl');
/** The payload a sample stands for: its raw text, or its payload as JSON text. */
const payloadText = (s: Sample) => (typeof s.raw === 'string' ? s.raw : JSON.stringify(s.payload));

// fake secrets, made here so that the source has none
const GHP = 'ghp_' + 'aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJx'.slice(0, 36);

// -------------------------------------------------------------------------------- corpora

test('corpora - substantial', () => {
  assert.ok(attacks.length >= 60, `${attacks.length} attacks`);
  assert.ok(benign.length >= 80, `${benign.length} benign samples`);
  for (const k of ['invisible_text', 'control_chars', 'credential']) assert.ok(attacks.filter((a) => a.s.expect?.includes(k)).length >= 8, k);
  const names = new Set([...attacks, ...benign].map((x) => x.s.name));
  assert.is(names.size, attacks.length + benign.length, 'names are unique');
});

test('corpora - every attack is found, with the kinds it expects, and no secret in a finding', () => {
  for (const { s } of attacks) {
    const fs = scanPayload(bytes(payloadText(s)));
    assert.ok(fs.length > 0, `${s.name}: not found`);
    for (const k of s.expect ?? [])
      assert.ok(
        fs.some((f) => f.kind === k),
        `${s.name}: no ${k} in ${JSON.stringify(fs)}`,
      );
    const out = JSON.stringify(fs);
    for (const secret of s.secrets ?? []) assert.not.ok(out.includes(secret), `${s.name}: the secret is in the findings`);
    for (const f of fs) {
      assert.ok(f.path.startsWith('$'), f.path);
      assert.ok(f.detail.length <= 256);
      if (f.kind === 'credential') assert.match(f.hash ?? '', /^[0-9a-f]{12}$/);
      // what is printed is printable ASCII: no invisible or control character reaches a terminal
      assert.match(f.path + f.detail + (f.rule ?? ''), /^[\x20-\x7e…×]*$/, `${s.name}: ${JSON.stringify(f)}`);
    }
  }
});

test('corpora - the whole line (name and all) is an attack too', () => {
  for (const { line, s } of attacks) if (s.payload !== undefined) assert.ok(scanPayload(bytes(line)).length > 0, s.name);
});

test('corpora - no benign sample is flagged (payload or whole line)', () => {
  for (const { line, s } of benign) {
    const fs = scanPayload(bytes(payloadText(s)));
    assert.equal(fs, [], `${s.name}: ${JSON.stringify(fs)}`);
    assert.equal(scanPayload(bytes(line)), [], `${s.name} (line)`);
  }
});

test('corpora - the prefilters (needles, token runs) change no finding', () => {
  const all = [...attacks, ...benign].map(({ s }) => bytes(payloadText(s)));
  const fast = all.map((p) => scanPayload(p));
  setCredentialPrefilters(false);
  try {
    const slow = all.map((p) => scanPayload(p));
    assert.equal(fast, slow);
  } finally {
    setCredentialPrefilters(true);
  }
});

test('corpora - the text a JSON contract decoded (jsonText) gives the findings of the payload bytes, and so does it marked plain when its bytes pass the pre-pass', () => {
  const K = { kinds: ['invisible_text', 'control_chars', 'credential'] as ('invisible_text' | 'control_chars' | 'credential')[] };
  let json = 0;
  let plain = 0;
  for (const { s } of [...attacks, ...benign]) {
    const text = payloadText(s);
    const p = bytes(text);
    let decoded: string;
    try {
      decoded = new TextDecoder('utf-8', { fatal: true }).decode(p);
      JSON.parse(decoded);
    } catch {
      continue; // not what a JSON contract accepts: never handed over as text
    }
    json++;
    const want = scanMessage({ payload: p, metadata: { rationale: 'r' } }, K);
    assert.equal(scanMessage({ jsonText: decoded, metadata: { rationale: 'r' } }, K), want, text.slice(0, 80));
    // the verifier's pre-pass (decide.ts plainJson): ASCII, no backslash, no DEL — then `plain` changes nothing
    const b = Buffer.from(p);
    if (isAscii(b) && b.indexOf(0x5c) < 0 && b.indexOf(0x7f) < 0) {
      plain++;
      assert.equal(scanMessage({ jsonText: decoded, plain: true, metadata: { rationale: 'r' } }, K), want, text.slice(0, 80));
    }
  }
  assert.ok(json > 100, `${json} JSON samples`);
  assert.ok(plain > 20, `${plain} printable-ASCII JSON samples`);
});

test('credential gate - the literal automaton passes every string the needle regex passes', () => {
  assert.equal(literalPrefixes('(?:shp(?:pa|ca)_)'), ['shppa_', 'shpca_']);
  assert.equal(literalPrefixes('gh[pou]_'), ['ghp_', 'gho_', 'ghu_']);
  assert.equal(literalPrefixes('_(?:auth|pass)\\s*='), ['_auth', '_pass']);
  assert.equal(literalPrefixes('secret_?access'), ['secret']);
  assert.equal(literalPrefixes('\\dQ~')?.length, 10);
  assert.equal(literalPrefixes('gl[a-z]+-'), ['gl'], 'an open class ends the literal');
  assert.is(literalPrefixes('[a-z]+-x'), undefined, 'an open class first: no literal, left to the residual regex');
  assert.is(literalPrefixes('a(?=b)'), undefined);
  assert.ok(NEEDLE_GATE.literals > 50);
  // everything the corpora hold, line by line, and random text with needles planted in odd case
  const lines = [...attacks, ...benign].flatMap(({ s }) => [payloadText(s), ...payloadText(s).split(/\n|(?<=[ ,.;])/)]);
  const rnd = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7919 + n) % 95))).join('');
  const planted = ['ghp_', 'SK0', 'sK-ant-', 'Bearer', 'PASSWORD=', '://', 'AKIA', '-----begin', 'x-OAuth-basic', 'Glpat-', 'gl' + 'abc-'].map(
    (k, i) => `${rnd(40 + i)}${k}${rnd(30)}`,
  );
  let passed = 0;
  for (const l of [...lines, ...planted]) {
    const r = ANY_NEEDLE.test(l);
    if (r) passed++;
    if (r) assert.ok(NEEDLE_GATE.test(l), `the gate lost: ${JSON.stringify(l.slice(0, 120))}`);
  }
  assert.ok(passed > 100, `${passed} lines passed the regex: the check ran on something`);
});

test('prescan - its one pass answers what the needle gate, the token-run gate and the Unicode candidate check each answer', () => {
  // the corpora line by line, and random strings from a palette of what each check looks at:
  // needles in odd case, token characters, controls (C0, DEL, C1), invisible and format
  // characters, lone and paired surrogates (candidates and not), unassigned code points, prose
  const palette = [
    'ghp_',
    'SK0',
    'Bearer ',
    'PASSWORD=',
    '://',
    'AKIA',
    'key',
    'x',
    '-',
    '=',
    ':',
    ' ',
    'aaaaaaaaa',
    'Zz9_+/=.~-',
    'secretoken',
    'jwToken',
    'PaSsWd',
    'aUtHkEy',
    'cred',
    'pwd',
    '\x01',
    '\x7f',
    '\x85',
    '\t',
    '\n',
    '\u200b',
    '\u00ad',
    '\ufeff',
    '\u202e',
    '\ue000',
    '\u0378',
    '\ud800',
    '\udc00',
    '\u{e0041}',
    '\u{1f600}',
    '\u{10fffd}',
    '\u{1f3f4}',
    'é',
    'Итог',
    'مرحبا',
    '要点',
    '✅',
  ];
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  const random = Array.from({ length: 3000 }, () => Array.from({ length: 1 + rand(24) }, () => palette[rand(palette.length)]).join(''));
  const lines = [...attacks, ...benign].flatMap(({ s }) => [payloadText(s), ...payloadText(s).split(/\n|(?<=[ ,.;])/)]);
  let uni = 0;
  let assigns = 0;
  let cand = 0;
  let runs = 0;
  for (const s of [...lines, ...random]) {
    const p = prescan(s, true);
    const want = { cand: NEEDLE_GATE.candidates(s), tokenRun: hasTokenRun(s, 10), unicode: hasCandidate(s) };
    assert.equal({ cand: p.cand, tokenRun: p.tokenRun, unicode: p.unicode }, want, JSON.stringify(s.slice(0, 80)));
    assert.is(prescan(s, false).unicode, undefined);
    // the assignment needles' starts, from the automaton's ends, as the regex finds them
    assert.equal(assignNeedleStarts(s, p.assignEnds!), assignNeedleStartsByRegex(s), JSON.stringify(s.slice(0, 80)));
    if (p.assignEnds!.length > 1) assigns++;
    if (want.unicode) uni++;
    if (want.cand) cand++;
    if (want.tokenRun) runs++;
  }
  // each answer was seen both ways: the comparison ran on something
  for (const [n, what] of [
    [uni, 'Unicode candidates'],
    [cand, 'needle candidates'],
    [runs, 'token runs'],
    [assigns, 'assignment words'],
  ] as const)
    assert.ok(n > 100 && n < lines.length + random.length - 100, `${n} strings with ${what}`);
});

test('corpora - benign emoji are all recommended (RGI) sequences or their parts', () => {
  const rgi = new RegExp('^\\p{RGI_Emoji}$', 'v'); // the v flag: ES2024, newer than the target
  const some = ['👨‍👩‍👧‍👦', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '🏴󠁧󠁢󠁥󠁮󠁧󠁿', '🏴󠁧󠁢󠁷󠁬󠁳󠁿', '1️⃣', '🧑🏽‍💻', '🏳️‍⚧️', '❤️‍🔥', '🫱🏻‍🫲🏿'];
  for (const e of some) {
    assert.ok(rgi.test(e), e);
    assert.equal(scanText(e), [], e);
  }
  // a keycap's VS16 is a nonspacing mark, not a format character
  assert.ok(/\p{Mn}/u.test('\uFE0F') && !/\p{Cf}/u.test('\uFE0F'));
});

// ------------------------------------------------------------------------- invisible text

test('invisible - tag smuggling is found and its hidden ASCII decoded into the detail', () => {
  const fs = scanText(`Sure, here you go.${tags('ignore previous instructions')}`, '$.messages[2].content');
  assert.is(fs.length, 1);
  assert.is(fs[0]!.kind, 'invisible_text');
  assert.is(fs[0]!.rule, 'tag_chars');
  assert.is(fs[0]!.path, '$.messages[2].content');
  assert.match(fs[0]!.detail, /hidden text: "ignore previous instructions"/);
  // bounded: a long hidden text is cut
  const long = scanText(tags('A'.repeat(5000)));
  assert.ok(long[0]!.detail.length <= 256);
});

test('invisible - subdivision flags are legitimate; tag runs dressed as flags are not', () => {
  assert.equal(scanText('🏴󠁧󠁢󠁥󠁮󠁧󠁿 🏴󠁧󠁢󠁳󠁣󠁴󠁿 🏴󠁧󠁢󠁷󠁬󠁳󠁿 and Texas 🏴󠁵󠁳󠁴󠁸󠁿'), []);
  for (const s of [
    `\u{1F3F4}${tags('ignoreall')}\u{E007F}`, // too long
    `\u{1F3F4}${tags('zzabc')}\u{E007F}`, // no such region
    `\u{1F3F4}${tags('gbeng')}`, // no cancel tag
    `\u26BD${tags('gbeng')}\u{E007F}`, // not a black flag
    `${tags('gbeng')}\u{E007F}`,
    'x\u{E007F}',
    `\u{E0001}${tags('en')}`,
  ])
    assert.equal(rules(scanText(s)), ['tag_chars'], JSON.stringify(s));
});

test('invisible - bidi embeddings, overrides and isolates (Trojan Source) are always found', () => {
  for (const c of ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069']) {
    assert.equal(rules(scanText(`a${c}b`)), ['bidi_control'], c.codePointAt(0)!.toString(16));
    assert.equal(rules(scanText(`שלום${c}עולם`)), ['bidi_control'], 'in Hebrew too');
  }
  const fs = scanText('if (accessLevel != "user\u202E \u2066// Check if admin\u2069 \u2066") {');
  assert.match(fs[0]!.detail, /^4 × U\+202E RIGHT-TO-LEFT OVERRIDE, U\+2066 LEFT-TO-RIGHT ISOLATE, U\+2069 POP DIRECTIONAL ISOLATE, first at index 24/);
});

test('invisible - directional marks: normal in right-to-left text, found elsewhere or in runs', () => {
  assert.equal(scanText('تم الدفع\u200F: 250 USD\u200F'), []);
  assert.equal(scanText('השתמשו ב-Docker\u200F כדי'), []);
  assert.equal(scanText('الرقم\u061C 42'), []);
  assert.equal(rules(scanText('approve\u200F the transfer')), ['directional_mark']);
  assert.equal(rules(scanText('a\u200Eb')), ['directional_mark']);
  assert.equal(rules(scanText('مرحبا\u200F\u200F\u200F\u200F')), ['directional_mark']);
});

test('invisible - zero-width characters inside a word; legitimate in emoji and in joining scripts', () => {
  for (const s of [
    'pass\u200Bword',
    'pass\u200Cword',
    'pass\u200Dword',
    'pass\u2060word',
    'pass\uFEFFword',
    '\u200D\u{1F468}',
    '\u{1F468}\u200D\u200D\u{1F469}',
    '\u{1F468}\u200D',
    'a\u200D\u{1F468}',
  ])
    assert.equal(rules(scanText(s)), ['zero_width'], JSON.stringify(s));
  for (const s of [
    '👨‍👩‍👧‍👦',
    '🧑🏽‍💻',
    '🏳️‍🌈',
    '🏴‍☠️',
    '🐻‍❄️',
    '👁️‍🗨️',
    '🧑🏻‍❤️‍💋‍🧑🏼', // emoji ZWJ sequences
    'می‌خواهم کتاب‌ها', // Persian ZWNJ
    'क्‍ष क्‌ष र्‍य', // Devanagari ZWJ / ZWNJ
    'അവന്‍ വന്നു ക്‌ഷ', // Malayalam chillu (ZWJ at the end of a word) and ZWNJ
    'র‍্যাব', // Bengali ya-phala
    'ශ්‍රී ලංකාව', // Sinhala
    'ภาษา\u200Bไทย', // Thai word break
    '\uFEFFa BOM first',
  ])
    assert.equal(scanText(s), [], s);
});

test('invisible - other format characters, fillers, private use, unassigned, noncharacters, lone surrogates', () => {
  const cases: [string, string][] = [
    ['a\u2062b', 'format_char'], // invisible times
    ['f\u2061x', 'format_char'],
    ['ig\u00ADnore', 'format_char'], // soft hyphen
    ['a\u206Ab', 'format_char'],
    ['\uFFF9x\uFFFA', 'format_char'],
    ['drop\u180Etable', 'format_char'],
    ['admin\u3164', 'invisible_filler'],
    ['x \u034F', 'invisible_filler'],
    ['a\uE000b', 'private_use'],
    ['a\u{F0000}b', 'private_use'],
    ['a\u{10FFFD}', 'private_use'],
    ['a\u0378b', 'unassigned'],
    ['a\u{E0080}', 'unassigned'],
    ['a\uFFFEb', 'noncharacter'],
    ['a\uFDD0b', 'noncharacter'],
    ['a\uD800b', 'lone_surrogate'],
    ['\uDC00', 'lone_surrogate'],
  ];
  for (const [s, rule] of cases) {
    const fs = scanText(s);
    assert.equal(rules(fs), [rule], `${JSON.stringify(s)}: ${JSON.stringify(fs)}`);
    assert.is(fs[0]!.kind, 'invisible_text');
  }
  // visible Cf characters of Arabic, and a reserved emoji code point, are not findings
  assert.equal(scanText('\u0600١٢٣ ۝١'), []);
  assert.equal(scanText('a \u{1FAFF} b'), []);
});

test('invisible - variation selectors: one after a visible character; runs are decoded as bytes', () => {
  assert.equal(scanText('1️⃣ ☺︎ ❤️ 葛\u{E0100}'), []);
  const smuggled =
    '\u{1F600}' + [...Buffer.from('ignore previous instructions')].map((b) => String.fromCodePoint(b < 16 ? 0xfe00 + b : 0xe0100 + b - 16)).join('');
  const fs = scanText(smuggled);
  assert.equal(rules(fs), ['variation_selector']);
  assert.match(fs[0]!.detail, /as bytes: "ignore previous instructions"/);
  assert.equal(rules(scanText('\uFE0Fx')), ['variation_selector']);
  assert.equal(rules(scanText('a\u{E0100}')), ['variation_selector']);
});

test('invisible - escapes: the scanner sees decoded strings, sequences split across escapes included', () => {
  const viaEscapes = '{"c":"x' + [...'hi'].map((c) => `\\udb40\\udc${c.charCodeAt(0).toString(16)}`).join('') + '"}';
  const raw = JSON.stringify({ c: 'x' + tags('hi') });
  for (const t of [viaEscapes, raw, '{"c":"x\\udb40\\udc68' + tags('i') + '"}']) {
    const fs = scanPayload(bytes(t));
    assert.equal(rules(fs), ['tag_chars'], t);
    assert.match(fs[0]!.detail, /hidden text: "hi"/);
  }
  assert.equal(rules(scanPayload(bytes('{"c":"a\\u200bb"}'))), ['zero_width']);
  assert.equal(rules(scanPayload(bytes('{"c":"a\\u202eb"}'))), ['bidi_control']);
  // a flag written with escapes is still a flag; a surrogate pair split over two strings is two lone halves
  assert.equal(scanPayload(bytes('{"f":"\\ud83c\\udff4\\udb40\\udc67\\udb40\\udc62\\udb40\\udc73\\udb40\\udc63\\udb40\\udc74\\udb40\\udc7f"}')), []);
  const split = scanPayload(bytes('["\\ud83d","\\ude00"]'));
  assert.equal(
    split.map((f) => [f.path, f.rule]),
    [
      ['$[0]', 'lone_surrogate'],
      ['$[1]', 'lone_surrogate'],
    ],
  );
  // keys are decoded too
  assert.equal(
    scanPayload(bytes('{"a\\u2062b":1}')).map((f) => [f.path, f.rule, f.detail.slice(0, 5)]),
    [['$["a\\u2062b"]', 'format_char', 'key: ']],
  );
});

// ------------------------------------------------------------------------ control chars

test('control - C0 and C1 controls except tab, newline, carriage return; DEL too', () => {
  assert.equal(scanText('code:\n\tindented\r\n'), []);
  for (const c of ['\0', '\x01', '\x07', '\b', '\x0B', '\x0C', '\x1B', '\x1F', '\x7F'])
    assert.equal(rules(scanText(`a${c}b`)), ['c0_control'], c.charCodeAt(0).toString(16));
  for (const c of ['\x80', '\x85', '\x9B', '\x9F']) assert.equal(rules(scanText(`a${c}b`)), ['c1_control']);
  const fs = scanText('ok\x1b[2J\x1b[32mpassed\x07');
  assert.is(fs[0]!.kind, 'control_chars');
  assert.is(fs[0]!.detail, '3 × U+001B ESC, U+0007 BEL, first at index 2');
});

// --------------------------------------------------------------------------- credentials

test('credentials - the secretlint preset is loaded, without its comment filter', () => {
  assert.ok(SECRETLINT_RULES.length >= 20, `${SECRETLINT_RULES.length} rules`);
  assert.ok(SECRETLINT_RULES.includes('@secretlint/secretlint-rule-privatekey'));
  assert.not.ok(SECRETLINT_RULES.includes('@secretlint/secretlint-rule-filter-comments'));
  // a secretlint-disable comment in the text does not switch the scanner off
  const fs = scanText(`// secretlint-disable\nconst t = "${GHP}";\n// secretlint-enable`);
  assert.ok(fs.some((f) => f.kind === 'credential'));
});

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const rep = (s: string, n: number) => s.repeat(Math.ceil(n / s.length)).slice(0, n);
const R = 'q7Zp2Lm9Xc4Vb8Nk3Jh6Gf1Ds5Aa0Wt'; // a random-looking alphabet soup, repeated as needed
const families: [string, string][] = [
  ['AWS access key id', 'AKIA' + 'Q7ZP2LM5XC4VB3NK'],
  ['AWS secret key', `AWS_SECRET_ACCESS_KEY=${rep(R + '/+', 40)}`],
  ['GitHub ghp_', GHP],
  ['GitHub gho_', 'gho_' + rep(R, 36)],
  ['GitHub github_pat_', 'github_pat_' + rep(R, 22) + '_' + rep(R, 59)],
  ['Slack bot token', 'xoxb-123456789012-1234567890123-' + rep(R, 24)],
  ['Slack webhook', 'https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/' + rep(R, 24)],
  ['Stripe secret key', 'sk_live_' + rep(R, 24)],
  ['Stripe test key', 'sk_test_' + rep(R, 24)],
  ['Google API key', 'AIza' + rep(R, 35)],
  ['OpenAI project key', 'sk-proj-' + rep(R, 74) + 'T3BlbkFJ' + rep(R, 74)],
  ['OpenAI key', 'sk-' + rep(R, 48)],
  ['Anthropic key', 'sk-ant-api03-' + rep(R, 93) + 'AA'],
  ['RSA private key', `-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA${rep(R + '+/', 300)}\n-----END RSA PRIVATE KEY-----`],
  ['EC private key', `-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI${rep(R, 150)}\n-----END EC PRIVATE KEY-----`],
  ['OpenSSH private key', `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ${rep(R, 300)}\n-----END OPENSSH PRIVATE KEY-----`],
  ['PGP private key', `-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: x\n\nlQOYBGXy${rep(R, 300)}\n-----END PGP PRIVATE KEY BLOCK-----`],
  ['JWT', `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url('{"sub":"a1"}')}.${rep(R, 43)}`],
  ['postgres URL', 'postgres://app:S3cr3tPa55w0rd@db.internal:5432/prod'],
  ['postgres user:pass', 'postgres://user:pass@db/orders'],
  ['mongodb+srv URL', 'mongodb+srv://svc:Zq8rT2mX9kLp@cluster0.mongodb.net/app'],
  ['redis :pass@', 'redis://:hunter2hunter@cache:6379'],
  ['Basic header', `Authorization: Basic ${Buffer.from('deploy:Zq8rT2mX9kLp').toString('base64')}`],
  ['Bearer header', `Authorization: Bearer ${rep(R, 40)}`],
  ['npm token', 'npm_' + rep(R, 36)],
  ['npmrc', `//registry.npmjs.org/:_authToken=${rep(R, 36)}`],
  ['Azure storage key', `DefaultEndpointsProtocol=https;AccountName=a;AccountKey=${rep(R, 86)}==;EndpointSuffix=core.windows.net`],
  ['Azure client secret', 'Abc8Q~' + rep(R, 34)],
  [
    'GCP service account (text)',
    JSON.stringify({
      type: 'service_account',
      private_key: `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC${rep(R, 600)}\n-----END PRIVATE KEY-----\n`,
    }),
  ],
  ['password assignment', 'DB_PASSWORD=Tr0ub4dor&3x'],
  ['api key header', `X-API-Key: ${rep(R, 32)}`],
];

test('credentials - each family is found; the finding has the rule and a hash, never the secret', () => {
  for (const [name, secret] of families) {
    const fs = scanText(`before ${secret} after`, '$.x');
    const c = fs.filter((f) => f.kind === 'credential');
    assert.ok(c.length >= 1, `${name}: not found`);
    assert.is(c[0]!.path, '$.x');
    assert.ok(c[0]!.rule && (c[0]!.rule.startsWith('secretlint:') || c[0]!.rule.startsWith('agentbus:')), c[0]!.rule);
    assert.match(c[0]!.hash!, /^[0-9a-f]{12}$/);
    const out = JSON.stringify(fs);
    const core = secret.length > 24 ? secret.slice(-24) : secret; // no long piece of it either
    assert.not.ok(out.includes(core), `${name}: secret in ${out}`);
  }
});

test('credentials - the hash is of the match: the same secret correlates across messages', () => {
  const a = scanText(`one ${GHP}`);
  const b = scanJson({ deep: [{ t: `two: ${GHP} end` }] });
  assert.is(a[0]!.hash, b[0]!.hash);
  assert.is(a[0]!.hash, secretHash(GHP));
});

test('credentials - secret-like keys: high-entropy values are found, words and references are not', () => {
  const fs = scanJson({ password: 'Tr0ub4dor&3x', api_key: rep(R, 32), client_secret: rep(R, 40), nested: { SessionToken: rep(R, 64) } });
  assert.equal(fs.map((f) => f.path).sort(), ['$.api_key', '$.client_secret', '$.nested.SessionToken', '$.password']);
  assert.ok(fs.every((f) => f.rule === 'agentbus:secret-field'));
  const benignFields = {
    password: '********',
    token: '<redacted>',
    api_key: '${OPENAI_API_KEY}',
    secret: 'env:APP_SECRET',
    max_tokens: 4096,
    token_type: 'Bearer',
    id: rep(R, 32),
    request_id: rep(R, 40),
    next_page_token: rep(R, 64),
    signature: rep(R, 86),
    public_key: rep(R, 44),
    idempotency_key: rep(R, 36),
    data: rep(R + '+/', 3000),
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    stream_token: ' world',
  };
  assert.equal(scanJson(benignFields), []);
});

test('credentials - hidden inside invisible characters: found, and redacted in the detail', () => {
  const zw = scanText(`${GHP.slice(0, 8)}\u200B${GHP.slice(8)}`);
  assert.equal(kinds(zw), ['credential', 'invisible_text']);
  const t = scanText(`fine${tags(`push with ${GHP} now`)}`);
  assert.equal(kinds(t), ['credential', 'invisible_text']);
  const tag = t.find((f) => f.rule === 'tag_chars')!;
  assert.match(tag.detail, /hidden text: "push with \[credential sha256:[0-9a-f]{12}\] now"/);
  assert.not.ok(JSON.stringify(t).includes(GHP));
});

test('credentials - a key that is a credential is redacted in every path', () => {
  const fs = scanPayload(bytes(JSON.stringify({ [GHP]: { note: 'x\u202Ey' } })));
  assert.equal(kinds(fs), ['credential', 'invisible_text']);
  for (const f of fs) {
    assert.match(f.path, /^\$\[<redacted sha256:[0-9a-f]{12}>\]/);
    assert.not.ok(f.path.includes(GHP));
  }
});

// ----------------------------------------------------------------------------------- paths

test('paths - nested arrays and objects, odd keys, duplicate keys, metadata', () => {
  const payload = {
    messages: [{ role: 'user', content: 'hi' }, { content: 'ok' }, { role: 'tool', content: [{ type: 'text', text: 'a\u202Eb' }] }],
    'x-y': { 'a b': 'c\u2062d' },
    '': 'e\u200Bf',
  };
  const want = [
    ['$.messages[2].content[0].text', 'bidi_control'],
    ['$["x-y"]["a b"]', 'format_char'],
    ['$[""]', 'zero_width'],
  ];
  const fromJson = scanJson(payload).map((f) => [f.path, f.rule]);
  const fromPayload = scanPayload(bytes(JSON.stringify(payload))).map((f) => [f.path, f.rule]);
  assert.equal(fromJson, want);
  assert.equal(fromPayload, want);
  assert.equal(scanJson(payload, { rootPath: '$.args' })[0]!.path, '$.args.messages[2].content[0].text');
  // JSON.parse keeps the last of two equal keys; the scanner reads the text and sees both
  const dup = scanPayload(bytes('{"a":"x\\u202ey","a":"fine"}'));
  assert.equal(
    dup.map((f) => [f.path, f.rule]),
    [['$.a', 'bidi_control']],
  );
  assert.equal(scanJson(JSON.parse('{"a":"x\\u202ey","a":"fine"}')), []);
  // a top-level string, a number, deep nesting
  assert.equal(scanPayload(bytes('"a\\u200bb"'))[0]!.path, '$');
  assert.equal(scanPayload(bytes('42')), []);
  const deep = '['.repeat(5000) + '"a\\u2062b"' + ']'.repeat(5000);
  const d = scanPayload(bytes(deep));
  assert.is(d.length, 1);
  assert.ok(d[0]!.path.length <= 520, 'long paths keep their head and tail');
  // metadata: values and keys
  const md = scanMetadata({ rationale: 'because\u202E', 'trace-id': '123', ['k\u200B']: 'v', api_key: rep(R, 32) });
  assert.equal(
    md.map((f) => [f.path, f.rule]),
    [
      ['metadata.rationale', 'bidi_control'],
      ['metadata["k\\u200b"]', 'zero_width'],
      ['metadata.api_key', 'agentbus:secret-field'],
    ],
  );
  assert.match(md[1]!.detail, /^key: /);
});

test('paths - a whole message: payload and metadata under one set of caps', () => {
  const r = scanMessage({ payload: bytes('{"a":"x\\u202ey"}'), metadata: { note: GHP } });
  assert.equal(
    r.findings.map((f) => f.path),
    ['$.a', 'metadata.note'],
  );
  assert.is(r.truncated, false);
});

// ------------------------------------------------------------------------- payload forms

test('payloads - not JSON: one string at $; not UTF-8: a finding; a leading BOM is allowed', () => {
  assert.equal(scanPayload(bytes('plain text, no JSON\n')), []);
  assert.equal(rules(scanPayload(bytes('{broken json \u202E'))), ['bidi_control']);
  assert.equal(scanPayload(bytes('\uFEFF{"a":"b"}')), []);
  const bad = scanPayload(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]));
  assert.equal(rules(bad), ['invalid_utf8']);
  assert.is(bad[0]!.path, '$');
});

// ------------------------------------------------------------------------ bounded work

test('bounds - at most 32 findings, 16 of one kind; a flood of one kind does not hide another', () => {
  const flood = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, `x\u202E${i}`]));
  const r = scanMessage({ payload: bytes(JSON.stringify({ ...flood, last: GHP, ctl: 'a\x07' })) });
  assert.ok(r.findings.length <= 32);
  assert.is(r.findings.filter((f) => f.kind === 'invisible_text').length, 16);
  assert.ok(r.findings.some((f) => f.kind === 'credential'));
  assert.ok(r.findings.some((f) => f.kind === 'control_chars'));
  assert.is(r.truncated, true);
  assert.is(scanJson(flood, { maxFindings: 5 }).length, 5);
  // one finding per rule per string, however many characters
  assert.is(scanText('\u202E'.repeat(10000)).length, 1);
});

test("bounds - kinds left out are not scanned (a policy's off)", () => {
  const s = `a\u202Eb\x07 ${GHP}`;
  assert.equal(kinds(scanText(s)), ['control_chars', 'credential', 'invisible_text']);
  assert.equal(kinds(scanText(s, '$', { kinds: ['credential'] })), ['credential']);
  assert.equal(kinds(scanText(s, '$', { kinds: scannedKinds(resolveGuardPolicy({ credential: 'off' })) })), ['control_chars', 'invisible_text']);
});

test('bounds - linear time: hostile 1 MB strings are scanned in well under a few seconds each', () => {
  const MB = 1 << 20;
  const fill = (u: string) => u.repeat(Math.ceil(MB / u.length)).slice(0, MB);
  const hostile = [
    'a'.repeat(MB),
    fill('a.'),
    fill('token=a'),
    fill('password: '),
    fill('-----BEGIN PRIVATE KEY-----' + 'A'.repeat(100)),
    fill('SG.' + 'a'.repeat(300) + ' '),
    fill('xoxb-' + 'a1-'.repeat(50) + ' '),
    fill('https://a:' + 'b'.repeat(250) + ' '),
    fill('http://' + 'a'.repeat(120) + ':'),
    fill('eyJ' + 'a'.repeat(20) + '.'),
    fill('sk-' + 'a'.repeat(30) + '-'),
    fill('a\u200D'),
    fill('\u{E0041}'),
    fill('\uFE0F'),
    fill('\x01'),
    fill('👨‍👩‍👧‍👦'),
    fill('بِسْمِ ٱللَّهِ '),
  ];
  let worst = 0;
  for (const s of hostile) {
    const t = performance.now();
    scanText(s);
    worst = Math.max(worst, performance.now() - t);
  }
  assert.ok(worst < 5000, `worst ${worst.toFixed(0)} ms for 1 MB`);
});

test('bounds - caps never stop the search for a kind the policy rejects (issue 24: 32 flagged findings, then a credential)', () => {
  const zw = Array.from({ length: 40 }, (_, i) => `step ${i}\u200b done`);
  const bells = Array.from({ length: 20 }, (_, i) => `bell ${i}\x07`);
  const both = resolveGuardPolicy({ invisible_text: 'flag', control_chars: 'flag' });
  // 16 invisible + 16 control findings fill the total cap of 32; the credential comes after
  const text = JSON.stringify({ messages: [...zw, ...bells, `the key: ${GHP}`] });
  const r = scanMessage({ jsonText: text }, { policy: both });
  assert.equal(applyGuardPolicy(r.findings, both).action, 'reject');
  assert.equal(
    r.findings.filter((f) => f.kind === 'credential').map((f) => f.path),
    ['$.messages[60]'],
  );
  assert.is(r.findings.length, 33, 'the caps still bound what is recorded (one past the total: the finding the verdict needs)');
  assert.is(r.truncated, true);
  // the same through the payload bytes, and in the metadata after the payload filled the caps
  assert.equal(scanMessage({ payload: bytes(text) }, { policy: both }).findings.filter((f) => f.kind === 'credential').length, 1);
  const md = scanMessage({ jsonText: JSON.stringify({ messages: [...zw, ...bells] }), metadata: { rationale: GHP } }, { policy: both });
  assert.equal(
    md.findings.filter((f) => f.kind === 'credential').map((f) => f.path),
    ['metadata.rationale'],
  );
  // one flagged kind at its cap (16): a credential cut by a zero-width character is still found
  // (the credential check reads the text without invisible characters even when they are not reported)
  const inv = resolveGuardPolicy({ invisible_text: 'flag' });
  const split = `${GHP.slice(0, 12)}\u200b${GHP.slice(12)}`;
  const s = scanMessage({ jsonText: JSON.stringify({ messages: [...zw, split] }) }, { policy: inv });
  assert.equal(
    s.findings.filter((f) => f.kind === 'credential').map((f) => f.path),
    ['$.messages[40]'],
  );
  // invisible text off: likewise
  const off = resolveGuardPolicy({ invisible_text: 'off' });
  assert.equal(kinds(scanMessage({ jsonText: JSON.stringify({ t: split }) }, { policy: off }).findings), ['credential']);
  // a rejected kind found: the caps apply again (a flood of a rejected kind is still bounded)
  const flood = scanMessage({ jsonText: JSON.stringify({ messages: [...zw, ...zw.map((z) => z + '!')] }) });
  assert.is(flood.findings.length, 16);
  // policy-less callers (the CLI) keep the caps as they were: every kind is rejected by default
  assert.is(scanMessage({ jsonText: text }).findings.length, 32);
});

test('walker - every JSON string: keys, values, in arrays, after duplicate keys, in metadata values', () => {
  const t = GHP;
  const j = `{"a":[["x",{"k":"${t}"}]],"dup":"fine","dup":"${t}","${t}":1,"arr":[1,true,null,"${t}"],"e":"\\u0067hp_${t.slice(4)}"}`;
  const r = scanMessage({ jsonText: j, metadata: { rationale: `see ${t}` } });
  const paths = r.findings.filter((f) => f.kind === 'credential').map((f) => f.path);
  assert.equal(paths, ['$.a[0][1].k', '$.dup', `$[<redacted sha256:${secretHash(t)}>]`, '$.arr[3]', '$.e', 'metadata.rationale']);
  assert.not.ok(JSON.stringify(r).includes(t));
});

test('walker - deep nesting (20,000 levels) and huge arrays: no recursion, no stack overflow, the credential at the end found', () => {
  for (const [open, close] of [
    ['[', ']'],
    ['{"a":', '}'],
  ] as const) {
    const deep = open.repeat(20_000) + JSON.stringify(GHP) + close.repeat(20_000);
    const f = scanMessage({ jsonText: deep }).findings;
    assert.equal(kinds(f), ['credential'], `${open} × 20,000`);
    assert.ok(f[0]!.path.length <= 520, 'long paths keep their head and tail');
    assert.equal(kinds(scanPayload(bytes(deep))), ['credential']);
  }
  const huge = JSON.stringify([...Array.from({ length: 300_000 }, (_, i) => (i % 2 ? i : 'x')), GHP]);
  const h = scanMessage({ jsonText: huge }).findings;
  assert.equal(
    h.map((x) => x.path),
    ['$[300000]'],
  );
  // a decoded value (binary contracts): deep and wide, through an explicit stack
  let v: Record<string, unknown> = { s: GHP };
  for (let i = 0; i < 100_000; i++) v = { c: v };
  const d = scanMessage({ fields: { value: { top: v }, names: ['top'] } }).findings;
  assert.equal(kinds(d), ['credential']);
  const wide = scanMessage({ fields: { value: { xs: [...Array(300_000).fill('x'), GHP] }, names: ['xs'] } }).findings;
  assert.equal(
    wide.map((x) => x.path),
    ['$.xs[300000]'],
  );
  // a cycle (not from a decoder, but the walk must end)
  const cyc: Record<string, unknown> = { s: 'a' };
  cyc.self = cyc;
  assert.equal(scanMessage({ fields: { value: { c: cyc }, names: ['c'] } }).findings, []);
});

test('walker - protobuf text fields: repeated, nested messages, map keys and values, oneofs; bytes and undeclared fields are not text', () => {
  const root = protobuf.parse(`syntax = "proto3"; package t.v1;
    message Inner { string note = 1; repeated string tags = 2; Inner child = 3; map<string, string> attrs = 4; }
    message Doc {
      string title = 1; repeated string items = 2; Inner meta = 3; map<string, string> labels = 4; map<int32, Inner> by_id = 5;
      oneof body { string text = 6; Inner rich = 7; } bytes blob = 8; int64 n = 9; repeated Inner parts = 10; string secret_note = 11;
    }`).root;
  const Doc = root.lookupType('t.v1.Doc');
  const scan = (o: Record<string, unknown>, names = ['title', 'items', 'meta', 'labels', 'byId', 'text', 'rich', 'blob', 'n', 'parts']) =>
    scanMessage({ fields: { value: Doc.decode(Doc.encode(o).finish()), names } }, { kinds: ['credential', 'invisible_text'] }).findings.map((f) => [
      f.kind,
      f.path,
    ]);
  assert.equal(scan({ title: 'ok', items: ['a', 'b', GHP] }), [['credential', '$.items[2]']]);
  assert.equal(scan({ meta: { note: 'n', child: { tags: ['x', `see ${GHP}`] } } }), [['credential', '$.meta.child.tags[1]']]);
  assert.equal(scan({ labels: { k: GHP } }), [['credential', '$.labels["k"]']]);
  assert.equal(scan({ labels: { ['k\u202e']: 'v' } }), [['invisible_text', '$.labels["k\\u202e"]']]);
  assert.equal(scan({ labels: { [GHP]: 'v' } }), [['credential', `$.labels[<redacted sha256:${secretHash(GHP)}>]`]]);
  assert.equal(scan({ byId: { 7: { attrs: { a: GHP } } } }), [['credential', '$.byId["7"].attrs["a"]']]);
  assert.equal(scan({ rich: { note: GHP } }), [['credential', '$.rich.note']]);
  assert.equal(scan({ text: GHP }), [['credential', '$.text']]);
  assert.equal(scan({ parts: [{}, { tags: [GHP] }] }), [['credential', '$.parts[1].tags[0]']]);
  assert.equal(scan({ blob: new TextEncoder().encode(GHP), n: 5 }), [], 'bytes are not text');
  assert.equal(scan({ secretNote: GHP }), [], 'a field not declared text is not scanned');
  // 99 levels of a recursive message (protobufjs decodes at most 100): the deepest string is found
  let deep: Record<string, unknown> = { note: GHP };
  for (let i = 0; i < 98; i++) deep = { child: deep };
  const f = scan({ meta: deep });
  assert.equal(f.length, 1);
  assert.match(f[0]![1]!, /^\$\.meta\.child\.child.*\.child\.note$/);
});

// ---------------------------------------------------------------------------------- policy

test('policy - schema, default, layering and the verdict', () => {
  assert.equal(DEFAULT_GUARD_POLICY, { credential: 'reject', invisible_text: 'reject', control_chars: 'reject' });
  assert.ok(Object.isFrozen(DEFAULT_GUARD_POLICY));
  assert.equal(GuardPolicy.parse({}), {});
  assert.equal(GuardPolicy.parse({ credential: 'flag', control_chars: 'off' }), { credential: 'flag', control_chars: 'off' });
  assert.not.ok(GuardPolicy.safeParse({ credential: 'allow' }).success);
  assert.not.ok(GuardPolicy.safeParse({ secrets: 'reject' }).success, 'unknown kinds are refused');
  // manifest, then contract: the later layer wins where it speaks
  const p = resolveGuardPolicy({ invisible_text: 'flag' }, undefined, { credential: 'flag', invisible_text: 'reject' });
  assert.equal(p, { credential: 'flag', invisible_text: 'reject', control_chars: 'reject' });
  const fs = scanText(`a\x07 ${GHP}`);
  assert.is(applyGuardPolicy(fs, DEFAULT_GUARD_POLICY).action, 'reject');
  const v = applyGuardPolicy(fs, resolveGuardPolicy({ control_chars: 'flag', credential: 'flag' }));
  assert.is(v.action, 'flag');
  assert.is(v.flagged.length, 2);
  assert.is(applyGuardPolicy([], DEFAULT_GUARD_POLICY).action, 'pass');
});

// -------------------------------------------------------------------------------------- CLI

const dir = mkdtempSync(join(tmpdir(), 'agentbus-guard-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[], input?: string) => spawnSync(process.execPath, cliArgs('guard', 'scan', ...args), { encoding: 'utf8', input, timeout: 60_000 });

test('CLI - guard scan: exit 0 clean, 1 findings, --json, stdin, and no secret on stdout', () => {
  const atk = attacks.find((a) => a.s.name === 'a credential spelled in tag characters')!.s;
  const secret = atk.secrets![0]!;
  const file = join(dir, 'attack.json');
  writeFileSync(file, payloadText(atk));
  const j = cli(['--json', file]);
  assert.is(j.status, 1, j.stderr);
  const out = JSON.parse(j.stdout) as { findings: GuardFinding[]; clean: boolean };
  assert.is(out.clean, false);
  assert.equal(out.findings, scanPayload(bytes(payloadText(atk))), 'exactly the scanner');
  assert.not.ok(j.stdout.includes(secret));
  const text = cli([file]);
  assert.is(text.status, 1);
  assert.not.ok(text.stdout.includes(secret));
  for (const line of text.stdout.trim().split('\n')) assert.match(line, /^(invisible_text|control_chars|credential) \$\S* \S+ /);
  // stdin, a credential payload, both modes
  const cred = attacks.find((a) => a.s.name === 'Stripe live secret key')!.s;
  for (const mode of [['--json', '-'], ['-']]) {
    const r = cli(mode, payloadText(cred));
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stdout, /credential/);
    for (const s of cred.secrets!) assert.not.ok(r.stdout.includes(s), `${mode.join(' ')}: secret on stdout`);
  }
  // clean
  const ok = cli(['--json', '-'], payloadText(benign[0]!.s));
  assert.is(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout), { findings: [], clean: true });
  const okText = cli(['-'], 'plain words\n');
  assert.is(okText.status, 0);
  assert.is(okText.stdout.trim(), 'clean');
});

test('CLI - guard scan: a missing file is 1 with one line; bad options are 2', () => {
  const missing = cli([join(dir, 'nope.json')]);
  assert.is(missing.status, 1);
  assert.is(missing.stderr.trim().split('\n').length, 1);
  assert.match(missing.stderr, /no such file/);
  for (const bad of [
    ['--bogus', 'x.json'],
    ['a.json', 'b.json'],
  ]) {
    const r = cli(bad);
    assert.is(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1);
  }
});

test.run();
