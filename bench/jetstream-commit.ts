// The floor under the hop's tail (docs/design.md §6: an audit event is stored in JetStream before its
// message is delivered): how long a JetStream publish takes to be acknowledged on this machine,
// alone — a file-storage stream like AUDIT, ~1 KiB messages (a group-committed audit batch) at
// the rate the verifier commits during the hop-latency run, from one process, nothing else
// running but nats-server. Whatever the verifier does, its hop p99 cannot be below this p99.
//   node --import tsx bench/jetstream-commit.ts [--json] [--rate 700] [--seconds 8]
import { pathToFileURL } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from '../test/helpers/nats-server.js';
import { report } from './util.js';
import type { Figure } from './util.js';

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

export async function jetstreamCommitFigures(o: { rate?: number; seconds?: number; bytes?: number } = {}): Promise<Figure[]> {
  const rate = o.rate ?? 700;
  const seconds = o.seconds ?? 8;
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'COMMIT', subjects: ['commit.>'] });
    const js = jetstream(nc);
    const data = new Uint8Array(o.bytes ?? 1024).fill(7);
    for (let i = 0; i < 500; i++) await js.publish('commit.x', data); // warm-up
    const lat: number[] = [];
    const n = rate * seconds;
    const gap = 1000 / rate;
    const t0 = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const due = t0 + i * gap;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const s = performance.now();
      pending.push(js.publish('commit.x', data).then(() => void lat.push(performance.now() - s)));
    }
    await Promise.all(pending);
    lat.sort((a, b) => a - b);
    return [
      { name: 'jetstream_commit_p50_ms', value: q(lat, 0.5), unit: `ms (JetStream publish → ack alone, file storage, ${data.length} B at ${rate}/s)` },
      { name: 'jetstream_commit_p99_ms', value: q(lat, 0.99), unit: 'ms (the floor under the hop p99: docs/design.md §6 stores before delivering)' },
      { name: 'jetstream_commit_p999_ms', value: q(lat, 0.999), unit: 'ms' },
    ];
  } finally {
    await nc.close();
    await server.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, d: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : d);
  report(await jetstreamCommitFigures({ rate: arg('rate', 700), seconds: arg('seconds', 8) }), process.argv.includes('--json'));
}
