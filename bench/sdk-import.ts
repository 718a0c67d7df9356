// What importing `@agentbus/sdk` costs (issue 25 item 7): wall time of `await import('@agentbus/sdk')`
// in a fresh node, the heap it leaves (heapUsed after a full GC, minus the same before the import)
// and how many modules it loads. Runs RUNS fresh processes (default 10) and prints the medians.
// Needs `npm run build` (the SDK resolves to packages/sdk/dist through the workspace link).
//   node --import tsx bench/sdk-import.ts [--json] [--runs N] [--root DIR]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report, type Figure } from './util.js';

const json = process.argv.includes('--json');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;
// --root DIR: resolve '@agentbus/sdk' from DIR instead (e.g. a copy of an earlier build, for before/after)
const rootArg = process.argv.indexOf('--root');
const root = rootArg > 0 ? process.argv[rootArg + 1]! : fileURLToPath(new URL('..', import.meta.url));
const recorder = fileURLToPath(new URL('../test/helpers/load-recorder.mjs', import.meta.url));

const child = `
globalThis.gc(); const h0 = process.memoryUsage().heapUsed;
const t0 = performance.now(); const c0 = process.cpuUsage();
await import('@agentbus/sdk');
const ms = performance.now() - t0; const c = process.cpuUsage(c0);
globalThis.gc(); globalThis.gc();
console.log(JSON.stringify({ ms, cpu: (c.user + c.system) / 1000, heap: process.memoryUsage().heapUsed - h0, rss: process.memoryUsage().rss }));
`;

function once(record?: string): { ms: number; cpu: number; heap: number; rss: number } {
  const args = ['--expose-gc', ...(record ? ['--import', recorder] : []), '--input-type=module', '-e', child];
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...(record ? { AGENTBUS_LOAD_RECORD: record } : {}) } });
  if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
once(); // warm the file cache
const samples = Array.from({ length: RUNS }, () => once());
// the module count, in a separate run: the recorder's hooks thread would skew time and heap
const dir = mkdtempSync(join(tmpdir(), 'sdk-import-'));
let urls: string[];
try {
  once(join(dir, 'loads'));
  urls = readFileSync(join(dir, 'loads'), 'utf8').split('\n').filter(Boolean);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const pkgs = new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter(Boolean));
const figures: Figure[] = [
  { name: 'sdk_import_ms', value: median(samples.map((s) => s.ms)), unit: `ms, median of ${RUNS} fresh processes` },
  { name: 'sdk_import_cpu_ms', value: median(samples.map((s) => s.cpu)), unit: 'ms of CPU (user + system, all threads), median' },
  { name: 'sdk_import_heap_kb', value: median(samples.map((s) => s.heap)) / 2 ** 10, unit: 'KiB heapUsed after GC, minus before the import' },
  { name: 'sdk_import_rss_mb', value: median(samples.map((s) => s.rss)) / 2 ** 20, unit: 'MiB RSS of the process after the import' },
  { name: 'sdk_import_modules', value: urls.length, unit: 'modules loaded through the ESM loader' },
  { name: 'sdk_import_packages', value: pkgs.size, unit: `packages: ${[...pkgs].sort().join(' ')}` },
];
report(figures, json);
