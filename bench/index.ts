// npm run bench [-- --json] [-- --quick]
// Every figure of one run, as a table or one JSON line per figure {"name","value","unit"}.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { cryptoFigures } from './crypto.js';
import { startBenchBus, spawnService, stopChild, presign, throughput, hopLatency } from './bus.js';
import { report } from './util.js';
import type { Figure } from './util.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const log = (s: string) => { if (!json) console.error(s); };

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
  const receiver = await bus.rawAgent('coder');
  receiver.subscribe('agentbus.to.coder.>', { callback: () => undefined });
  const N = quick ? 4000 : 20000;
  for (const size of [256, 4096, 65536]) {
    const n = size === 65536 ? Math.floor(N / 8) : N;
    const suffix = size === 256 ? '' : `_${size}b`;
    const relay = await spawnService(bus, 'relay');
    const r = await throughput(sender, presign(bus, n, size));
    await stopChild(relay);
    const verifier = await spawnService(bus, 'verifier');
    await throughput(sender, presign(bus, Math.min(n, 2000), size)); // warm-up (JIT, KV bucket)
    const v = await throughput(sender, presign(bus, n, size));
    if (v.accepted !== n) throw new Error(`verifier accepted ${v.accepted} of ${n} (${v.rejected} rejected)`);
    figures.push({ name: `relay_msgs_per_s${suffix}`, value: r.perSec, unit: 'msgs/s' });
    figures.push({ name: `verifier_msgs_per_s${suffix}`, value: v.perSec, unit: 'msgs/s' });
    if (size === 256) {
      figures.push({ name: 'verifier_over_ceiling', value: v.perSec / ceiling, unit: 'ratio' });
      figures.push({ name: 'verifier_over_relay', value: v.perSec / r.perSec, unit: 'ratio' });
      const rate = Math.max(100, Math.floor(v.perSec / 2));
      const m = quick ? 2000 : 6000;
      const lv = await hopLatency(sender, receiver, presign(bus, m, 256), rate);
      await stopChild(verifier);
      const relay2 = await spawnService(bus, 'relay');
      const lr = await hopLatency(sender, receiver, presign(bus, m, 256), rate);
      await stopChild(relay2);
      figures.push({ name: 'hop_p50_ms', value: lv.p50, unit: 'ms' }, { name: 'hop_p99_ms', value: lv.p99, unit: 'ms' }, { name: 'hop_p999_ms', value: lv.p999, unit: 'ms' });
      figures.push({ name: 'relay_hop_p50_ms', value: lr.p50, unit: 'ms' }, { name: 'relay_hop_p99_ms', value: lr.p99, unit: 'ms' }, { name: 'relay_hop_p999_ms', value: lr.p999, unit: 'ms' });
      figures.push({ name: 'hop_added_p99_ms', value: lv.p99 - lr.p99, unit: 'ms' });
      figures.push({ name: 'hop_rate_msgs_per_s', value: rate, unit: 'msgs/s' });
    } else {
      await stopChild(verifier);
    }
  }
} finally {
  await bus.stop();
}
report(figures, json);
if (!quick) {
  const lines = [
    '# Benchmark results', '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}. Date: ${new Date().toISOString()}. Command: \`npm run bench\`.`, '',
    '| figure | value | unit |', '| --- | ---: | --- |',
    ...figures.map((f) => `| ${f.name} | ${f.value < 10 ? f.value.toFixed(3) : Math.round(f.value)} | ${f.unit} |`), '',
  ];
  writeFileSync('bench/RESULTS.md', lines.join('\n'));
}
