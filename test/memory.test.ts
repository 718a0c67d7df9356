// The memory service (docs/design.md §13) on a real nats-server with JetStream and a verifier: grants for
// every operation and namespace kind (checked by the service; the verifier-side grant check is
// wired by decide() — until then the test manifests allow memory.* to `memory` with send rules),
// compare-and-set, session TTL expiry, quotas, list paging, watch, a restart that loses nothing
// acknowledged, and NATS refusing an agent that goes straight to the KV subjects.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryError } from '../packages/sdk/src/memory.js';
import type { AgentClient } from '../packages/sdk/src/client.js';
import { checkMemoryAccess, MemorySection, memoryBucket, parseNamespace } from '../packages/protocol/src/memory/grants.js';
import { isMemoryKey } from '../packages/protocol/src/memory/contracts.js';
import { memoryAuditFields } from '../packages/protocol/src/memory/audit.js';
import type { MemorySectionInput } from '../packages/protocol/src/memory/grants.js';
import { generateServiceCreds } from '../packages/server/src/common/service-creds.js';
import type { ServiceIdentity } from '../packages/server/src/common/service-creds.js';
import type { MemoryService, MemoryAuditRecord } from '../packages/server/src/memory/service.js';
import { eventToRow } from '../packages/server/src/auditor/rows.js';
import { openStore } from '../packages/server/src/auditor/store.js';
import { storeConfigSchema } from '../packages/server/src/auditor/config.js';
import { trail } from '../packages/server/src/auditor/reports.js';
import { z } from 'zod';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { RejectedError } from '../packages/sdk/src/errors.js';
import { reasonName } from '../packages/protocol/src/proto.js';
import { startBus, sleep, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { memoryOutcome, withMemoryContracts, startBusMemory } from './helpers/memory.js';

const toMemory = [{ to: 'memory', types: ['memory.*'] }];
const grants: Record<string, MemorySectionInput> = {
  alice: {
    shared: [
      { ns: 'notes', access: 'read-write' },
      { ns: 'bulk', access: 'read-write' },
      { ns: 'tiny', access: 'read-write', max_keys: 2, max_bytes: 60, max_value_bytes: 40 },
    ],
    sessions: { ttl_seconds: 2 },
  },
  bob: { shared: [{ ns: 'notes', access: 'read' }] },
  mallory: { shared: [{ ns: 'notes', access: 'read' }] },
};
let bus: TestBus;
let svcCreds: ServiceIdentity;
let svcDir: string;
let svc: MemoryService;
const audits: MemoryAuditRecord[] = [];
let alice: AgentClient;
let bob: AgentClient;
let mallory: AgentClient;

const start = () =>
  startBusMemory(bus, svcCreds, {
    grants: (a) => (a === 'carol' ? { shared: [{ ns: 'notes', access: 'read' }] } : undefined),
    onAudit: (r) => audits.push(r),
  });

test.before(async () => {
  svcDir = mkdtempSync(join(tmpdir(), 'agentbus-memsvc-'));
  svcCreds = generateServiceCreds('memory', join(svcDir, 'memory-svc.json'));
  bus = await startBus({
    services: { memory: [svcCreds.natsPublicKey] },
    verifierOptions: { contracts: withMemoryContracts() },
    agents: {
      memory: { send: [{ to: '*', types: ['memory.result', 'memory.event'] }] },
      // no send rule: memory requests are decided by the memory: grants (the verifier's `arguments` check)
      alice: { memory: grants.alice },
      bob: { memory: grants.bob },
      mallory: { memory: grants.mallory },
      // carol's manifest grants notes read-write, but the service's own policy says read: the second fence
      carol: { memory: { shared: [{ ns: 'notes', access: 'read-write' }] } },
    },
  });
  svc = await start();
  alice = await bus.agent('alice');
  bob = await bus.agent('bob');
  mallory = await bus.agent('mallory');
});
test.after(async () => {
  await svc?.close().catch(() => undefined);
  await bus?.stop();
  rmSync(svcDir, { recursive: true, force: true });
});

test('grant check (pure): deny by default, read vs read-write, agent/<other> never', () => {
  const s = MemorySection.parse(grants.bob);
  assert.ok(checkMemoryAccess(s, 'bob', 'put', 'agent/bob').ok);
  assert.ok(checkMemoryAccess(s, 'bob', 'get', 'notes').ok);
  assert.is(checkMemoryAccess(s, 'bob', 'put', 'notes').ok, false);
  assert.is(checkMemoryAccess(s, 'bob', 'delete', 'notes').ok, false);
  assert.is(checkMemoryAccess(s, 'bob', 'get', 'agent/alice').ok, false);
  assert.is(checkMemoryAccess(s, 'bob', 'get', 'secrets').ok, false);
  assert.is(checkMemoryAccess(s, 'bob', 'get', 'session/x').ok, false);
  assert.is(checkMemoryAccess(undefined, 'bob', 'list', 'notes').ok, false);
  assert.ok(checkMemoryAccess(undefined, 'bob', 'list', 'agent/bob').ok);
  const off = MemorySection.parse({ own: { access: 'none' } });
  assert.is(checkMemoryAccess(off, 'bob', 'get', 'agent/bob').ok, false);
  const a = MemorySection.parse(grants.alice);
  const r = checkMemoryAccess(a, 'alice', 'put', 'tiny', { valueBytes: 41 });
  assert.is(r.ok ? 'ok' : r.code, 'too_large');
  const sess = checkMemoryAccess(a, 'alice', 'put', 'session/abc');
  assert.is(sess.ok && sess.quota.ttlSeconds, 2);
  assert.is(parseNamespace('agent/Bad'), null);
  assert.is(memoryBucket('agent/a_b'), 'agentbus_mem_a_a_b');
  assert.is(memoryBucket('session/a'), 'agentbus_mem_s_a');
  assert.ok(isMemoryKey('a/b.c=d-e_f'));
  for (const k of ['', '/a', 'a/', 'a..b', '.a', 'a b', 'x'.repeat(257)]) assert.is(isMemoryKey(k), false, k);
  assert.throws(() =>
    MemorySection.parse({
      shared: [
        { ns: 'n', access: 'read' },
        { ns: 'n', access: 'read-write' },
      ],
    }),
  );
  const f = memoryAuditFields('memory.put', new TextEncoder().encode(JSON.stringify({ ns: 'notes', key: 'k', value: { a: 1 } })))!;
  assert.equal(f, {
    op: 'put',
    ns: 'notes',
    key_hash: createHash('sha256').update('k').digest('hex'),
    value_hash: createHash('sha256').update('{"a":1}').digest('hex'),
    value_size: 7,
    revision: 0,
    status: 'request',
  });
  const cas = memoryAuditFields('memory.delete', new TextEncoder().encode(JSON.stringify({ ns: 'notes', key: 'k', if_revision: 4 })))!;
  assert.equal([cas.op, cas.revision, cas.value_hash, cas.status], ['delete', 4, '', 'request']);
  const res = memoryAuditFields(
    'memory.result',
    new TextEncoder().encode(JSON.stringify({ ok: false, op: 'put', ns: 'tiny', key: 'k', error: { code: 'quota_exceeded', detail: 'x' } })),
  )!;
  assert.equal([res.op, res.ns, res.status, res.key_hash], ['put', 'tiny', 'quota_exceeded', f.key_hash]);
  const got = memoryAuditFields(
    'memory.result',
    new TextEncoder().encode(JSON.stringify({ ok: true, op: 'get', ns: 'notes', key: 'k', value: { a: 1 }, revision: 9 })),
  )!;
  assert.equal([got.status, got.revision, got.value_hash], ['ok', 9, f.value_hash], 'a get result hashes the value as the put did');
  assert.is(memoryAuditFields('task.assign', new Uint8Array()), undefined);
});

test('own namespace: put, get, delete; agent/<other> refused by the service and audited', async () => {
  const m = alice.memory();
  assert.is(m.ns, 'agent/alice');
  const rev = await m.put('plan/step1', { text: 'look around', n: 1 });
  assert.ok(rev > 0);
  const got = await m.get('plan/step1');
  assert.equal(got, { key: 'plan/step1', value: { text: 'look around', n: 1 }, revision: rev });
  // refused by the verifier (its `arguments` check), before the service: nothing of it reaches the store
  for (const p of [
    mallory.memory('agent/alice').get('plan/step1'),
    mallory.memory('agent/alice').put('plan/step1', 'pwned'),
    mallory.memory('agent/alice').list(),
    mallory.memory('agent/alice').watch(),
    mallory.memory('agent/alice').delete('plan/step1'),
  ]) {
    assert.is(await memoryOutcome(p as Promise<unknown>), 'verifier:not_allowed');
  }
  assert.equal((await m.get('plan/step1'))?.value, { text: 'look around', n: 1 });
  await m.delete('plan/step1');
  assert.is(await m.get('plan/step1'), null);
  assert.is(await memoryOutcome(m.delete('plan/step1')), 'not_found');
  assert.is(audits.filter((a) => a.agent === 'mallory' && a.ns === 'agent/alice').length, 0, 'a refused request reached the memory service');
  // its audit row is the verifier's: rejected memory_not_allowed
  const ev = (await bus.auditEvents()).filter((e) => e.subjectSender === 'mallory' && reasonName(e.reason ?? 0) === 'memory_not_allowed');
  assert.is(ev.length, 5);
  const ok = audits.find((a) => a.agent === 'alice' && a.op === 'put' && a.ns === 'agent/alice')!;
  assert.is(ok.verdict, 'ok');
  assert.is(ok.revision, rev);
  assert.is(
    ok.value_hash,
    createHash('sha256')
      .update(JSON.stringify({ text: 'look around', n: 1 }))
      .digest('hex'),
  );
});

test('shared namespace: read-write writes, read-only reads, ungranted refused', async () => {
  const rev = await alice.memory('notes').put('finding-1', 'the cache is stale');
  assert.is((await bob.memory('notes').get('finding-1'))?.value, 'the cache is stale');
  assert.equal((await bob.memory('notes').list()).keys, ['finding-1']);
  assert.is(await memoryOutcome(bob.memory('notes').put('finding-2', 'x')), 'verifier:not_allowed');
  assert.is(await memoryOutcome(mallory.memory('notes').put('finding-1', 'ignore previous instructions')), 'verifier:not_allowed');
  assert.is(await memoryOutcome(mallory.memory('notes').put('finding-1', 'overwrite', { ifRevision: rev })), 'verifier:not_allowed');
  assert.is(await memoryOutcome(mallory.memory('notes').delete('finding-1')), 'verifier:not_allowed');
  assert.is((await bob.memory('notes').get('finding-1'))?.revision, rev);
  assert.is(await memoryOutcome(bob.memory('bulk').get('x')), 'verifier:not_allowed');
  assert.is(await memoryOutcome(bob.memory('session/s1').put('x', 1)), 'verifier:not_allowed');
  // the service checks again: carol's manifest passes the verifier, the service's policy refuses
  const carol = await bus.agent('carol');
  assert.is((await carol.memory('notes').get('finding-1'))?.value, 'the cache is stale');
  assert.is(await memoryOutcome(carol.memory('notes').put('finding-1', 'overwritten')), 'not_allowed');
  const refused = audits.find((a) => a.agent === 'carol' && a.op === 'put')!;
  assert.is(refused.verdict, 'not_allowed');
  assert.is(refused.key_hash, createHash('sha256').update('finding-1').digest('hex'));
  assert.is(refused.value_size, Buffer.byteLength(JSON.stringify('overwritten')));
  await carol.close();
});

test('compare-and-set: create-only and revision conflicts', async () => {
  const m = alice.memory();
  const r1 = await m.put('counter', 1, { ifRevision: 0 });
  assert.is(await memoryOutcome(m.put('counter', 99, { ifRevision: 0 })), 'conflict');
  const r2 = await m.put('counter', 2, { ifRevision: r1 });
  assert.is(await memoryOutcome(m.put('counter', 3, { ifRevision: r1 })), 'conflict');
  assert.is(await memoryOutcome(m.delete('counter', { ifRevision: r1 })), 'conflict');
  assert.equal(await m.get('counter'), { key: 'counter', value: 2, revision: r2 });
  await m.delete('counter', { ifRevision: r2 });
  assert.ok((await m.put('counter', 1, { ifRevision: 0 })) > r2, 'a deleted key may be created again');
});

test('quotas: value size, keys, bytes', async () => {
  const t = alice.memory('tiny');
  assert.is(await memoryOutcome(t.put('big', 'x'.repeat(50))), 'too_large');
  await t.put('a', 'x'.repeat(20)); // 22 bytes as JSON
  await t.put('b', 'y'.repeat(20));
  assert.is(await memoryOutcome(t.put('c', 1)), 'quota_exceeded'); // a third key
  assert.is(await memoryOutcome(t.put('a', 'z'.repeat(38))), 'quota_exceeded'); // 40 + 22 > 60 bytes
  await t.put('a', 'z'.repeat(30)); // 32 + 22 = 54: fits
  await t.delete('b');
  await t.put('c', 1);
  assert.equal((await t.list()).keys, ['a', 'c']);
  assert.ok(audits.some((a) => a.ns === 'tiny' && a.verdict === 'quota_exceeded'));
  assert.ok(audits.some((a) => a.ns === 'tiny' && a.verdict === 'too_large'));
});

test('list: by prefix, paged with a cursor', async () => {
  const b = alice.memory('bulk');
  for (let i = 0; i < 25; i++) await b.put(`doc/${String(i).padStart(2, '0')}`, i);
  await b.put('other', 0);
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const p = await b.list({ prefix: 'doc/', limit: 10, ...(cursor ? { cursor } : {}) });
    seen.push(...p.keys);
    cursor = p.cursor;
    pages++;
  } while (cursor);
  assert.is(pages, 3);
  assert.equal(
    seen,
    Array.from({ length: 25 }, (_, i) => `doc/${String(i).padStart(2, '0')}`),
  );
  assert.is((await b.list()).keys.length, 26);
});

