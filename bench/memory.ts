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
    // A get by hop (issue 30 item 4): taps on the subjects it crosses, one get at a time, so the
    // latest time each tap saw is this get's. The verifier's identity sees agentbus.part.> (what
    // agents publish, after the partition mapping); the agents' own users see their deliveries.
    const tap = { req: 0, fwdReq: 0, res: 0, fwdRes: 0 };
    const admin = await bus.admin();
    admin.subscribe('agentbus.part.>', {
      callback: (_e, msg) => {
        if (msg.subject.endsWith('.alice')) tap.req = performance.now();
        else if (msg.subject.endsWith('.memory')) tap.res = performance.now();
      },
    });
    const memTap = await bus.rawAgent('memory');
    memTap.subscribe('agentbus.to.memory.>', { callback: () => void (tap.fwdReq = performance.now()) });
    const aliceTap = await bus.rawAgent('alice');
    aliceTap.subscribe('agentbus.to.alice.>', { callback: () => void (tap.fwdRes = performance.now()) });
    await Promise.all([admin.flush(), memTap.flush(), aliceTap.flush()]);
    const hops = {
      send: [] as number[],
      verifier1: [] as number[],
      service: [] as number[],
      verifier2: [] as number[],
      client: [] as number[],
      total: [] as number[],
    };
    for (let i = 0; i < ops + 20; i++) {
      const t = performance.now();
      await m.get(`k${i % 50}`);
      const end = performance.now();
      if (i < 20 || !(t < tap.req && tap.req <= tap.fwdReq && tap.fwdReq <= tap.res && tap.res <= tap.fwdRes && tap.fwdRes <= end)) continue;
      hops.send.push(tap.req - t);
      hops.verifier1.push(tap.fwdReq - tap.req);
      hops.service.push(tap.res - tap.fwdReq);
      hops.verifier2.push(tap.fwdRes - tap.res);
      hops.client.push(end - tap.fwdRes);
      hops.total.push(end - t);
    }
    await Promise.all([admin.close(), memTap.close(), aliceTap.close()]);
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
    // medians of each hop (they need not add up to the median total)
    const hopUnit = `ms, median over ${hops.total.length} gets with every tap in order`;
    figures.push(
      { name: 'memory_get_hop_send_ms', value: median(hops.send), unit: `${hopUnit}: the client signs and publishes (→ the server)` },
      {
        name: 'memory_get_hop_verifier_request_ms',
        value: median(hops.verifier1),
        unit: `${hopUnit}: the verifier checks the request, commits its audit event, forwards`,
      },
      { name: 'memory_get_hop_service_ms', value: median(hops.service), unit: `${hopUnit}: the memory service checks, reads KV, signs the result, publishes` },
      { name: 'memory_get_hop_verifier_result_ms', value: median(hops.verifier2), unit: `${hopUnit}: the verifier checks the result, commits, forwards` },
      { name: 'memory_get_hop_client_ms', value: median(hops.client), unit: `${hopUnit}: the client verifies and decodes the result` },
    );
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
