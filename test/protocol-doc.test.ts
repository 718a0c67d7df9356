// PROTOCOL.md quotes the code; these tests keep it honest. The constants table (§13) names each
// constant and its value: every name must exist in the code with that value. The reason numbers
// (§10) are the enum's. And the checks are one list, CHECKS in verifier/checks.ts: §8.2's table is
// generated from it (scripts/gen-protocol-checks.ts) and must be the committed one; prose names a
// check, never its position.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as envelope from '../packages/protocol/src/envelope.js';
import * as metadata from '../packages/protocol/src/metadata.js';
import * as defaults from '../packages/protocol/src/constants.js';
import * as depthToken from '../packages/protocol/src/depth-token.js';
import * as auditChain from '../packages/server/src/common/audit-chain.js';
import * as auditPublisher from '../packages/server/src/verifier/audit-publisher.js';
import * as auditStream from '../packages/server/src/common/audit-stream.js';
import * as verifier from '../packages/server/src/verifier/verifier.js';
import { Reason, reasonName, allReasons } from '../packages/protocol/src/proto.js';
import { CHECKS } from '../packages/server/src/verifier/checks.js';
import { withChecksTable, failsWith, BEGIN, END } from '../scripts/gen-protocol-checks.js';

const protocol = readFileSync('PROTOCOL.md', 'utf8');
const section = (text: string, start: RegExp, end: RegExp) => {
  const a = text.search(start);
  assert.ok(a >= 0, `no section ${start}`);
  const rest = text.slice(a);
  const b = rest.slice(1).search(end);
  return b < 0 ? rest : rest.slice(0, b + 1);
};
const CODE: Record<string, unknown> = { ...envelope, ...metadata, ...defaults, ...depthToken, ...auditChain, ...auditPublisher, ...auditStream, ...verifier };
/** Constants that are module-private; the test reads their definition from the source instead. */
const PRIVATE: Record<string, [string, RegExp]> = {
  SHED_ANSWER_TICK_MS: ['packages/server/src/verifier/shedding.ts', /^const SHED_ANSWER_TICK_MS = (\d+);$/m],
};

function spellings(v: unknown): string[] {
  if (typeof v === 'number') return [String(v)];
  if (typeof v === 'string') return [v];
  if (v instanceof Uint8Array) return [`"${Buffer.from(v).toString('latin1').replace(/\0/g, '\\0')}"`];
  if (Array.isArray(v)) return v.map(String);
  throw new Error(`cannot spell ${String(v)}`);
}

test('PROTOCOL.md §13 - every constant named exists in the code with the value the table gives', () => {
  const table = section(protocol, /^## 13\. /m, /^## 14\. /m);
  const rows = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| constant') && !l.startsWith('| ---'));
  assert.ok(rows.length >= 25, `${rows.length} rows`);
  let checked = 0;
  for (const row of rows) {
    const [, , value, where] = row.split('|').map((c) => c.trim());
    for (const [, name] of where!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) {
      let v: unknown;
      if (name! in PRIVATE) {
        const [file, re] = PRIVATE[name!]!;
        const m = re.exec(readFileSync(file, 'utf8'));
        assert.ok(m, `${name} not defined in ${file}`);
        v = Number(m![1]);
      } else {
        assert.ok(name! in CODE, `${name} is not exported by the modules PROTOCOL.md cites`);
        v = CODE[name!];
      }
      if (v instanceof RegExp) continue; // DEPTH_TOKEN_RE: its rule is spelt out in §9
      for (const s of spellings(v)) assert.ok(value!.includes(s), `${name} = ${s}, but the table says "${value}"`);
      checked++;
    }
  }
  assert.ok(checked >= 30, `${checked} constants checked`);
});

test("PROTOCOL.md §10 - the reason numbers are the enum's", () => {
  const text = section(protocol, /^## 10\. /m, /^## 11\. /m);
  const pairs = [...text.matchAll(/`([a-z_]+)` (\d+)/g)].map(([, n, v]) => [n!, Number(v)] as const);
  const expected = [[reasonName(Reason.REASON_UNSPECIFIED), 0], ...allReasons().map((r) => [reasonName(r), r] as const)];
  assert.equal(Object.fromEntries(pairs), Object.fromEntries(expected));
});

test('PROTOCOL.md §8.2 - the table of the checks is the one generated from CHECKS (node --import tsx scripts/gen-protocol-checks.ts)', () => {
  const spec = section(protocol, /^### 8\.2 /m, /^### 8\.3 /m);
  assert.ok(spec.includes(BEGIN) && spec.includes(END), 'the generated table sits in §8.2');
  assert.ok(withChecksTable(protocol) === protocol, 'PROTOCOL.md §8.2 differs from CHECKS: run node --import tsx scripts/gen-protocol-checks.ts');
  // one row per check, in CHECKS' order, with its name
  const rows = spec.split('\n').filter((l) => /^\| \d+ \|/.test(l));
  assert.equal(
    rows.map((l) => /^\| (\d+) \| `([a-z_]+)` \|/.exec(l)?.slice(1).join(' ')),
    CHECKS.map((c, i) => `${i + 1} ${c.name}`),
  );
});

test('CHECKS - unique names; a "fails with" in the check\'s own words names exactly its reasons; every reason has a check', () => {
  assert.is(new Set(CHECKS.map((c) => c.name)).size, CHECKS.length);
  const names = new Set(allReasons().map(reasonName));
  for (const c of CHECKS) {
    assert.ok(c.reasons.length > 0, c.name);
    const named = [...new Set((failsWith(c).match(/`([a-z_]+)`/g) ?? []).map((w) => w.slice(1, -1)).filter((w) => names.has(w)))].sort();
    assert.equal(named, c.reasons.map(reasonName).sort(), `${c.name}: "fails with" and reasons differ`);
    assert.ok(c.summary.length > 0 && !c.summary.includes('\n'), `${c.name}: a one-line summary`);
  }
  // every reason is some check's, but the two of the approval hold, which come after an accepted
  // decision (PROTOCOL.md §15.3)
  const all = new Set([...CHECKS.flatMap((c) => c.reasons.map(reasonName)), 'approval_denied', 'approval_timeout']);
  assert.match(protocol, /approval_denied[\s\S]*approval_timeout/);
  assert.equal(
    allReasons()
      .map(reasonName)
      .filter((r) => !all.has(r)),
    [],
  );
});

test('prose names checks, not positions - no "step <n>" in the code, PROTOCOL.md, docs, python, tests or bench', () => {
  const tracked = execFileSync('git', ['ls-files', '-z', 'packages/*/src', 'PROTOCOL.md', 'docs', 'python', 'test', 'bench', 'scripts', 'README.md'], {
    encoding: 'utf8',
  })
    .split('\0')
    .filter(Boolean);
  // RFC 8032's steps are RFC 8032's; the vectors' notes are data (their files stay byte-identical);
  // "Step <n>" (capitalised) is docs/decisions.md's numbered list of performance work, not a check
  const allowed = [/RFC 8032 §5\.1\.6 step 2\/4/, /rejected before the rate check \(step 11\)/, /the verifier's step 14/];
  const found: string[] = [];
  for (const f of tracked) {
    if (f === 'test/protocol-doc.test.ts' || !/\.(ts|mts|mjs|js|py|md)$/.test(f)) continue;
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/\bsteps? \d/.test(line) && !allowed.some((r) => r.test(line))) found.push(`${f}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
  }
  assert.equal(found, []);
});

test.run();