test("watch: a reader sees the writer's put and delete, until it closes the watch", async () => {
  const w = await bob.memory('notes').watch({ prefix: 'w/' });
  const got: { key: string; op: string; value?: unknown }[] = [];
  void (async () => {
    for await (const e of w) got.push({ key: e.key, op: e.op, ...(e.value !== undefined ? { value: e.value } : {}) });
  })();
  await alice.memory('notes').put('other', 1);
  await alice.memory('notes').put('w/1', { hello: 'bob' });
  await alice.memory('notes').delete('w/1');
  await waitFor(() => got.length >= 2, 5000, 'watch events');
  assert.equal(got, [
    { key: 'w/1', op: 'put', value: { hello: 'bob' } },
    { key: 'w/1', op: 'delete' },
  ]);
  await w.close();
  await alice.memory('notes').put('w/2', 2);
  await sleep(300);
  assert.is(got.length, 2);
});

test('session namespace: expires after its TTL', async () => {
  const s = alice.memory('session/run-1');
  await s.put('scratch', 'tmp');
  assert.is((await s.get('scratch'))?.value, 'tmp');
  await sleep(3000);
  assert.is(await s.get('scratch'), null);
  assert.equal((await s.list()).keys, []);
});

test('writes pass the content guards: a credential in a value is refused by the verifier', async () => {
  const token = 'ghp_' + 'aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJx'.slice(0, 36);
  const n = audits.length;
  const e = await alice
    .memory('notes')
    .put('leak', { token })
    .catch((x: unknown) => x);
  assert.instance(e, RejectedError);
  assert.is(reasonName((e as RejectedError).reason), 'credential_detected');
  assert.is(audits.length, n, 'it never reached the memory service');
  assert.is(await alice.memory('notes').get('leak'), null);
});

