// docs/design.md §9: other agents' latency while one agent floods junk. The legitimate agent (planner)
// sends at a moderate rate from its own process (bench/latency-gen.ts); its send → deliver p99
// is measured alone, then while another agent (mallory) floods envelopes with bad signatures at
// full speed (as fast as the verifier answers, 256 unanswered) from a third process
// (test/helpers/flooder.ts), and again open loop at a fixed rate that ignores the answers. The
// verifier runs in its own process, as in production. The bench bus follows the quarantine bucket
// (common/quarantine.ts): past its budget the flooder is cut off at NATS; it is released before
// each flood so that every run starts with the flood reaching the verifier.
//
//   node --import tsx bench/junk-flood.ts [--json] [--rate 1000] [--seconds 3] [--open-rate 20000] [--rounds 3]
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { startBenchBus, spawnService, stopChild, presign, hopLatency, waitServed, confirmingReceiver } from './bus.js';
import type { TestBus } from '../test/helpers/bus.js';
import { startFlooder } from '../test/helpers/hostile.js';
import { report } from './util.js';
import { releaseQuarantine } from '../packages/server/src/common/quarantine.js';

const waitUntil = async (cond: () => boolean, ms = 10_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('junk flood: the flooder was not released');
    await new Promise((r) => setTimeout(r, 20));
  }
};
import type { Figure } from './util.js';

/** The flooding agent of the bench bus (startBenchBus defines it). */
export const FLOODER = 'mallory';
/** The flooder's CPU priority (AGENTBUS_FLOOD_NICE=0: the same as the bus's). */
const NICE = Number(process.env.AGENTBUS_FLOOD_NICE ?? 19);

