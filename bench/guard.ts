// Throughput of the content-guard scanner (docs/design.md §12), for the guard_scan_mb_per_s:
// MB/s of scanPayload over a mixed corpus — chat-style JSON payloads built from the benign
// samples of test/fixtures/guard (prose in many scripts, emoji, code, URLs, ids, base64) with
// one payload in ten carrying an attack — at 256 B, 4 KiB and 64 KiB. A script, not a timed test:
// rounds are interleaved and the median is printed (a shared 2-core machine).
//   node --import tsx bench/guard.ts [--json]
import { readFileSync } from 'node:fs';
import { scanPayload } from '../packages/protocol/src/guard/index.js';
import { report, type Figure } from './util.js';

const json = process.argv.includes('--json');
const ROUNDS = 5;
const MS = 400;

const strings = (file: string): string[] => {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  for (const line of readFileSync(`test/fixtures/guard/${file}`, 'utf8').split('\n').filter(Boolean)) {
    const s = JSON.parse(line) as { payload?: unknown; raw?: string };
    walk(s.payload ?? s.raw);
  }
  return out.filter((s) => s.length >= 8);
};
const benign = strings('benign.jsonl');
const attacks = strings('attacks.jsonl');
const enc = new TextEncoder();

/** Payloads of about `size` bytes: a message list filled with corpus strings, each cut to fit. */
function payloads(size: number, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let b = 0,
    a = 0;
  for (let i = 0; i < n; i++) {
    const p = { model: 'agent', metadata: { conversation_id: `c-${i}`, step: i }, messages: [] as { role: string; content: string }[] };
    const attack = i % 10 === 9;
    for (;;) {
      let text = attack && p.messages.length === 1 ? attacks[a++ % attacks.length]! : benign[b++ % benign.length]!;
      const room = size - enc.encode(JSON.stringify(p)).length - 40;
      if (room <= 16) break;
      if (enc.encode(text).length > room) text = [...text].slice(0, Math.floor(room / 4)).join('');
      p.messages.push({ role: p.messages.length % 2 ? 'assistant' : 'user', content: text });
    }
    out.push(enc.encode(JSON.stringify(p)));
  }
  return out;
}

const sizes: [string, number][] = [
  ['256 B', 256],
  ['4 KiB', 4096],
  ['64 KiB', 65536],
];
const sets = sizes.map(([name, size]) => ({ name, set: payloads(size, size >= 65536 ? 20 : 200) }));
const results = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) {
  for (const { name, set } of sets) {
    for (let i = 0; i < 20; i++) scanPayload(set[i % set.length]!); // warm-up
    let bytes = 0,
      i = 0;
    const start = performance.now();
    while (performance.now() - start < MS) {
      const p = set[i++ % set.length]!;
      scanPayload(p);
      bytes += p.length;
    }
    const mbps = bytes / 1e6 / ((performance.now() - start) / 1000);
    results.set(name, [...(results.get(name) ?? []), mbps]);
  }
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const figures: Figure[] = sets.map(({ name, set }) => ({
  name: `guard_scan_mb_per_s, ${name} payloads (avg ${Math.round(set.reduce((n, p) => n + p.length, 0) / set.length)} B)`,
  value: median(results.get(name)!),
  unit: 'MB/s',
}));
report(figures, json);