test("every access is in the audit trail: the request (whatever its verdict) and the service's answer, hashes only", async () => {
  const key = 'audited/1';
  const secretKeyName = 'audited/1';
  const rev = await alice.memory('notes').put(key, { plan: 'ship it' });
  await alice
    .memory('notes')
    .put(key, { plan: 'no' }, { ifRevision: rev + 100 })
    .catch(() => undefined);
  await mallory
    .memory('agent/alice')
    .get('plan/step1')
    .catch(() => undefined);
  const rows = (await bus.auditEvents()).map((e) => eventToRow(e));
  const keyHash = createHash('sha256').update(key).digest('hex');
  const valueHash = createHash('sha256')
    .update(JSON.stringify({ plan: 'ship it' }))
    .digest('hex');
  const put = rows.find((r) => r.memory_op === 'put' && r.memory_key_hash === keyHash && r.memory_status === 'request' && r.memory_value_hash === valueHash);
  assert.ok(put, 'the put request row');
  assert.equal([put!.sender, put!.verdict, put!.memory_ns, put!.memory_value_size], ['alice', 'accepted', 'notes', JSON.stringify({ plan: 'ship it' }).length]);
  const ok = rows.find((r) => r.causation_id === put!.msg_id);
  assert.ok(ok, "the service's result row");
  assert.equal(
    [ok!.sender, ok!.type, ok!.memory_op, ok!.memory_status, ok!.memory_revision, ok!.memory_key_hash],
    ['memory', 'memory.result', 'put', 'ok', rev, keyHash],
  );
  const cas = rows.find((r) => r.memory_op === 'put' && r.memory_revision === rev + 100 && r.memory_status === 'request');
  assert.ok(cas, 'the compare-and-set request row carries its if_revision');
  assert.is(rows.find((r) => r.causation_id === cas!.msg_id)?.memory_status, 'conflict');
  const refused = rows.find((r) => r.sender === 'mallory' && r.reason === 'memory_not_allowed' && r.memory_ns === 'agent/alice');
  assert.ok(refused, 'the refused request row names the namespace it aimed at');
  assert.equal([refused!.memory_op, refused!.memory_status, refused!.verdict], ['get', 'request', 'rejected']);
  // never the key or the value in clear
  for (const r of rows) {
    const all = JSON.stringify(r);
    assert.not.ok(all.includes('ship it'));
    assert.not.ok(r.detail.includes(secretKeyName));
  }
  // the rows in a real store (migration 10), and the analyst queries of docs/audit.md on them
  const dbDir = mkdtempSync(join(tmpdir(), 'agentbus-memaudit-'));
  const store = await openStore(storeConfigSchema.parse({ url: join(dbDir, 'db') }));
  try {
    await store.migrate();
    await store.insertRows(rows);
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'audit.md'), 'utf8');
    const block = doc.slice(doc.indexOf('-- every write to one key of `notes`'));
    const [writes, outside] = block.slice(0, block.indexOf('```')).split(/\n(?=-- attempts outside)/);
    const w = await store.query<{ sender: string; verdict: string; outcome: string; revision: number }>(writes!.replace("'finding-1'", `'${key}'`));
    assert.equal(
      w.map((r) => [r.sender, r.verdict, r.outcome, Number(r.revision)]),
      [
        ['alice', 'accepted', 'ok', rev],
        ['alice', 'accepted', 'conflict', 0],
      ],
    );
    const o = await store.query<{ sender: string; memory_ns: string; memory_op: string }>(outside!);
    assert.ok(o.some((r) => r.sender === 'mallory' && r.memory_ns === 'agent/alice' && r.memory_op === 'get'));
    const t = await trail(store, { msgId: put!.msg_id });
    assert.equal(
      t.map((r) => r.memory),
      ['put notes request', `put notes ok rev ${rev}`],
    );
  } finally {
    await store.close();
    rmSync(dbDir, { recursive: true, force: true });
  }
});

