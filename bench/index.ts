// npm run bench [-- --json] [-- --quick]
// Every figure of one run, as a table or one JSON line per figure {"name","value","unit"}.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { freePort } from '../packages/server/src/common/nats-process.js';
import { cryptoFigures } from './crypto.js';
import {
  startBenchBus,
  spawnService,
  stopChild,
  presign,
  presignJws,
  throughput,
  windowFor,
  hopLatency,
  gauges,
  laneSenders,
  laneThroughput,
  presignAs,
  waitServed,
  confirmingReceiver,
  scrapeHistogram,
  histogramQuantile,
} from './bus.js';
import { report } from './util.js';
import { auditorIngest } from './auditor.js';
import { detectionFigures } from './detection.js';
import { junkFloodFigures } from './junk-flood.js';
import { toolFigures } from './tools.js';
import { guardedFigures } from './guarded.js';
import { memoryFigures } from './memory.js';
import { a2aFigures } from './a2a.js';
import { checkPythonSdk, pythonFigures } from './python.js';
import { jetstreamCommitFigures } from './jetstream-commit.js';
import type { Figure } from './util.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const log = (s: string) => {
  if (!json) console.error(s);
};

/** CPU seconds (user + system, all threads) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

try {
  checkPythonSdk();
} catch (e) {
  console.error((e as Error).message);
  process.exit(2);
}

const figures: Figure[] = [];
log('crypto: sign/verify per backend, seal/open envelope ...');
const c = cryptoFigures(quick ? 300 : 1000);
figures.push(...c);
const get = (n: string) => figures.find((f) => f.name === n)?.value ?? NaN;
const ceiling = get('verify_sodium_per_s') || get('verify_node_per_s');
figures.push({ name: 'verify_ceiling_per_s', value: ceiling, unit: 'verifies/s (1 core, fastest backend)' });

log('bus: relay and verifier through a real nats-server ...');
const bus = await startBenchBus();
try {
  const sender = await bus.rawAgent('planner');
  const receiver = await confirmingReceiver(bus);
  const N = quick ? 4000 : 20000;
  for (const size of [256, 4096, 65536]) {
    const n = size === 65536 ? Math.floor(N / 8) : N;
    const suffix = size === 256 ? '' : `_${size}b`;
    log(`  ${size} B: relay`);
    const relay = await spawnService(bus, 'relay');
    const r = await throughput(sender, presign(bus, n, size), windowFor(size));
    await stopChild(relay);
    log(`  ${size} B: jws baseline`);
    const jwsSvc = await spawnService(bus, 'jws');
    await throughput(sender, await presignJws(bus, Math.min(n, 2000), size)); // warm-up
    const jwsEnvs = await presignJws(bus, n, size);
    const jc0 = cpuSeconds(jwsSvc.pid!);
    const j = await throughput(sender, jwsEnvs, windowFor(size));
    const jCpu = cpuSeconds(jwsSvc.pid!) - jc0;
    await stopChild(jwsSvc);
    if (j.accepted !== n) throw new Error(`jws baseline accepted ${j.accepted} of ${n}`);
    log(`  ${size} B: verifier`);
    const metricsPort = size === 256 ? await freePort() : 0;
    const verifier = await spawnService(bus, 'verifier', metricsPort ? ['--metrics-port', String(metricsPort)] : []);
    await waitServed(bus, ['planner']);
    await throughput(sender, presign(bus, Math.min(n, 2000), size)); // warm-up (JIT)
    const envs = presign(bus, n, size);
    const vc0 = cpuSeconds(verifier.pid!);
    const v = await throughput(sender, envs, windowFor(size));
    const vCpu = cpuSeconds(verifier.pid!) - vc0;
    if (v.accepted !== n) throw new Error(`verifier accepted ${v.accepted} of ${n} (${v.rejected} rejected: ${JSON.stringify(v.reasons)})`);
    figures.push({ name: `relay_msgs_per_s${suffix}`, value: r.perSec, unit: 'msgs/s' });
    figures.push({ name: `verifier_msgs_per_s${suffix}`, value: v.perSec, unit: 'msgs/s' });
    figures.push({ name: `jws_msgs_per_s${suffix}`, value: j.perSec, unit: 'msgs/s' });
    figures.push({ name: `verifier_over_jws${suffix}`, value: v.perSec / j.perSec, unit: 'ratio' });
    // The same runs per CPU-second the service itself used (all its threads, from /proc): what a
    // message costs, independent of what else competed for the two cores during the run.
    figures.push({
      name: `verifier_msgs_per_cpu_s${suffix}`,
      value: n / vCpu,
      unit: `msgs per CPU-second of the verifier (${(vCpu / (n / v.perSec)).toFixed(2)} cores busy)`,
    });
    figures.push({
      name: `jws_msgs_per_cpu_s${suffix}`,
      value: n / jCpu,
      unit: `msgs per CPU-second of the JWS service (${(jCpu / (n / j.perSec)).toFixed(2)} cores busy, threadpool included)`,
    });
    figures.push({ name: `verifier_over_jws_per_cpu${suffix}`, value: n / vCpu / (n / jCpu), unit: 'ratio' });
    if (size === 256) {
      figures.push({ name: 'verifier_over_ceiling', value: v.perSec / ceiling, unit: 'ratio' });
      figures.push({
        name: 'verifier_per_cpu_over_ceiling',
        value: n / vCpu / ceiling,
        unit: 'ratio (msgs per verifier CPU-second / verifies per CPU-second)',
      });
      figures.push({ name: 'verifier_over_node_ceiling', value: v.perSec / get('verify_node_per_s'), unit: 'ratio' });
      figures.push({ name: 'verifier_over_relay', value: v.perSec / r.perSec, unit: 'ratio' });
      figures.push({ name: 'envelope_bytes', value: envs[0]!.length, unit: 'bytes' });
      figures.push({ name: 'jws_bytes', value: jwsEnvs[0]!.length, unit: 'bytes' });
      // Half of the measured peak, for 8 s (quick: 2 s) after 1 s of warm-up at the same rate, so
      // a p99 rests on thousands of samples and not on the tail of the throughput run before it.
      const rate = Math.max(100, Math.floor(v.perSec / 2));
      const secs = quick ? 2 : 8;
      const warm = rate;
      await new Promise((r) => setTimeout(r, 1000));
      await waitServed(bus, ['planner']);
      const envsLat = presign(bus, rate * secs + warm, 256);
      const murl = `http://127.0.0.1:${metricsPort}`;
      const commitBefore = await scrapeHistogram(murl, 'agentbus_verifier_audit_commit_seconds');
      const inBefore = await scrapeHistogram(murl, 'agentbus_verifier_forward_seconds'); // also resets the event-loop gauges
      const lv = await hopLatency(bus, receiver, envsLat, rate, warm);
      const [loop99, loopMax] = await gauges(murl, ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds']);
      const commitAfter = await scrapeHistogram(murl, 'agentbus_verifier_audit_commit_seconds');
      const c50 = histogramQuantile(commitBefore, commitAfter, 0.5);
      const c99 = histogramQuantile(commitBefore, commitAfter, 0.99);
      const inAfter = await scrapeHistogram(murl, 'agentbus_verifier_forward_seconds');
      const i99 = histogramQuantile(inBefore, inAfter, 0.99);
      // interactive load (issue 30): a tenth of the peak, same length
      const rate10 = Math.max(50, Math.floor(v.perSec / 10));
      await new Promise((r) => setTimeout(r, 500));
      const c10Before = await scrapeHistogram(murl, 'agentbus_verifier_audit_commit_seconds');
      await gauges(murl, []); // resets the event-loop gauges
      const lv10 = await hopLatency(bus, receiver, presign(bus, rate10 * secs + rate10, 256), rate10, rate10);
      const [loop99At10, loopMaxAt10] = await gauges(murl, ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds']);
      const c10 = histogramQuantile(c10Before, await scrapeHistogram(murl, 'agentbus_verifier_audit_commit_seconds'), 0.99);
      await stopChild(verifier);
      const relay2 = await spawnService(bus, 'relay');
      await new Promise((r) => setTimeout(r, 1000));
      const lr = await hopLatency(bus, receiver, presign(bus, rate * secs + warm, 256), rate, warm);
      await new Promise((r) => setTimeout(r, 500));
      const lr10 = await hopLatency(bus, receiver, presign(bus, rate10 * secs + rate10, 256), rate10, rate10);
      await stopChild(relay2);
      figures.push(
        { name: 'hop_p50_ms', value: lv.p50, unit: 'ms' },
        { name: 'hop_p99_ms', value: lv.p99, unit: 'ms' },
        { name: 'hop_p999_ms', value: lv.p999, unit: 'ms' },
      );
      figures.push(
        { name: 'relay_hop_p50_ms', value: lr.p50, unit: 'ms' },
        { name: 'relay_hop_p99_ms', value: lr.p99, unit: 'ms' },
        { name: 'relay_hop_p999_ms', value: lr.p999, unit: 'ms' },
      );
      figures.push({ name: 'hop_added_p50_ms', value: lv.p50 - lr.p50, unit: 'ms' });
      figures.push({ name: 'hop_added_p99_ms', value: lv.p99 - lr.p99, unit: 'ms' });
      figures.push({ name: 'hop_rate_msgs_per_s', value: rate, unit: 'msgs/s' });
      // what the verifier's messages wait for: the audit group commit to JetStream (its own histogram)
      figures.push({ name: 'audit_commit_p50_ms_le', value: c50.value * 1000, unit: `ms (bucket bound, ${c50.count} commits during the latency run)` });
      figures.push({ name: 'audit_commit_p99_ms_le', value: c99.value * 1000, unit: 'ms (bucket bound)' });
      figures.push({ name: 'in_verifier_p99_ms_le', value: i99.value * 1000, unit: 'ms (bucket bound: receipt → forward inside the verifier)' });
      figures.push({ name: 'event_loop_delay_p99_ms', value: loop99! * 1000, unit: 'ms (the verifier, monitorEventLoopDelay, during the half-load run)' });
      figures.push({ name: 'event_loop_delay_max_ms', value: loopMax! * 1000, unit: 'ms' });
      figures.push(
        { name: 'hop_p50_ms_10pct', value: lv10.p50, unit: 'ms (a tenth of the peak)' },
        { name: 'hop_p99_ms_10pct', value: lv10.p99, unit: 'ms' },
        { name: 'relay_hop_p50_ms_10pct', value: lr10.p50, unit: 'ms' },
        { name: 'relay_hop_p99_ms_10pct', value: lr10.p99, unit: 'ms' },
        { name: 'hop_added_p50_ms_10pct', value: lv10.p50 - lr10.p50, unit: 'ms' },
        { name: 'hop_added_p99_ms_10pct', value: lv10.p99 - lr10.p99, unit: 'ms' },
        { name: 'hop_rate_msgs_per_s_10pct', value: rate10, unit: 'msgs/s' },
        { name: 'audit_commit_p99_ms_le_10pct', value: c10.value * 1000, unit: 'ms (bucket bound)' },
        { name: 'event_loop_delay_p99_ms_10pct', value: loop99At10! * 1000, unit: 'ms' },
        { name: 'event_loop_delay_max_ms_10pct', value: loopMaxAt10! * 1000, unit: 'ms' },
      );
    } else {
      await stopChild(verifier);
    }
  }
  // Scaling: 8 senders on 8 partitions, one verifier process, then two sharing the partitions.
  log('  scaling: 1 → 2 verifier processes');
  const lanes = await Promise.all(laneSenders().map(async (sender) => ({ nc: await bus.rawAgent(sender), sender, envs: [] as Uint8Array[] })));
  const per = Math.floor((quick ? 8000 : 24000) / lanes.length);
  const fill = () => {
    for (const l of lanes) l.envs = presignAs(bus, l.sender, per, 256);
  };
  const v1 = await spawnService(bus, 'verifier');
  await waitServed(bus, laneSenders());
  fill();
  await laneThroughput(lanes); // warm-up
  fill();
  const one = await laneThroughput(lanes);
  const v2 = await spawnService(bus, 'verifier');
  await new Promise((r) => setTimeout(r, 5000)); // partitions rebalance (lease ticks)
  await waitServed(bus, laneSenders());
  fill();
  await laneThroughput(lanes);
  fill();
  const two = await laneThroughput(lanes);
  await stopChild(v2);
  await stopChild(v1);
  if (one.accepted !== per * lanes.length || two.accepted !== per * lanes.length)
    throw new Error(`scaling run: not all accepted: ${JSON.stringify([one.reasons, two.reasons])}`);
  figures.push({ name: 'verifier_1proc_msgs_per_s', value: one.perSec, unit: 'msgs/s (8 senders)' });
  figures.push({ name: 'verifier_2proc_msgs_per_s', value: two.perSec, unit: 'msgs/s (8 senders)' });
  figures.push({ name: 'verifier_2proc_over_1proc', value: two.perSec / one.perSec, unit: 'ratio' });
  // docs/design.md §9: an honest agent's hop p99 alone and while another agent floods bad signatures
  log('  junk flood: honest p99 alone vs during a flood from another process');
  figures.push(...(await junkFloodFigures(bus, receiver, { seconds: quick ? 2 : 3, rounds: quick ? 1 : 3 })));
} finally {
  await bus.stop();
}
log("jetstream: publish → ack alone at the verifier's commit rate (the floor under the hop tail) ...");
figures.push(...(await jetstreamCommitFigures({ rate: 700, seconds: quick ? 2 : 8 })));
log('content guards: the verifier with and without them, and the scanner alone ...');
figures.push(...(await guardedFigures(quick ? { n: 3000, rounds: 1 } : {})));
log('memory: get/put through the bus vs direct JetStream KV ...');
figures.push(...(await memoryFigures({ ops: quick ? 60 : 300 })));
log('tool calls: through the bus vs the MCP server directly, and the policy check ...');
figures.push(...(await toolFigures({ calls: quick ? 60 : 300 })));
log('a2a: request -> answer and msgs/s through the gateway vs the A2A SDK client -> server directly ...');
figures.push(...(await a2aFigures({ n: quick ? 60 : 200 })));
log('python: the Python SDK next to the TS one (send -> confirmed, msgs/s) ...');
figures.push(...(await pythonFigures({ n: quick ? 100 : 500 })));
log('auditor: ingest from JetStream into chDB ...');
figures.push(...(await auditorIngest({ events: quick ? 20_000 : 100_000 })));
const peak = get('verifier_2proc_msgs_per_s') || get('verifier_msgs_per_s');
figures.push({ name: 'auditor_over_verifier_peak', value: get('auditor_events_per_s') / peak, unit: 'ratio' });
log('detection: labelled traffic simulation ...');
const det = await detectionFigures(quick ? { agents: 5, rounds: 1 } : {});
figures.push(...det.figures);
if (!json) console.log(det.table);
report(figures, json);
if (!quick) {
  const lines = [
    '# Benchmark results',
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}. Date: ${new Date().toISOString()}. Command: \`npm run bench\`.`,
    '',
    '| figure | value | unit |',
    '| --- | ---: | --- |',
    ...figures.map((f) => `| ${f.name} | ${f.value < 10 ? f.value.toFixed(3) : Math.round(f.value)} | ${f.unit} |`),
    '',
    '## Detection (labelled simulation)',
    '',
    '```',
    det.table,
    '```',
    '',
  ];
  writeFileSync('bench/RESULTS.md', lines.join('\n'));
}
