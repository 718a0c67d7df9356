// Per-agent resource bounds of the memory service (issue 24 item 7) on a real nats-server with a
// verifier: `memory.limits.sessions` (session namespaces an agent created that still exist: each
// is a JetStream stream) and `memory.limits.watches`, refused with `limit_exceeded` before
// anything is created, counted again after a restart, freed when a session expires or its bucket
// is deleted; a watch on a namespace that does not exist creates nothing; a value nested too
// deep is refused by the service with a code, never a crash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { MemoryError } from '../packages/sdk/src/memory.js';
import type { AgentClient } from '../packages/sdk/src/client.js';
import { MemorySection, DEFAULT_MEMORY_SESSION_LIMIT, DEFAULT_MEMORY_WATCH_LIMIT } from '../packages/protocol/src/memory/grants.js';
import { jsonDepth, MAX_MEMORY_VALUE_DEPTH } from '../packages/protocol/src/memory/contracts.js';
import { parseManifest } from '../packages/protocol/src/manifest.js';
import { generateServiceCreds } from '../packages/server/src/common/service-creds.js';
import type { ServiceIdentity } from '../packages/server/src/common/service-creds.js';
import { encodeMemoryValue } from '../packages/server/src/memory/service.js';
import type { MemoryService, MemoryAuditRecord } from '../packages/server/src/memory/service.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import { startBus, sleep, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { memoryOutcome, withMemoryContracts, startBusMemory } from './helpers/memory.js';

let bus: TestBus;
let svcCreds: ServiceIdentity;
let svcDir: string;
let svc: MemoryService;
let store: NatsConnection;
let jsm: JetStreamManager;
const audits: MemoryAuditRecord[] = [];
let alice: AgentClient;
let bob: AgentClient;
let dave: AgentClient;

const start = () => startBusMemory(bus, svcCreds, { onAudit: (r) => audits.push(r) });

const streams = async () => {
  const out: string[] = [];
  for await (const n of jsm.streams.names()) out.push(n);
  return out.sort();
};
const sessionStreams = async () => (await streams()).filter((n) => n.startsWith('KV_agentbus_mem_s_')).map((n) => n.slice('KV_agentbus_mem_s_'.length));
/** The audit row of the memory service's result to the request `verdict` names (the latest such refusal). */
async function resultRow(sender: string, ns: string, status: string) {
  const rows = (await bus.auditEvents()).map((e) => eventToRow(e));
  const results = rows.filter((r) => r.type === 'memory.result' && r.memory_ns === ns && r.memory_status === status);
  const req = rows.find((r) => r.sender === sender && r.memory_ns === ns && r.memory_status === 'request' && results.some((x) => x.causation_id === r.msg_id));
  return { req, res: results.find((x) => x.causation_id === req?.msg_id) };
}

test.before(async () => {
  svcDir = mkdtempSync(join(tmpdir(), 'agentbus-memlim-'));
  svcCreds = generateServiceCreds('memory', join(svcDir, 'memory-svc.json'));
  bus = await startBus({
    services: { memory: [svcCreds.natsPublicKey] },
    verifierOptions: { contracts: withMemoryContracts() },
    agents: {
      memory: { send: [{ to: '*', types: ['memory.result', 'memory.event'] }] },
      alice: { memory: { sessions: { ttl_seconds: 2 }, limits: { sessions: 2 } } },
      bob: { memory: { sessions: { ttl_seconds: 600 }, limits: { sessions: 1 } } },
      dave: { memory: { sessions: { ttl_seconds: 600 }, limits: { watches: 2 } } },
    },
  });
  store = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(svcCreds.natsSeed()), inboxPrefix: '_INBOX_memory' });
  jsm = await jetstreamManager(store);
  svc = await start();
  alice = await bus.agent('alice');
  bob = await bus.agent('bob');
  dave = await bus.agent('dave');
});
test.after(async () => {
  await svc?.close().catch(() => undefined);
  await store?.close().catch(() => undefined);
  await bus?.stop();
  rmSync(svcDir, { recursive: true, force: true });
});