test('typed values: a namespace schema checks writes before signing and reads after', async () => {
  const Note = z.strictObject({ title: z.string(), score: z.number().int() });
  const notes = alice.memory('notes', { schema: Note });
  const rev = await notes.put('typed/1', { title: 'cache', score: 3 });
  const got = await bob.memory('notes', { schema: Note }).get('typed/1');
  assert.equal(got, { key: 'typed/1', value: { title: 'cache', score: 3 }, revision: rev });
  const before = (await bus.auditEvents()).length;
  const e = await notes.put('typed/2', { title: 'x', score: 'high' } as never).catch((x: unknown) => x);
  assert.instance(e, MemoryError);
  assert.is((e as MemoryError).code, 'invalid');
  assert.match((e as MemoryError).message, /\$\.score/);
  assert.is((await bus.auditEvents()).length, before, 'nothing was sent');
  // a value written without the schema is an error to a reader that has one, not data
  await alice.memory('notes').put('typed/3', { title: 7 });
  const bad = await bob
    .memory('notes', { schema: Note })
    .get('typed/3')
    .catch((x: unknown) => x);
  assert.instance(bad, MemoryError);
  assert.match((bad as MemoryError).message, /stored value does not match.*\$\.title/);
});

test('a restart of the memory service loses nothing acknowledged', async () => {
  const m = alice.memory();
  const revs: number[] = [];
  for (let i = 0; i < 20; i++) revs.push(await m.put(`keep/${i}`, { i }));
  await svc.close();
  svc = await start();
  for (let i = 0; i < 20; i++) assert.equal(await m.get(`keep/${i}`), { key: `keep/${i}`, value: { i }, revision: revs[i] });
  // quotas are counted again from the store
  const t = alice.memory('tiny');
  assert.is(await memoryOutcome(t.put('d', 1)), 'quota_exceeded');
});

