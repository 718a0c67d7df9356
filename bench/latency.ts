// npm run bench:latency [-- --runs 3] [-- --fractions 0.1,0.5] [-- --seconds 4] [-- --json]
// Hop latency only: the verifier's peak, then send→deliver at each fraction of it (interactive
// load: 10 % and 50 % by default), several runs each, beside the pass-through relay at the same
// rates. For studying the tail without the full bench. With each verifier run, from its metrics
// (scraped before and after the run): the audit group commit's p50 and p99 (bucket bounds of
// agentbus_verifier_audit_commit_seconds), receipt → forward inside the verifier (p99 bucket
// bound), and the event loop's delay (prom-client's monitorEventLoopDelay gauges, reset by each
// scrape: p99 and max over the run). The control: the bench process's own event-loop delay in the
// same runs (it only receives): what this machine's scheduling does to a nearly idle process.
import {
  startBenchBus,
  spawnService,
  stopChild,
  presign,
  throughput,
  hopLatency,
  waitServed,
  confirmingReceiver,
  scrapeHistogram,
  histogramQuantile,
  gauges,
} from './bus.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { freePort } from '../packages/server/src/common/nats-process.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const runs = Number(arg('runs', '3'));
const fractions = arg('fractions', arg('fraction', '0.1,0.5')).split(',').map(Number);
const secs = Number(arg('seconds', '4'));

interface HopRun {
  service: 'verifier' | 'relay';
  fraction: number;
  rate: number;
  p50: number;
  p99: number;
  p999: number;
  commitP50?: number;
  commitP99?: number;
  inVerifierP99?: number;
  loopP99?: number;
  loopMax?: number;
  /** The control: this bench process's own event-loop delay during the run (it only receives). */
  benchLoopP99: number;
  benchLoopMax: number;
}

/** This process's event-loop delay during `f` (p99, max in ms): what the machine's scheduling alone does to a nearly idle process. */
async function withLoopDelay<T>(f: () => Promise<T>): Promise<[T, number, number]> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  try {
    const r = await f();
    return [r, h.percentile(99) / 1e6, h.max / 1e6];
  } finally {
    h.disable();
  }
}

const med = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

const bus = await startBenchBus();
try {
  const sender = await bus.rawAgent('planner');
  const receiver = await confirmingReceiver(bus);
  const port = await freePort();
  const murl = `http://127.0.0.1:${port}`;
  const verifier = await spawnService(bus, 'verifier', ['--metrics-port', String(port)]);
  await waitServed(bus, ['planner']);
  await throughput(sender, presign(bus, 2000, 256));
  const peak = (await throughput(sender, presign(bus, 20000, 256))).perSec;
  const out: HopRun[] = [];
  const measure = async (service: 'verifier' | 'relay') => {
    for (const fraction of fractions) {
      const rate = Math.max(50, Math.floor(peak * fraction));
      for (let i = 0; i < runs; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const envs = presign(bus, rate * (secs + 1), 256);
        if (service === 'relay') {
          const [l, b99, bMax] = await withLoopDelay(() => hopLatency(bus, receiver, envs, rate, rate));
          out.push({ service, fraction, rate, p50: l.p50, p99: l.p99, p999: l.p999, benchLoopP99: b99, benchLoopMax: bMax });
          continue;
        }
        const c0 = await scrapeHistogram(murl, 'agentbus_verifier_audit_commit_seconds');
        const f0 = await scrapeHistogram(murl, 'agentbus_verifier_forward_seconds'); // also resets the event-loop gauges
        const [l, b99, bMax] = await withLoopDelay(() => hopLatency(bus, receiver, envs, rate, rate));
        const [loopP99, loopMax] = (await gauges(murl, ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds'])) as [number, number];
        const c1 = await scrapeHistogram(murl, 'agentbus_verifier_audit_commit_seconds');
        const f1 = await scrapeHistogram(murl, 'agentbus_verifier_forward_seconds');
        out.push({
          service,
          fraction,
          rate,
          p50: l.p50,
          p99: l.p99,
          p999: l.p999,
          commitP50: histogramQuantile(c0, c1, 0.5).value * 1000,
          commitP99: histogramQuantile(c0, c1, 0.99).value * 1000,
          inVerifierP99: histogramQuantile(f0, f1, 0.99).value * 1000,
          loopP99: loopP99 * 1000,
          loopMax: loopMax * 1000,
          benchLoopP99: b99,
          benchLoopMax: bMax,
        });
      }
    }
  };
  await measure('verifier');
  await stopChild(verifier);
  const relay = await spawnService(bus, 'relay');
  await measure('relay');
  await stopChild(relay);
  const summary = fractions.map((fraction) => {
    const v = out.filter((o) => o.service === 'verifier' && o.fraction === fraction);
    const r = out.filter((o) => o.service === 'relay' && o.fraction === fraction);
    const m = (rows: HopRun[], k: keyof HopRun) => +med(rows.map((o) => o[k] as number)).toFixed(2);
    return {
      fraction,
      rate: v[0]?.rate,
      verifier_p50_ms: m(v, 'p50'),
      verifier_p99_ms: m(v, 'p99'),
      relay_p50_ms: m(r, 'p50'),
      relay_p99_ms: m(r, 'p99'),
      added_p50_ms: +(m(v, 'p50') - m(r, 'p50')).toFixed(2),
      added_p99_ms: +(m(v, 'p99') - m(r, 'p99')).toFixed(2),
      audit_commit_p50_ms_le: m(v, 'commitP50'),
      audit_commit_p99_ms_le: m(v, 'commitP99'),
      in_verifier_p99_ms_le: m(v, 'inVerifierP99'),
      event_loop_delay_p99_ms: m(v, 'loopP99'),
      event_loop_delay_max_ms: m(v, 'loopMax'),
      bench_process_loop_delay_p99_ms: m([...v, ...r], 'benchLoopP99'),
      bench_process_loop_delay_max_ms: m([...v, ...r], 'benchLoopMax'),
    };
  });
  const runsText = out.map(
    (o) =>
      `${o.service} ${Math.round(o.fraction * 100)}% p50 ${o.p50.toFixed(2)} p99 ${o.p99.toFixed(1)} p999 ${o.p999.toFixed(1)}` +
      (o.service === 'verifier' ? ` commit p99≤${o.commitP99} loop p99 ${o.loopP99!.toFixed(1)} max ${o.loopMax!.toFixed(1)}` : '') +
      ` (bench process loop p99 ${o.benchLoopP99.toFixed(1)} max ${o.benchLoopMax.toFixed(1)})`,
  );
  console.log(JSON.stringify({ peak: Math.round(peak), runs: runsText, summary }, null, 1));
} finally {
  await bus.stop();
}