test('schema: memory.limits defaults, and a bad value is one line naming the field', () => {
  assert.equal(MemorySection.parse({}).limits, { sessions: DEFAULT_MEMORY_SESSION_LIMIT, watches: DEFAULT_MEMORY_WATCH_LIMIT });
  assert.equal(MemorySection.parse({ limits: { watches: 0 } }).limits, { sessions: DEFAULT_MEMORY_SESSION_LIMIT, watches: 0 });
  const base = { agent: 'x', nats_user: `U${'A'.repeat(55)}`, keys: [{ key_id: 'k', public_key: 'A'.repeat(43) }] };
  assert.equal(parseManifest(JSON.stringify(base), 'x.json').memory.limits, { sessions: DEFAULT_MEMORY_SESSION_LIMIT, watches: DEFAULT_MEMORY_WATCH_LIMIT });
  for (const [limits, field] of [
    [{ sessions: -1 }, 'memory.limits.sessions'],
    [{ watches: 'many' }, 'memory.limits.watches'],
    [{ sessions: 1.5 }, 'memory.limits.sessions'],
    [{ watches: 100_000 }, 'memory.limits.watches'],
    [{ session: 3 }, 'memory.limits'],
  ] as const) {
    const e = (() => {
      try {
        parseManifest(JSON.stringify({ ...base, memory: { limits } }), 'x.json');
      } catch (x) {
        return x as Error;
      }
      return undefined;
    })();
    assert.ok(e, JSON.stringify(limits));
    assert.ok(e!.message.startsWith(`x.json at ${field}: `), e!.message);
    assert.not.match(e!.message, /\n/);
  }
});

test('sessions: up to the limit, then limit_exceeded with no stream created and the refusal in the audit row', async () => {
  assert.is(await alice.memory('session/a1').put('k', 1), 1);
  await alice.memory('session/a2').put('k', 2);
  assert.equal(await sessionStreams(), ['a1', 'a2']);
  const e = await alice
    .memory('session/a3')
    .put('k', 3)
    .catch((x: unknown) => x);
  assert.instance(e, MemoryError);
  assert.is((e as MemoryError).code, 'limit_exceeded');
  assert.match((e as MemoryError).message, /memory\.limits\.sessions is 2/);
  assert.equal(await sessionStreams(), ['a1', 'a2'], 'the refused session has no stream');
  // reads and a watch of a namespace that does not exist create nothing either
  assert.is(await alice.memory('session/a3').get('k'), null);
  assert.equal((await alice.memory('session/a3').list()).keys, []);
  assert.is(await memoryOutcome(alice.memory('session/a3').delete('k')), 'not_found');
  assert.equal(await sessionStreams(), ['a1', 'a2']);
  const refused = audits.find((a) => a.agent === 'alice' && a.ns === 'session/a3' && a.op === 'put')!;
  assert.is(refused.verdict, 'limit_exceeded');
  await waitFor(async () => (await resultRow('alice', 'session/a3', 'limit_exceeded')).res !== undefined, 5000, 'the result row');
  const { req, res } = await resultRow('alice', 'session/a3', 'limit_exceeded');
  assert.equal([req!.verdict, req!.memory_op, res!.sender, res!.memory_op, res!.memory_status], ['accepted', 'put', 'memory', 'put', 'limit_exceeded']);
  // an existing session is still writable at the limit
  await alice.memory('session/a1').put('k2', 'more');
});

test("a session another agent created spends its creator's slot, not the writer's; another agent is unaffected", async () => {
  // bob (limit 1) writes into alice's session: no slot of his
  await bob.memory('session/a1').put('from-bob', true);
  await bob.memory('session/b1').put('k', 1);
  assert.is(await memoryOutcome(bob.memory('session/b2').put('k', 1)), 'limit_exceeded');
  assert.equal(svc.sessionsByCreator().get('bob'), ['session/b1']);
  assert.equal(svc.sessionsByCreator().get('alice'), ['session/a1', 'session/a2']);
  assert.equal(await sessionStreams(), ['a1', 'a2', 'b1']);
  // dave has none of his own yet: alice and bob at their limits do not touch his
  await dave.memory('session/d1').put('k', 1);
  assert.equal(await sessionStreams(), ['a1', 'a2', 'b1', 'd1']);
});

test("a restart of the memory service keeps the counts (from the streams' creators)", async () => {
  await svc.close();
  svc = await start();
  assert.equal(svc.sessionsByCreator().get('bob'), ['session/b1']);
  assert.is(await memoryOutcome(bob.memory('session/b2').put('k', 1)), 'limit_exceeded');
  assert.ok(!(await sessionStreams()).includes('b2'));
  assert.is((await bob.memory('session/b1').get('k'))?.value, 1);
});

