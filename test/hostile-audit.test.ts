// A compromised agent over raw NATS against the whole pipeline — real nats-server, verifier,
// auditor on chDB (docs/design.md §9, §10): whatever it sends, every audit event the verifier records
// becomes exactly one row, the trail verifies, and legitimate traffic keeps being stored; and a
// partition takeover does not put an already-delivered envelope on the wire again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes, randomInt } from 'node:crypto';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import protobuf from 'protobufjs/minimal.js';
import { parseEnvelope, decodeHeader, encodeEnvelope, signingInput, toHex } from '../packages/protocol/src/envelope.js';
import type { SealInput } from '../packages/protocol/src/envelope.js';
import { Ack, Delivery, Verdict, reasonName } from '../packages/protocol/src/proto.js';
import type { AuditStore } from '../packages/server/src/auditor/store.js';
import { verifyStore, lookupFromManifests, verifierKeyMap } from '../packages/server/src/auditor/verify.js';
import { startBus, sleep, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { confirmDeliveries, sealAs } from './helpers/hostile.js';
import { startBusAuditor } from './helpers/auditor.js';
import type { BusAuditor } from './helpers/auditor.js';

let bus: TestBus;
let store: AuditStore;
let auditor: BusAuditor;
const wire: Msg[] = []; // every copy of every delivery bob's connection saw
let bobRaw: NatsConnection;

test.before(async () => {
  bus = await startBus({
    verifiers: 1,
    agents: {
      alice: { send: [{ to: 'bob', types: ['task.*', 'note.post'] }], rate: { per_second: 10_000, burst: 10_000 } },
      carol: { send: [{ to: 'bob', types: ['note.post'] }], rate: { per_second: 10_000, burst: 10_000 } },
      mallory: { send: [{ to: 'bob', types: ['note.post'] }], rate: { per_second: 10_000, burst: 10_000 } },
      bob: {},
    },
  });
  bobRaw = await bus.rawAgent('bob');
  await confirmDeliveries(bobRaw, 'bob', wire);
  auditor = await startBusAuditor(bus);
  store = auditor.store;
});
test.after(async () => {
  await auditor?.stop();
  await bus.stop();
});

const enc = new TextEncoder();
const sealed = (sender: string, over: Partial<SealInput> = {}) =>
  sealAs(bus, sender, { recipient: 'bob', type: 'note.post', payload: enc.encode(JSON.stringify({ text: `hi ${randomInt(1e9)}` })), ...over });

async function send(nc: NatsConnection, sender: string, bytes: Uint8Array): Promise<Ack> {
  return Ack.decode((await nc.request(`agentbus.in.${sender}`, bytes, { timeout: 5000 })).data);
}

const rowCount = async () => Number((await store.query<{ n: number }>(`SELECT count() AS n FROM ${store.table('audit_events')}`))[0]!.n);

/** A header the sender signs with its real key, written field by field with any value. */
function signedRawHeader(sender: string, fields: (w: protobuf.Writer) => void, tail: Uint8Array = new Uint8Array(0)): Uint8Array {
  const k = bus.ids.get(sender)!.currentKey();
  const w = protobuf.Writer.create();
  w.uint32(10).string(sender).uint32(18).string(k.keyId);
  fields(w);
  const header = Buffer.concat([w.finish(), tail]);
  return encodeEnvelope({ headerBytes: header, payload: enc.encode('{"text":"x"}'), signature: k.sign(signingInput(header)) });
}

test('hostile - validly signed headers with timestamps no Date holds are rejected, and each message has its row', async () => {
  const alice = await bus.rawAgent('alice');
  const max64 = Buffer.from([0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // sent_at_ms = 2^64 - 1
  const fields = (w: protobuf.Writer) =>
    w.uint32(26).string('bob').uint32(42).string('note.post').uint32(50).bytes(randomBytes(16)).uint32(66).bytes(randomBytes(32));
  const cases = [
    signedRawHeader('alice', fields, max64),
    signedRawHeader('alice', (w) =>
      fields(w)
        .uint32(56)
        .uint64(8.64e15 + 1),
    ), // a safe integer just past Date's range
  ];
  for (const bytes of cases) {
    const ack = await send(alice, 'alice', bytes);
    assert.is(ack.verdict, Verdict.VERDICT_REJECTED);
    assert.is(reasonName(ack.reason), 'malformed');
    const header = toHex((parseEnvelope(bytes) as { value: { headerBytes: Uint8Array } }).value.headerBytes);
    await waitFor(
      async () => (await store.query(`SELECT 1 FROM ${store.table('audit_events')} WHERE header_hex = {h:String}`, { h: header })).length === 1,
      10_000,
      'the row of that message',
    );
    const [row] = await store.query<{ reason: string; sender: string; detail: string }>(
      `SELECT reason, sender, detail FROM ${store.table('audit_events')} WHERE header_hex = {h:String}`,
      { h: header },
    );
    assert.equal({ reason: row!.reason, sender: row!.sender }, { reason: 'malformed', sender: 'alice' });
    assert.match(row!.detail, /sent_at_ms/);
  }
  // and the pipeline is not blinded: the next legitimate message is stored too
  const ok = sealed('alice');
  assert.is((await send(alice, 'alice', ok.bytes)).verdict, Verdict.VERDICT_ACCEPTED);
  await waitFor(
    async () => (await store.query(`SELECT 1 FROM ${store.table('audit_events')} WHERE msg_id = {m:String}`, { m: toHex(ok.header.msgId) })).length === 1,
    10_000,
    'the next row',
  );
});

/** One hostile envelope from a small grammar of what a compromised agent can send. */
function hostile(sender: string, valid: Uint8Array[]): Uint8Array {
  const pick = randomInt(9);
  const strs = ['bob', 'BOB', 'b\u0000b', '\u202eboB', 'x'.repeat(300), '', 'note.post', 'a..b', '\ud83d\ude00', 'task.*'];
  const s = () => strs[randomInt(strs.length)]!;
  switch (pick) {
    case 0:
      return sealed(sender).bytes; // valid
    case 1: {
      // one byte flipped anywhere in a valid envelope
      const b = Uint8Array.from(sealed(sender).bytes);
      b[randomInt(b.length)]! ^= 1 << randomInt(8);
      return b;
    }
    case 2:
      return randomBytes(randomInt(1, 300)); // junk
    case 3: {
      // a validly signed header with arbitrary field values, invalid UTF-8 included
      return signedRawHeader(sender, (w) => {
        w.uint32(26).bytes(randomInt(2) ? enc.encode(s()) : randomBytes(randomInt(1, 8)));
        w.uint32(42).bytes(randomInt(2) ? enc.encode(s()) : Buffer.from([0xed, 0xa0, 0x80]));
        w.uint32(50).bytes(randomBytes([16, 0, 15, 40][randomInt(4)]!));
        w.uint32(56).uint64([Date.now(), 0, 8.64e15 + 1, 2 ** 53 - 1][randomInt(4)]!);
        w.uint32(66).bytes(randomBytes([32, 31][randomInt(2)]!));
        w.uint32(104).uint32(randomInt(2 ** 31));
        for (let i = randomInt(4); i > 0; i--) w.uint32(114).fork().uint32(10).string(s()).uint32(18).string(s()).ldelim();
      });
    }
    case 4:
      return valid.length ? valid[randomInt(valid.length)]! : sealed(sender).bytes; // a retry or a replay of the same bytes
    case 5: {
      // the same msg_id with a different payload (a replay)
      const v = valid.length ? parseEnvelope(valid[randomInt(valid.length)]!) : undefined;
      const h = v?.ok ? decodeHeader(v.value.headerBytes) : undefined;
      return sealed(sender, { msgId: h?.ok ? h.value.msgId : randomBytes(16) }).bytes;
    }
    case 6:
      return sealed(sender, { sentAtMs: Date.now() - 3_600_000 }).bytes; // stale
    case 7:
      return sealed(sender, { metadata: { [s() || 'k']: s() } }).bytes;
    default: {
      // another agent's envelope sent under this agent's name
      const other = sender === 'carol' ? 'mallory' : 'carol';
      return sealed(other).bytes;
    }
  }
}

test('property - random and mutated envelopes from several senders: one row per recorded event, a trail that verifies, legit traffic still stored', async () => {
  const senders = ['alice', 'carol', 'mallory'];
  const conns = new Map<string, NatsConnection>();
  for (const s of senders) conns.set(s, await bus.rawAgent(s));
  const valid = new Map<string, Uint8Array[]>(senders.map((s) => [s, []]));
  const N = 240;
  for (let i = 0; i < N; i++) {
    const sender = senders[i % senders.length]!;
    const bytes = hostile(sender, valid.get(sender)!);
    const nc = conns.get(sender)!;
    if (i % 5 === 0)
      nc.publish(`agentbus.in.${sender}`, bytes); // no reply subject: audited all the same
    else {
      const ack = await send(nc, sender, bytes);
      if (ack.verdict === Verdict.VERDICT_ACCEPTED) valid.get(sender)!.push(bytes);
    }
  }
  for (const nc of conns.values()) await nc.flush();
  const v = bus.verifiers[0]!;
  await waitFor(() => v.stats.received >= N && v.stats.inflight === 0, 10_000, 'the verifier handled every message');
  // every event the verifier recorded in JetStream, and the rows; shed messages are summarized
  // once a second, so read until the stream stops growing
  let events = await bus.auditEvents();
  for (;;) {
    await sleep(1500);
    const again = await bus.auditEvents();
    if (again.length === events.length) break;
    events = again;
  }
  await waitFor(async () => (await rowCount()) >= events.length, 20_000, `rows for ${events.length} events`);
  assert.is(await rowCount(), events.length, 'exactly one row per audit event');
  const shed = events.filter((e) => (e.shedCount ?? 0) > 0);
  if (process.env.DEBUG) console.log(`${events.length} events, ${shed.length} of them shed summaries`);
  const ids = new Set((await store.query<{ id: string }>(`SELECT event_id AS id FROM ${store.table('audit_events')}`)).map((r) => r.id));
  for (const e of events) assert.ok(ids.has(toHex(e.eventId as Uint8Array)), 'the row of each event');
  assert.is(auditor.consumer.stats().poison, 0);
  // the stored trail verifies against the verifier's key and the agents' keys
  const keys = { verifiers: verifierKeyMap([bus.verifierCreds.publicKeyInfo()]), agents: lookupFromManifests(bus.manifestsDir) };
  const report = await verifyStore(store, {}, keys);
  assert.equal(report.findings, []);
  // ... and legitimate traffic afterwards is stored as usual
  const after = sealed('carol');
  assert.is((await send(conns.get('carol')!, 'carol', after.bytes)).verdict, Verdict.VERDICT_ACCEPTED);
  await waitFor(
    async () =>
      (await store.query(`SELECT 1 FROM ${store.table('audit_events')} WHERE msg_id = {m:String} AND verdict = 'accepted'`, { m: toHex(after.header.msgId) }))
        .length === 1,
    10_000,
    'legit row after the storm',
  );
});

test('takeover - a retry of an envelope delivered before the partition moved is answered, not forwarded again', async () => {
  const alice = await bus.rawAgent('alice');
  const s = sealed('alice');
  const first = await send(alice, 'alice', s.bytes);
  assert.is(first.verdict, Verdict.VERDICT_ACCEPTED);
  assert.is(first.delivery, Delivery.DELIVERY_CONFIRMED);
  const copies = () => wire.filter((m) => Buffer.from(m.data).equals(Buffer.from(s.bytes))).length;
  assert.is(copies(), 1);
  // the owner dies (no release), a new verifier takes every partition over from the audit stream
  await bus.verifiers[0]!.close();
  const v2 = await bus.startVerifier();
  await waitFor(() => v2.stats.partitions.length === 8, 10_000, 'takeover: rebuilt and subscribed');
  await v2.nc.flush(); // its subscriptions are registered at the server
  const again = await send(alice, 'alice', s.bytes);
  assert.is(again.verdict, Verdict.VERDICT_DUPLICATE);
  assert.is(again.delivery, Delivery.DELIVERY_CONFIRMED, 'the new owner knows it was delivered');
  await sleep(300);
  assert.is(copies(), 1, 'not forwarded again on the wire');
  // the new owner delivers new messages as usual
  assert.is((await send(alice, 'alice', sealed('alice').bytes)).delivery, Delivery.DELIVERY_CONFIRMED);
});

test.run();
