// A/B of the verifier in one run (issue 30: each change with its before/after ratio, measured in
// one run on a noisy machine): the same bus, sender and confirming receiver; rounds alternate
// between the verifier of a base checkout (A) and this checkout's (B), one fresh process per
// round, and each round reports CPU per message (all the verifier's threads, from /proc) and
// msgs/s. The figure is the median over rounds of B ÷ A, and its spread.
//
//   node --import tsx bench/ab-verifier.ts <base checkout> [bytes=256] [messages=20000] [pairs=4]
//
// The base checkout: `git worktree add --detach /tmp/base <commit>`, its node_modules linked to
// this one's but for @agentbus/* (its own packages), and `npm run build` there.
import { readFileSync } from 'node:fs';
import { startBenchBus, spawnService, stopChild, presign, throughput, waitServed, confirmingReceiver } from './bus.js';

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const base = process.argv[2];
if (!base) throw new Error('usage: ab-verifier.ts <base checkout> [bytes] [messages] [pairs]');
const size = Number(process.argv[3] ?? 256);
const n = Number(process.argv[4] ?? 20000);
const pairs = Number(process.argv[5] ?? 4);
const bus = await startBenchBus();
const rows: { cpu: number; rate: number }[][] = [[], []];
try {
  const sender = await bus.rawAgent('planner');
  await confirmingReceiver(bus);
  for (let r = 0; r < pairs * 2; r++) {
    // A B B A A B …: neither side always runs first (the machine's load drifts)
    const which = [0, 1, 1, 0][r % 4]!;
    const v = await spawnService(bus, 'verifier', [], which === 0 ? base : undefined);
    await waitServed(bus, ['planner']);
    await throughput(sender, presign(bus, 2000, size)); // warm-up (JIT)
    const envs = presign(bus, n, size);
    const c0 = cpuSeconds(v.pid!);
    const t = await throughput(sender, envs);
    const cpu = cpuSeconds(v.pid!) - c0;
    await stopChild(v);
    if (t.accepted !== n) throw new Error(`round ${r}: ${t.accepted}/${n} accepted (${JSON.stringify(t.reasons)})`);
    rows[which]!.push({ cpu: (cpu / n) * 1e6, rate: t.perSec });
    console.log(JSON.stringify({ round: r, side: which ? 'B' : 'A', us_per_msg: Math.round((cpu / n) * 1e6), msgs_per_s: Math.round(t.perSec) }));
  }
} finally {
  await bus.stop();
}
const ratios = rows[0]!.map((a, i) => rows[1]![i]!.cpu / a.cpu);
const rates = rows[0]!.map((a, i) => rows[1]![i]!.rate / a.rate);
console.log(
  JSON.stringify({
    bytes: size,
    a_us_per_msg: Math.round(median(rows[0]!.map((x) => x.cpu))),
    b_us_per_msg: Math.round(median(rows[1]!.map((x) => x.cpu))),
    cpu_b_over_a: Number(median(ratios).toFixed(3)),
    cpu_ratio_range: [Number(Math.min(...ratios).toFixed(3)), Number(Math.max(...ratios).toFixed(3))],
    rate_b_over_a: Number(median(rates).toFixed(3)),
  }),
);
process.exit(0);
