// Micro-measurement of the tools: argument policy (not a timed test): µs per checkToolCall for a
// typical policy with and without a CEL `when:`, each constraint kind alone, and the worst cases
// the structural CEL limits leave (see packages/protocol/src/tools/cel.ts), next to one Ed25519
// verify for scale. Rounds are interleaved and the median is printed (a shared 2-core machine).
//   node --import tsx bench/tool-policy.ts [--json]
import { randomBytes } from 'node:crypto';
import { backends } from '../packages/protocol/src/index.js';
import { loadToolPolicy, checkToolCall, type CompiledToolPolicy } from '../packages/protocol/src/tools/index.js';

const json = process.argv.includes('--json');
const ROUNDS = 5;

const base = {
  server: 'fs',
  tools: ['read_file', 'write_file', 'list_*'],
  args: {
    path: { path: { roots: ['/srv/project', '/data/shared'] } },
    source: { url: { schemes: ['https' as const], hosts: ['*.example.com', 'example.org'] }, optional: true },
    mode: { enum: ['r', 'w'] },
    limit: { type: 'integer' as const, min: 0, max: 1000 },
    label: { pattern: '[a-z][a-z0-9_-]*', max_length: 64 },
  },
};
const typical = loadToolPolicy([base]);
const withWhen = loadToolPolicy([
  { ...base, when: 'args.mode == "r" || (tool == "write_file" && args.path.startsWith("/srv/project/out/") && args.limit <= 100.0)' },
]);
const args = {
  path: '/srv/project/out/reports/2026/summary.md',
  source: 'https://api.example.com/v1/items?page=2',
  mode: 'w',
  limit: 50,
  label: 'weekly_report-7',
};

const one = (a: Record<string, unknown>, rule: Record<string, unknown> = {}) => loadToolPolicy([{ server: 'x', tools: ['t'], args: a, ...rule }]);
// [name, policy, server, tool, args, expected ok]
const cases: [string, CompiledToolPolicy, string, string, unknown, boolean][] = [
  ['typical policy, 5 arguments', typical, 'fs', 'write_file', args, true],
  ['typical policy + CEL when:', withWhen, 'fs', 'write_file', args, true],
  ['tool not listed (refused)', typical, 'fs', 'delete_file', args, false],
  ['path only', one({ path: { path: { roots: ['/srv/project'] } } }), 'x', 't', { path: args.path }, true],
  ['path refused (%252e%252e)', one({ path: { path: { roots: ['/srv/project'] } } }), 'x', 't', { path: '/srv/project/%252e%252e/etc/passwd' }, false],
  ['url only', one({ url: { url: { hosts: ['*.example.com'] } } }), 'x', 't', { url: args.source }, true],
  ['url refused (0x7f000001)', one({ url: { url: { schemes: ['http'], hosts: ['*'] } } }), 'x', 't', { url: 'http://0x7f000001/' }, false],
  ['enum + range only', one({ mode: { enum: ['r', 'w'] }, limit: { min: 0, max: 1000 } }), 'x', 't', { mode: 'w', limit: 50 }, true],
  ['pattern (RE2), 15 chars', one({ label: { pattern: '[a-z][a-z0-9_-]*' } }), 'x', 't', { label: args.label }, true],
  ['pattern (RE2), 64 chars', one({ label: { pattern: '[a-z][a-z0-9_-]*' } }), 'x', 't', { label: `a${'b'.repeat(63)}` }, true],
  ['CEL when: only', one({}, { when: 'args.mode == "r" || args.limit <= 100.0' }), 'x', 't', { mode: 'w', limit: 50 }, true],
];

// Worst cases, bounded by the payload limit (64 KiB default): a pattern over a 64 KiB string,
// and a string function inside a comprehension over a hostile list (O(list × string)).
const big = 'a'.repeat(60_000);
const list = Array.from({ length: 4000 }, () => 'z');
// [name, policy, args, expected ok]
const worst: [string, CompiledToolPolicy, unknown, boolean][] = [
  ['worst: pattern (a+)+ on 60 KB (refused at the end)', one({ s: { pattern: '(a+)+' } }), { s: `${big}!` }, false],
  ['worst: all(x, !s.contains(x)), 4000 × 32 KB', one({}, { when: 'args.l.all(x, !args.s.contains(x))' }), { l: list, s: big.slice(0, 32_000) }, true],
];

function usPer(fn: () => void, minMs: number): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(minMs) * 1_000_000n;
  let now = t0;
  while (now < end) {
    for (let k = 0; k < 16; k++) fn();
    n += 16;
    now = process.hrtime.bigint();
  }
  return Number(now - t0) / 1e3 / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// sanity: what should pass passes, what should be refused is
for (const [name, p, server, tool, a, ok] of cases)
  if (checkToolCall(p, server, tool, a).ok !== ok) throw new Error(`${name}: expected ${ok ? 'accepted' : 'refused'}`);
for (const [name, p, a, ok] of worst) if (checkToolCall(p, 'x', 't', a).ok !== ok) throw new Error(`${name}: expected ${ok ? 'accepted' : 'refused'}`);

const b = backends.sodium ?? backends.node;
const seed = randomBytes(32);
const msg = randomBytes(300);
const pub = b.publicKey(seed);
const sig = b.signer(seed)(msg);

const results = new Map<string, number[]>();
const add = (k: string, v: number) => results.set(k, [...(results.get(k) ?? []), v]);
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, p, server, tool, a] of cases)
    add(
      name,
      usPer(() => checkToolCall(p, server, tool, a), 120),
    );
  for (const [name, p, a] of worst)
    add(
      name,
      usPer(() => checkToolCall(p, 'x', 't', a), 150),
    );
  add(
    `ed25519 verify (${b.name}), for scale`,
    usPer(() => b.verify(pub, msg, sig), 120),
  );
}

if (json) {
  for (const [name, v] of results) console.log(JSON.stringify({ name, value: Number(median(v).toFixed(3)), unit: 'us/check' }));
} else {
  const w = Math.max(...[...results.keys()].map((k) => k.length));
  console.log(`median of ${ROUNDS} interleaved rounds, µs per call`);
  for (const [name, v] of results)
    console.log(
      `${name.padEnd(w)}  ${median(v)
        .toFixed(v.length && median(v) < 10 ? 2 : 0)
        .padStart(10)} µs   (min ${Math.min(...v).toFixed(2)}, max ${Math.max(...v).toFixed(2)})`,
    );
}