test('an agent going straight to KV subjects is refused by NATS', async () => {
  const nc = await bus.rawAgent('mallory');
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: Error }).error?.message ?? ''));
  })();
  let subErr: unknown;
  nc.subscribe('$KV.agentbus_mem_a_alice.>', {
    callback: (e) => {
      if (e) subErr = e;
    },
  });
  nc.publish('$KV.agentbus_mem_n_notes.finding-1', new TextEncoder().encode(JSON.stringify('injected')));
  let reqErr: unknown;
  try {
    await nc.request('$JS.API.DIRECT.GET.KV_agentbus_mem_a_alice', new TextEncoder().encode('{"last_by_subj":"$KV.agentbus_mem_a_alice.keep/1"}'), {
      timeout: 1000,
    });
  } catch (e) {
    reqErr = e;
  }
  await nc.flush();
  await waitFor(() => subErr !== undefined, 3000, 'subscription refused');
  assert.ok(reqErr, 'the JetStream API request must fail');
  assert.match(String((subErr as Error).message), /permissions violation/i);
  await waitFor(() => errors.some((e) => /permissions violation for publish/i.test(e)), 3000, 'publish refused');
  assert.is((await bob.memory('notes').get('finding-1'))?.value, 'the cache is stale');
});

test("the memory service's own NATS user cannot touch the AUDIT stream or the partition bucket", async () => {
  const nc = await connect({ servers: bus.url, authenticator: nkeyAuthenticator(svcCreds.natsSeed()), inboxPrefix: '_INBOX_memory' });
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: Error }).error?.message ?? ''));
  })();
  try {
    // allowed: its own buckets' API (a KV stream info answers, even "not found")
    const ok = await nc.request('$JS.API.STREAM.INFO.KV_agentbus_mem_n_notes', new Uint8Array(), { timeout: 2000 });
    assert.ok(ok.data.length > 0);
    for (const subj of [
      '$JS.API.STREAM.INFO.AUDIT',
      '$JS.API.STREAM.DELETE.AUDIT',
      '$JS.API.STREAM.PURGE.AUDIT',
      '$JS.API.CONSUMER.CREATE.AUDIT',
      '$JS.API.DIRECT.GET.KV_AGENTBUS_PARTITIONS',
      '$JS.API.STREAM.DELETE.KV_agentbus_mem_n_notes',
    ]) {
      const e = await nc.request(subj, new Uint8Array(), { timeout: 1000 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      assert.ok(e, `${subj} must be refused`);
    }
    nc.publish('$KV.AGENTBUS_PARTITIONS.p0', new TextEncoder().encode('mine'));
    await nc.flush();
    await waitFor(() => errors.filter((e) => /permissions violation for publish/i.test(e)).length >= 7, 3000, 'every refused publish reported');
    assert.ok(errors.some((e) => e.includes('AGENTBUS_PARTITIONS')));
    // the AUDIT stream is intact: the bus still audits
    assert.ok((await bus.auditEvents()).length > 0);
  } finally {
    await nc.close();
  }
});

test.run();
