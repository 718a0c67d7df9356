// Workers (docs/design.md §18, issue 28 item 1): one agent, `crew`, runs as three connections of one
// credential (manifest `replicas: 3`), under load, through a real nats-server, a real verifier, the
// memory service, an MCP tool host around a real MCP server, and the auditor's connection follower
// on chDB. Every delivery reaches exactly one worker; a topic reaches one worker of crew and every
// other subscribing agent; every answer (the verifier's ack, a peer's reply, a tool result, a memory
// result and watch event) reaches the worker that asked and no other; nothing is refused by a
// recipient; a route cannot be forged or moved; identity_reuse stays silent for the declared
// workers and fires for one connection more.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Msg } from '@nats-io/transport-node';
import { Ack, Delivery, Verdict } from '../packages/protocol/src/proto.js';
import { sealEnvelope } from '../packages/protocol/src/envelope.js';
import { ReplyRoutes } from '../packages/protocol/src/depth-token.js';
import { REPLY_ROUTE_HEADER, WORKER_HEADER, DEPTH_TOKEN_METADATA } from '../packages/protocol/src/constants.js';
import { resultText } from '../packages/sdk/src/tools.js';
import type { AgentClient, InboundMessage } from '../packages/sdk/src/client.js';
import { generateServiceCreds } from '../packages/server/src/common/service-creds.js';
import type { MemoryService } from '../packages/server/src/memory/service.js';
import type { ToolServer } from '../packages/server/src/mcp/serve.js';
import { startAuditor } from '../packages/server/src/auditor/service.js';
import type { Auditor } from '../packages/server/src/auditor/service.js';
import { ConnectionTracker, describeConnectionAlert } from '../packages/server/src/auditor/connections.js';
import type { ConnEvent } from '../packages/server/src/auditor/connections.js';
import { startBus, sleep, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { servePinned } from './helpers/tool-server.js';
import { withMemoryContracts, startBusMemory } from './helpers/memory.js';
import { cliArgs } from './helpers/cli-bin.js';
import { spawnSync } from 'node:child_process';

const OVERLAP = 1500;
const N_INBOX = 600;
const fast = { per_second: 5000, burst: 5000 };
const dir = mkdtempSync(join(tmpdir(), 'agentbus-workers-'));
let bus: TestBus;
let memory: MemoryService;
let tiny: ToolServer;
let auditor: Auditor;
let boss: AgentClient;
let watcher: AgentClient;
const crew: AgentClient[] = [];
/** What each crew worker's application got from its inbox: msg_id → the workers that got it. */
const got = new Map<string, number[]>();
/** What boss got, by task title. */
const bossSaw = new Map<string, InboundMessage>();

// a tiny real MCP server: `echo` answers with its text
const tinyScript = join(dir, 'tiny-server.mjs');
const sdk = (p: string) => JSON.stringify(import.meta.resolve(`@modelcontextprotocol/sdk/${p}`));
writeFileSync(
  tinyScript,
  `import { Server } from ${sdk('server/index.js')};
import { StdioServerTransport } from ${sdk('server/stdio.js')};
import { ListToolsRequestSchema, CallToolRequestSchema } from ${sdk('types.js')};
const tools = [{ name: 'echo', description: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } }];
const s = new Server({ name: 'tiny', version: '1.0.0' }, { capabilities: { tools: {} } });
s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
s.setRequestHandler(CallToolRequestSchema, async (r) => ({ content: [{ type: 'text', text: 'echo: ' + String(r.params.arguments?.text) }] }));
await s.connect(new StdioServerTransport());
`,
);

const connectRows = (agent: string) =>
  auditor.store.query<{ event: string; client_id: string; name: string }>(
    `SELECT event, client_id, name FROM ${auditor.store.table('audit_connections')} WHERE agent = {a:String} ORDER BY time`,
    { a: agent },
  );
const reuseAlerts = async (agent: string) =>
  (
    await auditor.store.query<{ agents: string[]; evidence: string; severity: string }>(
      `SELECT agents, evidence, severity FROM ${auditor.store.table('alerts')} WHERE rule = 'identity_reuse'`,
    )
  ).filter((a) => a.agents.includes(agent));
/** Let the overlap run out and the follower resolve it. */
const settle = async () => {
  await sleep(OVERLAP + 300);
  await auditor.connections!.tick();
};
/** The auditor with its connection follower (chDB in this process). */
async function startTheAuditor(): Promise<Auditor> {
  const a = await startAuditor({
    nats: { url: bus.url, credsFile: join(bus.dir, 'creds', 'auditor.json'), systemCredsFile: bus.systemCredsPath },
    store: { url: join(dir, 'db') },
    detect: { intervalMs: 3_600_000 },
    connections: { manifestsDir: bus.manifestsDir, overlapMs: OVERLAP, learningMs: 0 },
    logLevel: 'silent',
  });
  await a.connections!.ready;
  return a;
}
/** Every delivery record in the audit stream (refusals among them). */
const deliveries = async () => (await bus.auditBatches()).flatMap((b) => b.deliveries);
const refusedByVerifiers = () => bus.verifiers.reduce((n, v) => n + v.stats.refused, 0);

test.before(async () => {
  const svcCreds = generateServiceCreds('memory', join(dir, 'memory-svc.json'));
  bus = await startBus({
    services: { memory: [svcCreds.natsPublicKey] },
    verifierOptions: {
      contracts: withMemoryContracts(),
    },
    agents: {
      crew: {
        replicas: 3,
        send: [{ to: 'boss', types: ['task.assign'] }],
        tools: [{ server: 'tiny', tools: ['echo'] }],
        topics: { subscribe: ['news'] },
        rate: fast,
      },
      boss: {
        send: [{ to: 'crew', types: ['task.assign', 'task.result'] }],
        topics: { publish: [{ topic: 'news', types: ['note.post'] }] },
        rate: fast,
      },
      watcher: { topics: { subscribe: ['news'] } },
      memory: { send: [{ to: '*', types: ['memory.result', 'memory.event'] }], rate: fast },
      tiny: { rate: fast },
    },
  });
  auditor = await startTheAuditor();
  memory = await startBusMemory(bus, svcCreds);
  tiny = await servePinned(bus, 'tiny', [process.execPath, tinyScript]);
  boss = await bus.agent('boss', { timeoutMs: 5000 });
  watcher = await bus.agent('watcher');
  // boss answers every task crew asks it, naming the task
  void (async () => {
    for await (const m of boss.inbox()) {
      if (m.type !== 'task.assign') continue;
      const title = (m.payload as { title: string }).title;
      bossSaw.set(title, m);
      await boss.reply(m, 'task.result', { ok: true, note: title });
    }
  })();
});
test.after(async () => {
  await tiny?.stop().catch(() => undefined);
  await memory?.close().catch(() => undefined);
  await auditor?.stop().catch(() => undefined);
  await bus?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('three declared workers (replicas: 3) connected at once: no identity_reuse; each connection names its worker', async () => {
  for (let i = 0; i < 3; i++) {
    const c = await bus.agent('crew', { timeoutMs: 5000 });
    crew.push(c);
    void (async () => {
      for await (const m of c.inbox()) got.set(m.msgId, [...(got.get(m.msgId) ?? []), i]);
    })();
  }
  assert.is(new Set(crew.map((c) => c.workerId)).size, 3);
  await waitFor(async () => (await connectRows('crew')).filter((r) => r.event === 'connect').length === 3, 5000, 'three crew connect rows');
  await settle();
  assert.equal(await reuseAlerts('crew'), []);
  const names = (await connectRows('crew')).map((r) => r.name).sort();
  assert.equal(names, crew.map((c) => `agentbus-agent-crew/${c.workerId}`).sort());
  // the embedded chDB works in this process's event loop: stopped during the load below (a
  // deployment runs the auditor elsewhere), started again for the fourth connection, when its
  // CONNZ snapshot lists the three workers
  await auditor.stop();
});

test('inbox under load: every message to exactly one worker, all three used, every send confirmed, nothing refused', async () => {
  const acks: { msgId: string; delivered: boolean }[] = [];
  for (let from = 0; from < N_INBOX; from += 50) {
    const batch = Array.from({ length: Math.min(50, N_INBOX - from) }, (_, j) => boss.send('crew', 'task.assign', { title: `job ${from + j}`, priority: 1 }));
    acks.push(...(await Promise.all(batch)));
  }
  assert.ok(
    acks.every((a) => a.delivered),
    'every send confirmed by a worker',
  );
  await waitFor(() => acks.every((a) => got.has(a.msgId)), 10_000, 'every message in some worker');
  await sleep(300); // a late second copy would show now
  const twice = acks.filter((a) => got.get(a.msgId)!.length !== 1);
  assert.equal(twice, [], `no message reached two workers (or one twice); re-forwards: ${bus.verifiers.map((v) => v.stats.redeliveries).join(', ')}`);
  const per = [0, 1, 2].map((i) => acks.filter((a) => got.get(a.msgId)![0] === i).length);
  assert.ok(
    per.every((n) => n > 0),
    `all three workers took a share: ${per.join(', ')}`,
  );
  assert.is(
    per.reduce((a, b) => a + b),
    N_INBOX,
  );
  assert.is(refusedByVerifiers(), 0);
  assert.ok(
    crew.every((c) => c.stats.refused === 0 && c.stats.unclaimedAnswers === 0),
    JSON.stringify(crew.map((c) => c.stats)),
  );
});

test('answers to the worker that asked: replies, tool results, memory results and watch events, all workers at once; no refusal recorded', async () => {
  const before = crew.map((c) => c.stats.received);
  const watch = await crew[0]!.memory('agent/crew').watch({ prefix: 'w/' });
  const events: string[] = [];
  void (async () => {
    for await (const e of watch) events.push(e.key);
  })();
  const K = 12;
  const work = crew.map(async (c, i) => {
    const out: string[] = [];
    await Promise.all(
      Array.from({ length: K }, async (_, j) => {
        const tag = `w${i}-${j}`;
        // a peer's reply
        const r = (await c.request('boss', 'task.assign', { title: tag, priority: 1 }, { timeoutMs: 10_000 })) as InboundMessage<{ note: string }>;
        assert.is(r.payload.note, tag);
        // a tool result from the MCP tool host
        const t = await c.callTool('tiny', 'echo', { text: tag }, { timeoutMs: 10_000 });
        assert.is(resultText(t), `echo: ${tag}`);
        // memory results (the watch of worker 0 sees these puts as events)
        const rev = await c.memory('agent/crew').put(`w/${tag}`, { by: i });
        const back = await c.memory('agent/crew').get(`w/${tag}`);
        assert.equal(back?.value, { by: i });
        assert.is(back?.revision, rev);
        out.push(tag);
      }),
    );
    return out;
  });
  const done = await Promise.all(work);
  assert.equal(
    done.map((d) => d.length),
    [K, K, K],
  );
  // every put was seen by the watch, which only worker 0 opened
  await waitFor(() => events.length >= 3 * K, 10_000, `watch events (${events.length})`);
  assert.is(new Set(events).size, 3 * K);
  await watch.close();
  // nothing went to a worker that did not ask: no answer was unclaimed or refused, and no worker's
  // inbox got one (every answer went to a waiter: inbox counts unchanged but for the answers)
  assert.ok(
    crew.every((c) => c.stats.refused === 0 && c.stats.unclaimedAnswers === 0 && c.stats.notDelivered === 0),
    JSON.stringify(crew.map((c) => c.stats)),
  );
  const answersPerWorker = crew.map((c, i) => c.stats.received - before[i]!);
  // worker 0: its K × 4 answers and the 3K watch events; the others their own K × 4
  assert.equal(answersPerWorker.slice(1), [K * 4, K * 4]);
  assert.ok(answersPerWorker[0]! >= K * 4 + 3 * K, String(answersPerWorker[0]));
  assert.is(refusedByVerifiers(), 0);
  assert.equal(
    (await deliveries()).filter((d) => d.delivery === Delivery.DELIVERY_REFUSED),
    [],
  );
});

test('topics: one worker of crew gets each publication, every other subscribing agent gets all of them', async () => {
  const subs = await Promise.all(crew.map((c) => c.subscribe('news')));
  const wsub = await watcher.subscribe('news');
  const byCrew = new Map<string, number[]>();
  subs.forEach((s, i) => {
    void (async () => {
      for await (const m of s) byCrew.set(m.msgId, [...(byCrew.get(m.msgId) ?? []), i]);
    })();
  });
  const seen: string[] = [];
  void (async () => {
    for await (const m of wsub) seen.push(m.msgId);
  })();
  const sent: string[] = [];
  for (let i = 0; i < 60; i++) sent.push((await boss.publish('news', 'note.post', { text: `n${i}` })).msgId);
  await waitFor(() => seen.length === 60 && sent.every((id) => byCrew.has(id)), 10_000, 'the publications');
  await sleep(200);
  assert.equal(seen.sort(), [...sent].sort());
  assert.ok(
    sent.every((id) => byCrew.get(id)!.length === 1),
    'each publication to one crew worker',
  );
  assert.ok(new Set(sent.map((id) => byCrew.get(id)![0])).size > 1, 'spread over the workers');
  for (const s of [...subs, wsub]) s.stop();
});

test('a fourth connection of crew (over replicas: 3): one identity_reuse alert naming crew and the declared count', async () => {
  auditor = await startTheAuditor();
  await settle();
  assert.equal(await reuseAlerts('crew'), [], 'the three workers listed by CONNZ: no alert');
  const extra = await bus.rawAgent('crew');
  await waitFor(async () => (await connectRows('crew')).filter((r) => r.event === 'connect').length >= 4, 5000, 'the fourth connect');
  await settle();
  await waitFor(async () => (await reuseAlerts('crew')).length === 1, 5000, 'the identity_reuse alert');
  const a = (await reuseAlerts('crew'))[0]!;
  const ev = JSON.parse(a.evidence) as { kind: string; replicas: number; live_connections: number };
  assert.is(ev.kind, 'over_replicas');
  assert.is(ev.replicas, 3);
  assert.ok(ev.live_connections >= 4, String(ev.live_connections));
  assert.is(a.severity, 'high'); // all on 127.0.0.1
  assert.match(
    describeConnectionAlert('identity_reuse', 'crew', ev as never) ?? '',
    /^crew's NATS credential was connected \d+ times at once, more than its 3 declared workers/,
  );
  // nobody else alerted on: boss, watcher, memory, tiny run one connection each
  assert.equal(
    (await auditor.store.query<{ agents: string[] }>(`SELECT agents FROM ${auditor.store.table('alerts')} WHERE rule = 'identity_reuse'`)).flatMap(
      (r) => r.agents,
    ),
    ['crew'],
  );
  await extra.close();
});

test('a route cannot be forged or moved: an answer with a route made up, or taken from a message to another agent, goes to the queue group, not to the worker it names', async () => {
  const routes = new ReplyRoutes(randomBytes(32)); // not the verifiers' key
  const target = crew[1]!.workerId;
  // worker 1 asks boss (boss answers it, with the route); then boss's answers with other routes
  const answer = await crew[1]!.request('boss', 'task.assign', { title: 'forge me', priority: 1 }, { timeoutMs: 10_000 });
  assert.is((answer.payload as { note: string }).note, 'forge me');
  const m = bossSaw.get('forge me')!;
  // a second task of worker 1's: its real route, moved onto the answer to the first one, must not verify
  await crew[1]!.request('boss', 'task.assign', { title: 'forge me too', priority: 1 }, { timeoutMs: 10_000 });
  const m2 = bossSaw.get('forge me too')!;
  assert.ok(m2.replyRoute && m2.replyRoute !== m.replyRoute);
  // a raw connection of crew (its fifth: after the identity test) listens on worker 1's answer subject and on the queue subject
  const raw = await bus.rawAgent('crew');
  const onWorker: string[] = [];
  const onQueue: string[] = [];
  raw.subscribe(`agentbus.inbox.crew.${target}.to.>`, { callback: (_e, x: Msg) => void onWorker.push(x.subject) });
  raw.subscribe('agentbus.to.crew.>', { callback: (_e, x: Msg) => void onQueue.push(x.subject) });
  await raw.flush();
  assert.match(m.replyRoute ?? '', new RegExp(`^${target}\\.[A-Za-z0-9_-]{22}$`), 'the delivery carries the route of the worker that sent it');
  const forged = routes.mint(Buffer.from(m.msgId, 'hex'), 'crew', target);
  const bossRaw = await bus.rawAgent('boss');
  const id = bus.ids.get('boss')!;
  const key = id.currentKey();
  const seal = () =>
    sealEnvelope({
      sender: 'boss',
      keyId: key.keyId,
      sign: key.sign,
      recipient: 'crew',
      type: 'task.result',
      payload: new TextEncoder().encode('{"ok":true,"note":"forged"}'),
      contentType: 'application/json',
      metadata: { [DEPTH_TOKEN_METADATA]: m.depthToken },
      causationId: Buffer.from(m.msgId, 'hex'),
      depth: m.depth + 1,
    });
  for (const route of [forged, `${target}.${'A'.repeat(22)}`, 'no-such-worker.x', m2.replyRoute!]) {
    const h = natsHeaders();
    h.set(WORKER_HEADER, 'bossw');
    h.set(REPLY_ROUTE_HEADER, route);
    const ack = Ack.decode((await bossRaw.request('agentbus.in.boss', seal().bytes, { timeout: 5000, headers: h })).data);
    assert.is(ack.verdict, Verdict.VERDICT_ACCEPTED); // accepted and delivered: to the queue group
  }
  await waitFor(() => onQueue.length >= 4, 5000, 'the four answers on the queue subject');
  assert.ok(
    onQueue.every((x) => x === 'agentbus.to.crew.task.result'),
    JSON.stringify(onQueue),
  );
  assert.equal(onWorker, [], 'nothing reached the answer subject of the worker the forged routes name');
  await bossRaw.close();
  await raw.close();
});

test('another agent cannot read a worker’s answers: NATS refuses boss a subscription to crew’s worker inbox', async () => {
  const nc = await bus.rawAgent('boss');
  let violation = '';
  const sub = nc.subscribe(`agentbus.inbox.crew.${crew[0]!.workerId}.to.>`, { callback: (e) => void (violation ||= String(e?.message ?? '')) });
  await nc.flush();
  await sub.closed.catch((e: Error) => void (violation ||= e.message));
  await waitFor(() => violation !== '', 3000, 'a subscription violation');
  assert.match(violation, /Permissions Violation for Subscription/);
  await nc.close().catch(() => undefined);
});

test("a script with the agent's credential and inbox: false takes none of its messages; its own answers still reach it; inbox() makes it a worker", async () => {
  const script = await bus.agent('crew', { inbox: false, timeoutMs: 5000 });
  const before = got.size;
  const answer = (await script.request('boss', 'task.assign', { title: 'from a script', priority: 1 }, { timeoutMs: 10_000 })) as InboundMessage<{
    note: string;
  }>;
  assert.is(answer.payload.note, 'from a script');
  const acks = await Promise.all(Array.from({ length: 40 }, (_, i) => boss.send('crew', 'task.assign', { title: `while the script runs ${i}`, priority: 1 })));
  await waitFor(() => acks.every((a) => got.has(a.msgId)), 10_000, 'the messages at the three workers');
  assert.is(got.size, before + 40);
  assert.is(script.stats.received, 1, 'only its own answer');
  // reading its inbox makes it one of the workers
  const mine: string[] = [];
  void (async () => {
    for await (const m of script.inbox()) mine.push(m.msgId);
  })();
  await script.nc.flush();
  const more = await Promise.all(Array.from({ length: 60 }, (_, i) => boss.send('crew', 'task.assign', { title: `after ${i}`, priority: 1 })));
  await waitFor(() => more.every((a) => got.has(a.msgId) || mine.includes(a.msgId)), 10_000, 'the later messages');
  assert.ok(mine.length > 0, 'the script took a share once it read its inbox');
  await script.close();
});

test("reply routes (pure): a route verifies only for its message, its asker and its worker, under the verifiers' key", () => {
  const key = randomBytes(32);
  const r = new ReplyRoutes(key);
  const id = randomBytes(16);
  const route = r.mint(id, 'crew', 'w1');
  assert.match(route, /^w1\.[A-Za-z0-9_-]{22}$/);
  assert.is(r.workerOf(id, 'crew', route), 'w1');
  assert.is(new ReplyRoutes(Uint8Array.from(key)).workerOf(id, 'crew', route), 'w1', 'any verifier holding the key');
  assert.is(r.workerOf(randomBytes(16), 'crew', route), undefined, 'another message');
  assert.is(r.workerOf(id, 'boss', route), undefined, 'another recipient');
  assert.is(r.workerOf(id, 'crew', route.replace(/^w1\./, 'w2.')), undefined, 'another worker');
  assert.is(new ReplyRoutes(randomBytes(32)).workerOf(id, 'crew', route), undefined, 'another key');
  assert.is(r.workerOf(id.subarray(0, 15), 'crew', route), undefined);
  for (const bad of ['', 'w1', 'w1.', `${'w'.repeat(33)}.${route.split('.')[1]}`, `w.1.${route.split('.')[1]}`])
    assert.is(r.workerOf(id, 'crew', bad), undefined, bad);
});

test('tracker (pure): declared workers within the count on known hosts are silent; a worker from a foreign address beside the others, or one too many, is identity_reuse', () => {
  const T = Date.parse('2026-01-01T00:00:00Z');
  const ev = (time: number, event: ConnEvent['event'], client_id: number, host: string): ConnEvent => ({
    time: T + time,
    event,
    agent: 'crew',
    nkey: 'U',
    client_id,
    host,
    server: 'n1',
    name: '',
    start: T + time,
    reason: '',
  });
  const run = (evs: ConnEvent[], replicas: number) => {
    const t = new ConnectionTracker({ overlapMs: 1000, learningMs: 0 }, new Map([['crew', ['10.0.0.1', '10.0.0.2']]]), T - 10_000, () => replicas);
    const out = evs.flatMap((e) => t.observe(e)).filter((f) => f.rule === 'identity_reuse');
    return [...out, ...t.tick(T + 60_000).filter((f) => f.rule === 'identity_reuse')];
  };
  // three workers on two known hosts: nothing
  assert.equal(run([ev(0, 'connect', 1, '10.0.0.1'), ev(10, 'connect', 2, '10.0.0.1'), ev(20, 'connect', 3, '10.0.0.2')], 3), []);
  // a worker restarting (new connection, the old one gone within the overlap) at the count: nothing
  assert.equal(
    run(
      [
        ev(0, 'connect', 1, '10.0.0.1'),
        ev(10, 'connect', 2, '10.0.0.1'),
        ev(20, 'connect', 3, '10.0.0.1'),
        ev(30, 'connect', 4, '10.0.0.1'),
        ev(500, 'disconnect', 2, '10.0.0.1'),
      ],
      3,
    ),
    [],
  );
  // one too many, and staying: identity_reuse
  const over = run([ev(0, 'connect', 1, '10.0.0.1'), ev(10, 'connect', 2, '10.0.0.1'), ev(20, 'connect', 3, '10.0.0.1')], 2);
  assert.is(over.length, 1);
  assert.is((over[0]!.evidence as { kind: string }).kind, 'over_replicas');
  // within the count, but from an address crew never used, beside the others: critical
  const foreign = run([ev(0, 'connect', 1, '10.0.0.1'), ev(10, 'connect', 2, '203.0.113.9')], 3);
  assert.is(foreign.length, 1);
  assert.is(foreign[0]!.severity, 'critical');
  assert.is((foreign[0]!.evidence as { kind: string }).kind, 'foreign_address');
  assert.match(
    describeConnectionAlert('identity_reuse', 'crew', foreign[0]!.evidence) ?? '',
    /used from 203\.0\.113\.9, an address none of its connections used before/,
  );
  // the same, but the old worker goes away within the overlap (it moved): nothing
  assert.equal(run([ev(0, 'connect', 1, '10.0.0.1'), ev(10, 'connect', 2, '203.0.113.9'), ev(300, 'disconnect', 1, '10.0.0.1')], 3), []);
});

test('detect replay --manifests: three concurrent connections of crew are its declared workers; a fourth is identity_reuse; without the manifests all three are reuse', () => {
  const T0 = Date.parse('2026-01-01T09:00:00Z');
  const at = (ms: number) => new Date(T0 + ms).toISOString();
  const lines = [1, 2, 3].map((i) => ({ event: 'connect', time: at(i * 1000), agent: 'crew', client_id: i, host: '10.0.0.5', server: 'n1' }));
  const file = join(dir, 'replay.jsonl');
  const run = (extra: Record<string, unknown>[], manifests: boolean) => {
    writeFileSync(file, [...lines, ...extra].map((l) => JSON.stringify(l)).join('\n') + '\n');
    const r = spawnSync(process.execPath, cliArgs('detect', 'replay', '--events', file, '--json', ...(manifests ? ['--manifests', bus.manifestsDir] : [])), {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.is(r.status, 0, r.stderr);
    return r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { rule: string; agents: string[]; evidence: { kind: string; replicas: number } })
      .filter((a) => a.rule === 'identity_reuse');
  };
  assert.equal(run([], true), []);
  const over = run([{ event: 'connect', time: at(60_000), agent: 'crew', client_id: 4, host: '10.0.0.5', server: 'n1' }], true);
  assert.is(over.length, 1);
  assert.equal([over[0]!.evidence.kind, over[0]!.evidence.replicas], ['over_replicas', 3]);
  assert.is(run([], false).length, 1, 'replicas 1 without the manifests');
});

test.run();
