// Memory (issue 17): get and put round trips through the bus (agent → verifier → memory service
// → JetStream KV → signed memory.result back) beside a direct KV get/put from the same machine,
// and operations per second through the bus (sequential, one agent), and a get broken down by hop
// (taps on the subjects it crosses).
//   node --import tsx bench/memory.ts [--json]   (also part of npm run bench)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { startBus, contracts } from '../test/helpers/bus.js';
import { generateServiceCreds } from '../packages/server/src/common/service-creds.js';
import { startMemoryService } from '../packages/server/src/memory/service.js';
import { MEMORY_CONTRACTS } from '../packages/sdk/src/memory.js';
import { ContractRegistry } from '../packages/sdk/src/contracts.js';
import { createLogger } from '../packages/sdk/src/log.js';
import { report } from './util.js';
import { hopTaps, hopFigures } from './hops.js';
import type { Figure } from './util.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.99 * xs.length))]!;

export async function memoryFigures(o: { ops?: number } = {}): Promise<Figure[]> {
  const ops = o.ops ?? 300;
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-mem-'));
  const svcCreds = generateServiceCreds('memory', join(dir, 'memory-svc.json'));
  const bus = await startBus({
    services: { memory: [svcCreds.natsPublicKey] },
    verifierOptions: {
      contracts: new ContractRegistry([...contracts.types().map((t) => contracts.get(t)!), ...MEMORY_CONTRACTS.types().map((t) => MEMORY_CONTRACTS.get(t)!)]),
    },
    agents: {
      memory: { send: [{ to: '*', types: ['memory.result', 'memory.event'] }], rate: { per_second: 1e5, burst: 1e5 } },
      alice: { rate: { per_second: 1e5, burst: 1e5 } },
    },
  });
  const figures: Figure[] = [];
  const svc = await startMemoryService({
    servers: bus.url,
    credentials: bus.credsPath('memory'),
    serviceCreds: svcCreds,
    manifestsDir: bus.manifestsDir,
    logger: createLogger({ level: 'silent' }),
  });
  try {
    const alice = await bus.agent('alice');
    const m = alice.memory();
    const value = { text: 'the cache is stale; see ticket 7f3c2a9e', n: 1 };
    const put: number[] = [];
    const get: number[] = [];
    for (let i = 0; i < ops + 20; i++) {
      let t = performance.now();
      await m.put(`k${i % 50}`, value);
      if (i >= 20) put.push(performance.now() - t);
      t = performance.now();
      await m.get(`k${i % 50}`);
      if (i >= 20) get.push(performance.now() - t);
    }
    // a get by hop (issue 30 item 4)
    const taps = await hopTaps(bus, 'alice', 'memory');
    for (let i = 0; i < ops + 20; i++) {
      if (i < 20) await m.get(`k${i % 50}`);
      else await taps.measure(() => m.get(`k${i % 50}`));
    }
    await taps.close();
    const t0 = performance.now();
    for (let i = 0; i < ops; i++) await (i % 2 ? m.get(`k${i % 50}`) : m.put(`k${i % 50}`, value));
    const perSec = ops / ((performance.now() - t0) / 1000);
    await alice.close();
    // direct: the same KV operations, as the memory service's own user
    const nc = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(svcCreds.natsSeed()), inboxPrefix: '_INBOX_memory' });
    const kv = await new Kvm(nc).create('agentbus_mem_bench_direct', { history: 1 });
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    const dput: number[] = [];
    const dget: number[] = [];
    for (let i = 0; i < ops + 20; i++) {
      let t = performance.now();
      await kv.put(`k${i % 50}`, bytes);
      if (i >= 20) dput.push(performance.now() - t);
      t = performance.now();
      await kv.get(`k${i % 50}`);
      if (i >= 20) dget.push(performance.now() - t);
    }
    await nc.close();
    figures.push({ name: 'memory_get_rtt_ms', value: median(get), unit: `ms, median of ${ops} gets through the bus (p99 ${p99(get).toFixed(2)})` });
    figures.push({ name: 'memory_put_rtt_ms', value: median(put), unit: `ms, median of ${ops} puts through the bus (p99 ${p99(put).toFixed(2)})` });
    figures.push({ name: 'memory_ops_per_s', value: perSec, unit: 'ops/s through the bus, sequential, one agent' });
    figures.push(...hopFigures('memory_get', 'gets', taps.hops));
    figures.push({ name: 'kv_direct_get_rtt_ms', value: median(dget), unit: `ms, median of ${ops} direct JetStream KV gets` });
    figures.push({ name: 'kv_direct_put_rtt_ms', value: median(dput), unit: `ms, median of ${ops} direct JetStream KV puts` });
  } finally {
    await svc.close().catch(() => undefined);
    await bus.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) report(await memoryFigures(), process.argv.includes('--json'));