export async function junkFloodFigures(
  bus: TestBus,
  receiver: NatsConnection,
  o: { rate?: number; seconds?: number; window?: number; openRate?: number; rounds?: number } = {},
): Promise<Figure[]> {
  const rate = o.rate ?? 1000;
  const secs = o.seconds ?? 3;
  const openRate = o.openRate ?? 20_000;
  const window = o.window ?? 256;
  const rounds = o.rounds ?? 3;
  const verifier = await spawnService(bus, 'verifier');
  try {
    await waitServed(bus, ['planner', FLOODER]);
    const run = () => hopLatency(bus, receiver, presign(bus, Math.round(rate * (secs + 0.5)), 256), rate, Math.round(rate / 2));
    const admin = await bus.admin();
    const flooded = async (flood: { window?: number; rate?: number }) => {
      // each flood starts with the flooder free to publish: released from the last one's quarantine
      await releaseQuarantine(admin, FLOODER, 'bench');
      await waitUntil(() => bus.quarantined().agents.length === 0);
      const applied = bus.quarantined().applied;
      // at nice 19: an attacker's CPU is not the bus's. On this 2-core box the flooder's own loop
      // otherwise takes about a core from the processes measured (docs/decisions.md "The
      // open-loop junk flood after quarantine"); its CPU is reported beside the figures.
      const f = await startFlooder(bus, FLOODER, { ...flood, ms: (secs + 20) * 1000, nice: NICE });
      f.go();
      await new Promise((r) => setTimeout(r, 500)); // the budget is spent, shedding from here on
      const t0 = performance.now();
      const lat = await run();
      const r = await f.stop();
      quarantines += bus.quarantined().applied > applied && bus.quarantined().agents.includes(FLOODER) ? 1 : 0;
      return { lat, r, perSec: r.sent / ((performance.now() - t0) / 1000 + 0.5) };
    };
    let quarantines = 0;
    await run(); // warm-up (JIT, connections)
    // The machine is shared: each phase `rounds` times, interleaved, and the medians compared.
    const alone: Awaited<ReturnType<typeof run>>[] = [];
    const closed: Awaited<ReturnType<typeof flooded>>[] = [];
    const open: Awaited<ReturnType<typeof flooded>>[] = [];
    for (let i = 0; i < rounds; i++) {
      alone.push(await run());
      // closed loop: as fast as the verifier answers, `window` unanswered (shed answers are held to the next 100 ms tick)
      closed.push(await flooded({ window }));
      // open loop: a fixed rate whatever the answers (what shedding itself costs)
      open.push(await flooded({ rate: openRate }));
    }
    const med = (xs: number[]) => {
      const v = [...xs].sort((a, b) => a - b);
      return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
    };
    const p99 = (xs: { p99: number }[]) => med(xs.map((x) => x.p99));
    const p50 = (xs: { p50: number }[]) => med(xs.map((x) => x.p50)).toFixed(2);
    const sum = (xs: { r: { byReason: Record<string, number> } }[], k: string) => xs.reduce((a, x) => a + (x.r.byReason[k] ?? 0), 0);
    const reasons = (xs: { r: { byReason: Record<string, number> } }[]) =>
      `${sum(xs, 'rejection_budget_exceeded')} shed, ${sum(xs, 'bad_signature')} verified over ${rounds} runs`;
    const runs = (xs: { p99: number }[]) => xs.map((x) => x.p99.toFixed(1)).join(' / ');
    return [
      { name: 'junk_flood_alone_p99_ms', value: p99(alone), unit: `ms (legit agent at ${rate} msgs/s, no flood; median of ${runs(alone)}; p50 ${p50(alone)})` },
      {
        name: 'junk_flood_legit_p99_ms',
        value: p99(closed.map((c) => c.lat)),
        unit: `ms (same, while ${FLOODER} floods bad signatures at full speed; ${runs(closed.map((c) => c.lat))}; p50 ${p50(closed.map((c) => c.lat))})`,
      },
      {
        name: 'junk_flood_legit_p99_ratio',
        value: p99(closed.map((c) => c.lat)) / p99(alone),
        unit: 'ratio (flooded p99 / alone p99, medians; docs/design.md §9: ≤ 2)',
      },
      { name: 'junk_flood_msgs_per_s', value: med(closed.map((c) => c.perSec)), unit: `junk msgs/s, closed loop, window ${window} (${reasons(closed)})` },
      {
        name: 'junk_flood_open_loop_legit_p99_ms',
        value: p99(open.map((c) => c.lat)),
        unit: `ms (while ${FLOODER} floods open loop at ${openRate} msgs/s; ${runs(open.map((c) => c.lat))}; p50 ${p50(open.map((c) => c.lat))})`,
      },
      {
        name: 'junk_flood_open_loop_legit_p99_ratio',
        value: p99(open.map((c) => c.lat)) / p99(alone),
        unit: 'ratio (open-loop flooded p99 / alone p99, medians)',
      },
      {
        name: 'junk_flood_open_loop_msgs_per_s',
        value: med(open.map((c) => c.perSec)),
        unit: `junk msgs/s sent open loop (${reasons(open)}; ${open.reduce((a, c) => a + c.r.answered, 0)} of ${open.reduce((a, c) => a + c.r.sent, 0)} answered: the rest stopped at NATS)`,
      },
      {
        name: 'junk_flood_open_loop_flooder_cores',
        value: med(open.map((c) => c.r.cores ?? Number.NaN)),
        unit: `cores the open-loop flooder itself used (median; at nice ${NICE}, on a machine with ${availableParallelism()} cores)`,
      },
      {
        name: 'junk_flood_quarantined_runs',
        value: quarantines,
        unit: `of ${2 * rounds} flood runs ended with ${FLOODER} quarantined at NATS (disconnected, refused; released before each run)`,
      },
    ];
  } finally {
    await stopChild(verifier);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, d: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : d;
  };
  const bus = await startBenchBus();
  try {
    const receiver = await confirmingReceiver(bus);
    report(
      await junkFloodFigures(bus, receiver, {
        rate: arg('rate', 1000),
        seconds: arg('seconds', 3),
        window: arg('window', 256),
        openRate: arg('open-rate', 20_000),
        rounds: arg('rounds', 3),
      }),
      process.argv.includes('--json'),
    );
  } finally {
    await bus.stop();
  }
}
