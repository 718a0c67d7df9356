// The verifier alone at one payload size, several rounds: msgs/s and CPU per message (all its
// threads, from /proc). For before/after measurements of one change (issue 19):
//   node --import tsx bench/verifier-only.ts [bytes=256] [messages=20000] [rounds=1]
//   BENCH_VERIFIER_NODE_FLAGS="--max-semi-space-size=32" … (node flags for the verifier only)
//   BENCH_PROFILE_DIR=dir … (a V8 CPU profile of the verifier)
import { readFileSync } from 'node:fs';
import { startBenchBus, spawnService, stopChild, presign, throughput, waitServed } from './bus.js';
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}
const size = Number(process.argv[2] ?? 256);
const n = Number(process.argv[3] ?? 20000);
const rounds = Number(process.argv[4] ?? 1);
const bus = await startBenchBus();
try {
  const sender = await bus.rawAgent('planner');
  const { confirmingReceiver } = await import('./bus.js');
  await confirmingReceiver(bus);
  const verifier = await spawnService(bus, 'verifier');
  await waitServed(bus, ['planner']);
  await throughput(sender, presign(bus, 2000, size));
  for (let r = 0; r < rounds; r++) {
    const envs = presign(bus, n, size);
    const c0 = cpuSeconds(verifier.pid!);
    const v = await throughput(sender, envs);
    const cpu = cpuSeconds(verifier.pid!) - c0;
    console.log(
      JSON.stringify({
        size,
        perSec: Math.round(v.perSec),
        perCpu: Math.round(n / cpu),
        accepted: v.accepted,
        reasons: v.reasons,
        usPerMsg: Math.round((cpu / n) * 1e6),
      }),
    );
  }
  await stopChild(verifier);
} finally {
  await bus.stop();
}
