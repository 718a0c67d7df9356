// The A2A gateway (issue 27): an A2A request → answer round trip and messages per second through the
// gateway (official A2A JS client → gateway → an envelope signed as the principal → verifier →
// a bus agent → its a2a.reply → the A2A answer) next to the same SDK client → an SDK server
// directly; and an outbound call (bus agent → gateway's send_message → a pinned A2A server, the
// card fetched and verified on every call) next to that server called directly.
//   node --import tsx bench/a2a.ts [--json] [--quick]   (also part of npm run bench)
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageRequest } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client';
import type { Client } from '@a2a-js/sdk/client';
import { startBus } from '../test/helpers/bus.js';
import { gatewayAgent, startTestGateway } from '../test/helpers/a2a-gateway.js';
import { startRemoteAgent } from '../test/helpers/a2a-remote.js';
import { newToken } from '../packages/server/src/a2a/config.js';
import { pinCard } from '../packages/server/src/a2a/pin.js';
import { report } from './util.js';
import type { Figure } from './util.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.99 * xs.length))]!;
const fast = { per_second: 1e5, burst: 1e5 };

async function clientFor(url: string, token?: string): Promise<Client> {
  const fetchImpl: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    if (token) headers.set('Authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
  return new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl })] }),
  ).createFromUrl(url);
}
const msg = (text: string) => SendMessageRequest.fromJSON({ message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text }] } });

/** Sequential round trips (ms each), then messages per second with `concurrency` in flight. */
async function measure(send: () => Promise<unknown>, n: number, concurrency: number): Promise<{ rtt: number[]; perSec: number }> {
  for (let i = 0; i < 20; i++) await send(); // warm-up
  const rtt: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await send();
    rtt.push(performance.now() - t);
  }
  let left = n * 2;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await send();
    }),
  );
  return { rtt, perSec: (n * 2) / ((performance.now() - t0) / 1000) };
}

export async function a2aFigures(o: { n?: number; concurrency?: number } = {}): Promise<Figure[]> {
  const n = o.n ?? 200;
  const concurrency = o.concurrency ?? 8;
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-a2a-'));
  const gateway = gatewayAgent(dir);
  const token = newToken();
  const remote = await startRemoteAgent({ answer: (t) => `answer to: ${t}` });
  const bus = await startBus({
    agents: {
      a2a: { ...gateway.manifest, rate: fast },
      researcher: { rate: fast, send: [{ to: 'acme', types: ['a2a.reply'] }], a2a: { expose: {} } },
      acme: { rate: fast, send: [{ to: 'researcher', types: ['a2a.message'] }], a2a: { principal: { gateway: 'a2a' } } },
      planner: {
        rate: fast,
        tools: [{ server: 'a2a', tools: ['send_message'], args: { url: { url: { schemes: ['http'], hosts: ['127.0.0.1'], allow_loopback: true } } } }],
      },
    },
  });
  const figures: Figure[] = [];
  const gw = await startTestGateway(bus, dir, { principals: [{ agent: 'acme', credentials: bus.credsPath('acme'), tokens_sha256: [token.sha256] }] }, 'bench');
  try {
    const researcher = await bus.agent('researcher', { timeoutMs: 5000 });
    void (async () => {
      for await (const m of researcher.inbox()) {
        // answered without waiting, so the agent is not what limits the rate
        if (m.type === 'a2a.message')
          void researcher.reply(m, 'a2a.reply' as never, { parts: [{ kind: 'text', text: 'answer' }] } as never).catch(() => undefined);
      }
    })().catch(() => undefined);
    const through = await clientFor(`${gw.baseUrl}/agents/researcher/`, token.token);
    const direct = await clientFor(remote.url);
    const g = await measure(() => through.sendMessage(msg('what is the status?')), n, concurrency);
    const d = await measure(() => direct.sendMessage(msg('what is the status?')), n, concurrency);
    figures.push({
      name: 'a2a_gateway_rtt_ms',
      value: median(g.rtt),
      unit: `ms, median of ${n} A2A request→answer through the gateway and the bus (p99 ${p99(g.rtt).toFixed(2)})`,
    });
    figures.push({
      name: 'a2a_direct_rtt_ms',
      value: median(d.rtt),
      unit: `ms, median of ${n} A2A request→answer, SDK client → SDK server (p99 ${p99(d.rtt).toFixed(2)})`,
    });
    figures.push({ name: 'a2a_gateway_msgs_per_s', value: g.perSec, unit: `A2A messages/s through the gateway, ${concurrency} in flight` });
    figures.push({ name: 'a2a_direct_msgs_per_s', value: d.perSec, unit: `A2A messages/s SDK client → SDK server, ${concurrency} in flight` });
    // outbound: a bus agent through the gateway's send_message (card fetched and verified per call)
    await pinCard({ url: remote.url, manifestsDir: bus.manifestsDir, gateway: 'a2a' });
    const planner = await bus.agent('planner', { timeoutMs: 10_000 });
    const out: number[] = [];
    for (let i = 0; i < Math.min(n, 100) + 10; i++) {
      const t = performance.now();
      await planner.callTool('a2a', 'send_message', { url: remote.url, text: 'hello' });
      if (i >= 10) out.push(performance.now() - t);
    }
    figures.push({
      name: 'a2a_outbound_rtt_ms',
      value: median(out),
      unit: `ms, median of ${out.length} bus agent → gateway → pinned A2A server → answer (p99 ${p99(out).toFixed(2)}; direct: a2a_direct_rtt_ms)`,
    });
  } finally {
    await gw.stop();
    await bus.stop();
    await remote.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  report(await a2aFigures(quick ? { n: 60 } : {}), process.argv.includes('--json'));
}
