// npm run bench:latency [-- --runs 3] [-- --fraction 0.5]
// Hop latency only: the verifier's peak, then send→deliver at a fraction of it, several runs,
// beside the pass-through relay at the same rate. For studying the tail without the full bench.
import { startBenchBus, spawnService, stopChild, presign, throughput, hopLatency, waitServed, confirmingReceiver } from './bus.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg('runs', 3);
const fraction = arg('fraction', 0.5);
const secs = arg('seconds', 4);
const bus = await startBenchBus();
try {
  const sender = await bus.rawAgent('planner');
  const receiver = await confirmingReceiver(bus);
  const verifier = await spawnService(bus, 'verifier');
  await waitServed(bus, ['planner']);
  await throughput(sender, presign(bus, 2000, 256));
  const peak = (await throughput(sender, presign(bus, 20000, 256))).perSec;
  const rate = Math.floor(peak * fraction);
  const out: { service: string; p50: number; p99: number; p999: number }[] = [];
  const measure = async (service: string) => {
    for (let i = 0; i < runs; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const l = await hopLatency(bus, receiver, presign(bus, rate * (secs + 1), 256), rate, rate);
      out.push({ service, p50: l.p50, p99: l.p99, p999: l.p999 });
    }
  };
  await measure('verifier');
  await stopChild(verifier);
  const relay = await spawnService(bus, 'relay');
  await measure('relay');
  await stopChild(relay);
  const med = (svc: string, k: 'p50' | 'p99') => {
    const v = out
      .filter((o) => o.service === svc)
      .map((o) => o[k])
      .sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  console.log(
    JSON.stringify(
      {
        peak: Math.round(peak),
        rate,
        runs: out.map((o) => `${o.service} p50 ${o.p50.toFixed(2)} p99 ${o.p99.toFixed(1)} p999 ${o.p999.toFixed(1)}`),
        median_added_p99_ms: +(med('verifier', 'p99') - med('relay', 'p99')).toFixed(1),
      },
      null,
      1,
    ),
  );
} finally {
  await bus.stop();
}
