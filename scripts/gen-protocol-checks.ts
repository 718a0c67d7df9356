// PROTOCOL.md §8.2's table of the verifier's checks, generated from the one list in
// packages/server/src/verifier/checks.ts (CHECKS: the order decide() runs them in). The table
// sits between the two markers below; test/protocol-doc.test.ts fails if the committed one differs.
//   node --import tsx scripts/gen-protocol-checks.ts           rewrite the table in PROTOCOL.md
//   node --import tsx scripts/gen-protocol-checks.ts --check   exit 1 if it differs
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHECKS } from '../packages/server/src/verifier/checks.js';
import type { Check } from '../packages/server/src/verifier/checks.js';
import { reasonName } from '../packages/protocol/src/proto.js';

export const PROTOCOL_MD = join(dirname(fileURLToPath(import.meta.url)), '..', 'PROTOCOL.md');
export const BEGIN = '<!-- checks: generated from packages/server/src/verifier/checks.ts by scripts/gen-protocol-checks.ts; edit the list there -->';
export const END = '<!-- /checks -->';
export const BEGIN_MONITOR = '<!-- monitor: generated from the `monitor` field of packages/server/src/verifier/checks.ts by scripts/gen-protocol-checks.ts -->';
export const END_MONITOR = '<!-- /monitor -->';

/** The "fails with" cell: the check's own words, or its reasons. */
export function failsWith(c: Check): string {
  return c.failsWith ?? c.reasons.map((r) => `\`${reasonName(r)}\``).join(', ');
}

/** The table, from CHECKS. */
export function checksTable(): string {
  const rows = CHECKS.map((c, i) => `| ${i + 1} | \`${c.name}\` | ${c.spec} | ${failsWith(c)} | ${c.detail} |`.replace(/ {2,}\|$/, ' |'));
  return ['| # | check | rule | fails with | detail (informative) |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** §8.6's table: what monitor mode does at each check (from each check's `monitor` field). */
export function monitorTable(): string {
  const rows = CHECKS.map((c, i) => {
    const m = c.monitor;
    const recorded = m ? m.reasons.map((r) => `\`${reasonName(r)}\``).join(', ') : '';
    const refused = c.reasons.filter((r) => !m?.reasons.includes(r)).map((r) => `\`${reasonName(r)}\``);
    const still = [refused.join(', '), m?.note ?? ''].filter(Boolean).join('; ');
    return `| ${i + 1} | \`${c.name}\` | ${recorded || '—'} | ${still || '—'} |`;
  });
  return ['| # | check | recorded as "would refuse", delivered | refused in every mode; notes |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** `text` (PROTOCOL.md) with the tables between the markers generated afresh. */
export function withChecksTable(text: string): string {
  return between(between(text, BEGIN, END, checksTable()), BEGIN_MONITOR, END_MONITOR, monitorTable());
}

function between(text: string, begin: string, end: string, table: string): string {
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`PROTOCOL.md: no ${begin} … ${end}`);
  return `${text.slice(0, a + begin.length)}\n${table}\n${text.slice(b)}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const text = readFileSync(PROTOCOL_MD, 'utf8');
  const next = withChecksTable(text);
  if (process.argv.includes('--check')) {
    if (next !== text) {
      console.error('PROTOCOL.md §8.2 differs from CHECKS: run node --import tsx scripts/gen-protocol-checks.ts');
      process.exit(1);
    }
  } else if (next !== text) writeFileSync(PROTOCOL_MD, next);
}
