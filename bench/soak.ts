// npm run soak [-- --minutes 10] [-- --rate 5000] [-- --json]
// Sustained load on one verifier process; samples its RSS (from /proc) to show memory stays
// flat: the replay memory is bounded by rate × replay window, everything else is per message.
import { readFileSync } from 'node:fs';
import { freePort } from '../packages/server/src/common/nats-process.js';
import { Ack, Delivery, Verdict } from '../packages/protocol/src/proto.js';
import { startBenchBus, spawnService, stopChild, laneSenders, presignAs, confirmingReceiver } from './bus.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const minutes = arg('minutes', 10);
const rate = arg('rate', 4000);
const json = process.argv.includes('--json');
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const bus = await startBenchBus();
const metricsPort = await freePort();
const verifier = await spawnService(bus, 'verifier', ['--metrics-port', String(metricsPort)]);
// the verifier's own view of its memory, from its Prometheus endpoint
const scrape = async () => {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const g = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    heap_mib: Math.round(g('nodejs_heap_size_used_bytes') / 1048576),
    replay_entries: g('agentbus_verifier_replay_entries'),
    replay_mib: Math.round(g('agentbus_verifier_replay_bytes') / 1048576),
  };
};
await confirmingReceiver(bus);
const lanes = await Promise.all(laneSenders().map(async (sender) => ({ nc: await bus.rawAgent(sender), sender })));
let acked = 0;
let rejected = 0;
for (const l of lanes) {
  l.nc.subscribe(`agentbus.inbox.${l.sender}.soak`, {
    callback: (_e, m) => {
      const a = Ack.decode(m.data);
      if (a.verdict === Verdict.VERDICT_ACCEPTED && a.delivery === Delivery.DELIVERY_CONFIRMED) acked++;
      else rejected++;
    },
  });
}
const samples: { t_s: number; rss_mib: number; heap_mib: number; replay_entries: number; replay_mib: number; acked: number }[] = [];
const t0 = Date.now();
const end = t0 + minutes * 60_000;
let sent = 0;
let nextSample = t0;
// sign just in time, in small batches, at the target rate spread over the senders
while (Date.now() < end) {
  const due = Math.floor(((Date.now() - t0) / 1000) * rate);
  while (sent < due) {
    const l = lanes[sent % lanes.length]!;
    const [env] = presignAs(bus, l.sender, 1, 256);
    l.nc.publish(`agentbus.in.${l.sender}`, env!, { reply: `agentbus.inbox.${l.sender}.soak` });
    sent++;
  }
  if (Date.now() >= nextSample) {
    samples.push({ t_s: Math.round((Date.now() - t0) / 1000), rss_mib: Math.round(rssMiB(verifier.pid!)), ...(await scrape()), acked });
    const x = samples.at(-1)!;
    if (!json)
      console.error(
        `t=${x.t_s}s rss=${x.rss_mib} MiB heap_used=${x.heap_mib} MiB replay=${x.replay_entries} entries/${x.replay_mib} MiB acked=${acked} sent=${sent}`,
      );
    nextSample += 10_000;
  }
  await new Promise((r) => setTimeout(r, 5));
}
await new Promise((r) => setTimeout(r, 2000));
// "start" = once the replay memory has reached its steady size: two generations of one replay
// window each (65 s by default) are full after ~130 s; shorter runs use the 30 s sample.
const steadyAt = minutes * 60 >= 300 ? 150 : 30;
const startRss = samples.find((s) => s.t_s >= steadyAt)?.rss_mib ?? samples[0]!.rss_mib;
const warmRss = samples.find((s) => s.t_s >= 30)?.rss_mib ?? samples[0]!.rss_mib;
const endRss = samples.at(-1)!.rss_mib;
const startS = samples.find((s) => s.t_s >= steadyAt) ?? samples[0]!;
const result = {
  minutes,
  rate,
  sent,
  acked,
  rejected,
  rss_at_30s_mib: warmRss,
  steady_from_s: steadyAt,
  rss_start_mib: startRss,
  rss_end_mib: endRss,
  rss_max_mib: Math.max(...samples.map((s) => s.rss_mib)),
  rss_growth_ratio: endRss / startRss,
  heap_used_start_mib: startS.heap_mib,
  heap_used_end_mib: samples.at(-1)!.heap_mib,
  heap_used_max_mib: Math.max(...samples.map((s) => s.heap_mib)),
  replay_entries_end: samples.at(-1)!.replay_entries,
};
await stopChild(verifier);
await bus.stop();
if (json) for (const [k, v] of Object.entries(result)) console.log(JSON.stringify({ name: `soak_${k}`, value: v, unit: k.includes('rss') ? 'MiB' : '' }));
else console.log(JSON.stringify(result, null, 2));
