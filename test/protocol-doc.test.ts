// PROTOCOL.md quotes the code; these tests keep it honest. The constants table (§13) names each
// constant and its value: every name must exist in the code with that value. The reason numbers
// (§10) are the enum's. And the order of the checks is one list in three places — the comment at
// the top of verifier/decide.ts, PROTOCOL.md §8.2 and docs/decisions.md "Verifier ordering of
// checks" — with the same reasons at the same step numbers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as envelope from '../packages/protocol/src/envelope.js';
import * as metadata from '../packages/protocol/src/metadata.js';
import * as defaults from '../packages/protocol/src/constants.js';
import * as depthToken from '../packages/protocol/src/depth-token.js';
import * as auditChain from '../packages/server/src/common/audit-chain.js';
import * as auditPublisher from '../packages/server/src/verifier/audit-publisher.js';
import * as auditStream from '../packages/server/src/common/audit-stream.js';
import * as verifier from '../packages/server/src/verifier/verifier.js';
import { Reason, reasonName, allReasons } from '../packages/protocol/src/proto.js';

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
const PRIVATE: Record<string, [string, RegExp]> = { SHED_ANSWER_TICK_MS: ['packages/server/src/verifier/shedding.ts', /^const SHED_ANSWER_TICK_MS = (\d+);$/m] };

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

test('PROTOCOL.md §10 - the reason numbers are the enum\'s', () => {
  const text = section(protocol, /^## 10\. /m, /^## 11\. /m);
  const pairs = [...text.matchAll(/`([a-z_]+)` (\d+)/g)].map(([, n, v]) => [n!, Number(v)] as const);
  const expected = [[reasonName(Reason.REASON_UNSPECIFIED), 0], ...allReasons().map((r) => [reasonName(r), r] as const)];
  assert.equal(Object.fromEntries(pairs), Object.fromEntries(expected));
});

/** step number → the reason names mentioned for it. */
function stepsOf(text: string, lineStart: RegExp): Map<number, string[]> {
  const names = new Set(allReasons().map(reasonName));
  const out = new Map<number, string[]>();
  let cur = 0;
  for (const line of text.split('\n')) {
    const m = lineStart.exec(line);
    if (m) cur = Number(m[1]);
    if (!cur) continue;
    for (const w of line.match(/[a-z]+(?:_[a-z]+)*/g) ?? []) if (names.has(w) && !out.get(cur)?.includes(w)) out.set(cur, [...(out.get(cur) ?? []), w]);
    if (!out.has(cur)) out.set(cur, []);
  }
  return out;
}

test('the check order - verifier/decide.ts, PROTOCOL.md §8.2 and docs/decisions.md list the same 24 steps with the same reasons', () => {
  const decideTs = readFileSync('packages/server/src/verifier/decide.ts', 'utf8');
  const fromCode = stepsOf(section(decideTs, /THE ORDER OF THE CHECKS/, /^import /m), /^\/\/\s+(\d+)\. /);
  const fromSpec = stepsOf(section(protocol, /^### 8\.2 /m, /^### 8\.3 /m).split('\n').filter((l) => /^\| \d+ \|/.test(l)).join('\n'), /^\| (\d+) \|/);
  const decisions = readFileSync('docs/decisions.md', 'utf8');
  const fromDocs = stepsOf(section(decisions, /^## Verifier ordering of checks/m, /^Cheap and stateless first/m), /^(\d+)\. /);
  assert.equal([...fromCode.keys()], Array.from({ length: 24 }, (_, i) => i + 1));
  const norm = (m: Map<number, string[]>) => Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()]));
  assert.equal(norm(fromSpec), norm(fromCode), 'PROTOCOL.md §8.2 differs from verifier/decide.ts');
  assert.equal(norm(fromDocs), norm(fromCode), 'docs/decisions.md differs from verifier/decide.ts');
  // every reason is at some step, but the two of the approval hold, which come after an
  // accepted decision (PROTOCOL.md §15.3)
  const all = new Set([...[...fromCode.values()].flat(), 'approval_denied', 'approval_timeout']);
  assert.match(protocol, /approval_denied[\s\S]*approval_timeout/);
  assert.equal(allReasons().map(reasonName).filter((r) => !all.has(r)), []);
});

test.run();