test('an expired session frees its slot (its bucket is deleted); so does a bucket deleted by an operator', async () => {
  // alice's sessions live 2 s after their last write
  await sleep(2600);
  // alice is at her limit: the put looks for expired sessions, deletes them, and goes on
  await alice.memory('session/a3').put('k', 3);
  assert.equal(
    (await sessionStreams()).filter((s) => s.startsWith('a')),
    ['a3'],
  );
  await svc.sweepSessions();
  assert.equal(
    (await sessionStreams()).filter((s) => s.startsWith('a')),
    ['a3'],
  );
  assert.equal(svc.sessionsByCreator().get('alice'), ['session/a3']);
  assert.ok(svc.stats.reclaimed >= 2);
  await alice.memory('session/a4').put('k', 4);
  assert.is(await memoryOutcome(alice.memory('session/a5').put('k', 5)), 'limit_exceeded');
  // an operator removes a session bucket: the slot is free again
  await jsm.streams.delete('KV_agentbus_mem_s_a4');
  await alice.memory('session/a5').put('k', 5);
  assert.equal(
    (await sessionStreams()).filter((s) => s.startsWith('a')),
    ['a3', 'a5'],
  );
  // the memory user may delete session buckets, never an agent's own or a shared namespace's
  await alice.memory().put('k', 1);
  const denied = await store.request('$JS.API.STREAM.DELETE.KV_agentbus_mem_a_alice', new Uint8Array(), { timeout: 1000 }).then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(denied, "deleting agent/alice's bucket must be refused");
  assert.is((await alice.memory().get('k'))?.value, 1);
});

test('watches: up to the limit, then limit_exceeded (audited); a watch on a missing namespace creates nothing and sees the first put', async () => {
  const before = await sessionStreams();
  const w1 = await dave.memory('session/ghost').watch();
  const w2 = await dave.memory('agent/dave').watch();
  assert.equal(await sessionStreams(), before, 'a watch created a stream');
  assert.not.ok((await streams()).includes('KV_agentbus_mem_a_dave'), 'a watch created agent/dave');
  const e = await dave
    .memory('session/d1')
    .watch()
    .catch((x: unknown) => x);
  assert.instance(e, MemoryError);
  assert.is((e as MemoryError).code, 'limit_exceeded');
  assert.match((e as MemoryError).message, /memory\.limits\.watches is 2/);
  await waitFor(async () => (await resultRow('dave', 'session/d1', 'limit_exceeded')).res !== undefined, 5000, 'the result row');
  assert.is((await resultRow('dave', 'session/d1', 'limit_exceeded')).res!.memory_op, 'watch');
  // another agent's watches are not dave's
  const wb = await bob.memory('session/b1').watch();
  await wb.close();
  // the first put creates the namespace and the waiting watch sees it
  const got: string[] = [];
  void (async () => {
    for await (const ev of w1) got.push(`${ev.op} ${ev.key} ${JSON.stringify(ev.value)}`);
  })();
  await dave.memory('session/ghost').put('first', { hi: 1 });
  await waitFor(() => got.length >= 1, 5000, 'the event of the first put');
  assert.equal(got, ['put first {"hi":1}']);
  // closing one frees a watch
  await w2.close();
  const w3 = await dave.memory('session/d1').watch();
  assert.is(await memoryOutcome(dave.memory('session/d1').watch()), 'limit_exceeded');
  await w1.close();
  await w3.close();
});

test('a value nested too deep is refused with a code, by the service too; the walk has no recursion', async () => {
  let deep: unknown = 1;
  for (let i = 0; i < 20_000; i++) deep = [deep];
  assert.throws(() => JSON.stringify(deep), RangeError);
  assert.is(jsonDepth(deep), MAX_MEMORY_VALUE_DEPTH + 1);
  const r = encodeMemoryValue(deep);
  assert.is(r.ok ? 'ok' : r.code, 'invalid');
  let ok: unknown = 'x';
  for (let i = 0; i < MAX_MEMORY_VALUE_DEPTH; i++) ok = { a: ok };
  assert.ok(encodeMemoryValue(ok).ok);
  assert.is(jsonDepth(ok), MAX_MEMORY_VALUE_DEPTH);
  // through the bus: 100 levels (whichever refuses it first, the verifier or the service, it is refused and nothing is stored)
  let hundred: unknown = 'x';
  for (let i = 0; i < 100; i++) hundred = { a: hundred };
  const c = await memoryOutcome(dave.memory().put('deep', hundred));
  assert.ok(c === 'invalid' || c.startsWith('verifier:'), c);
  if (c === 'invalid')
    assert.is(
      audits.find((a) => a.agent === 'dave' && a.op === 'put' && a.verdict === 'invalid')?.detail,
      `the value nests arrays and objects deeper than ${MAX_MEMORY_VALUE_DEPTH} levels`,
    );
  assert.is(await dave.memory().get('deep'), null);
  const rev = await dave.memory().put('shallow', ok);
  assert.is((await dave.memory().get('shallow'))!.revision, rev);
});

test.run();
