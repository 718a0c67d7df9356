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

/** The "fails with" cell: the check's own words, or its reasons. */
export function failsWith(c: Check): string {
  return c.failsWith ?? c.reasons.map((r) => `\`${reasonName(r)}\``).join(', ');
}

/** The table, from CHECKS. */
export function checksTable(): string {
  const rows = CHECKS.map((c, i) => `| ${i + 1} | \`${c.name}\` | ${c.spec} | ${failsWith(c)} | ${c.detail} |`.replace(/ {2,}\|$/, ' |'));
  return ['| # | check | rule | fails with | detail (informative) |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** `text` (PROTOCOL.md) with the table between the markers generated afresh. */
export function withChecksTable(text: string): string {
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`PROTOCOL.md: no ${BEGIN} … ${END}`);
  return `${text.slice(0, a + BEGIN.length)}\n${checksTable()}\n${text.slice(b)}`;
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
