// Guards see every text field (issue 24, item 4), through a real nats-server and the verifier:
// a binary (protobuf) message with a credential in a repeated text field, in a nested message,
// in a map value, is rejected credential_detected with the path in the detail — the sender's
// view; the recipient gets nothing — the victim's; the audit event of that message has the
// reason and the finding's path, never the secret — the record. A JSON message whose sender's
// manifest only flags invisible text and control characters, with enough flagged findings to
// fill the scanner's caps before a credential, is rejected credential_detected too. A protobuf
// message nested past protobufjs's decode limit is refused (schema_invalid), not a crash.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import protobuf from 'protobufjs';
import type { NatsConnection, Msg } from '@nats-io/transport-node';
import { parseEnvelope, toHex } from '../packages/protocol/src/envelope.js';
import type { SealInput } from '../packages/protocol/src/envelope.js';
import { Ack, Reason, Verdict, reasonName } from '../packages/protocol/src/proto.js';
import type { IAuditEvent } from '../packages/protocol/src/proto.js';
import { defineMessage, defineProtoMessage, ContractRegistry } from '../packages/sdk/src/contracts.js';
import { startBus, sleep, contracts } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { confirmDeliveries, sealAs } from './helpers/hostile.js';

const test = suite('guards see every text field');

// a test-only protobuf type, built by reflection (not in proto/): repeated, nested, map and oneof text
const root = protobuf.parse(`syntax = "proto3"; package agentbus.test.v1;
  message Inner { string note = 1; repeated string tags = 2; Inner child = 3; map<string, string> attrs = 4; }
  message Doc {
    string title = 1; repeated string items = 2; Inner meta = 3; map<string, string> labels = 4;
    oneof body { string text = 5; Inner rich = 6; } bytes blob = 7;
  }`).root;
const DocType = root.lookupType('agentbus.test.v1.Doc');
const Doc = defineProtoMessage('doc.post', DocType as never, { textFields: ['title', 'items', 'meta', 'labels', 'text', 'rich'] });
const Chat = defineMessage('chat.post', z.object({ messages: z.array(z.string()).max(1000) }));
const registry = new ContractRegistry([...contracts.types().map((t) => contracts.get(t)!), Doc, Chat]);

const TOKEN = 'ghp_' + 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5';
let bus: TestBus;
let alice: NatsConnection;
let erin: NatsConnection;
let bobRaw: NatsConnection;
const bobGot: Msg[] = [];

test.before(async () => {
  bus = await startBus({
    verifierOptions: { contracts: registry },
    agents: {
      // alice's manifest only flags invisible text and control characters; credentials: the default (reject)
      alice: {
        send: [{ to: 'bob', types: ['doc.post', 'chat.post'] }],
        max_payload_bytes: 256 * 1024,
        rejections: { per_second: 100, burst: 1000 },
        guards: { invisible_text: 'flag', control_chars: 'flag' },
      },
      // erin flags invisible text only
      erin: { send: [{ to: 'bob', types: ['chat.post'] }], rejections: { per_second: 100, burst: 1000 }, guards: { invisible_text: 'flag' } },
      bob: { send: [{ to: 'alice', types: ['task.result'] }] },
    },
  });
  alice = await bus.rawAgent('alice');
  erin = await bus.rawAgent('erin');
  bobRaw = await bus.rawAgent('bob');
  await confirmDeliveries(bobRaw, 'bob', bobGot);
});
test.after(async () => {
  await bus.stop();
});

const seal = (sender: 'alice' | 'erin', over: Partial<SealInput>): Uint8Array =>
  sealAs(bus, sender, { recipient: 'bob', type: 'doc.post', payload: new Uint8Array(0), contentType: Doc.contentType, ...over }).bytes;
const doc = (o: Record<string, unknown>) => seal('alice', { payload: DocType.encode(DocType.fromObject(o)).finish() });
const chat = (sender: 'alice' | 'erin', messages: string[]) =>
  seal(sender, { type: 'chat.post', contentType: 'application/json', payload: new TextEncoder().encode(JSON.stringify({ messages })) });

async function send(nc: NatsConnection, sender: string, bytes: Uint8Array): Promise<Ack> {
  return Ack.decode((await nc.request(`agentbus.in.${sender}`, bytes, { timeout: 3000 })).data);
}

async function eventOf(bytes: Uint8Array): Promise<IAuditEvent | undefined> {
  const p = parseEnvelope(bytes);
  if (!p.ok) return undefined;
  const header = toHex(p.value.headerBytes);
  for (let i = 0; i < 50; i++) {
    const ev = (await bus.auditEvents()).filter((e) => toHex(e.header ?? new Uint8Array(0)) === header).at(-1);
    if (ev) return ev;
    await sleep(50);
  }
  return undefined;
}

/** Rejected with `reason`; nothing reached bob; the audit event of this message has the reason (and, for a guard, the path, never the secret). */
async function expectRejected(reason: Reason, bytes: Uint8Array, path: string | undefined, nc = alice, sender = 'alice'): Promise<void> {
  const before = bobGot.length;
  const ack = await send(nc, sender, bytes);
  assert.is(ack.verdict, Verdict.VERDICT_REJECTED, `expected ${reasonName(reason)}, got verdict ${ack.verdict} (${ack.detail})`);
  assert.is(reasonName(ack.reason), reasonName(reason), ack.detail);
  if (path) assert.ok(ack.detail.includes(` at ${path}`), `the detail names ${path}: ${ack.detail}`);
  assert.not.ok(ack.detail.includes(TOKEN), 'the secret went back in the answer');
  await sleep(100);
  assert.is(bobGot.length, before, 'a rejected message reached the recipient');
  const ev = await eventOf(bytes);
  assert.ok(ev, 'no audit event of this message');
  assert.is(reasonName(ev!.reason ?? 0), reasonName(reason), 'the audit event has another reason');
  assert.is(ev!.verdict, Verdict.VERDICT_REJECTED);
  if (path) {
    const f = ev!.findings!.find((x) => x.kind === 'credential');
    assert.ok(f, 'no credential finding in the audit event');
    assert.is(f!.path, path);
    assert.is(f!.action, 'reject');
    assert.is(f!.hash!.length, 12);
  }
  assert.not.ok(JSON.stringify(ev, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v)).includes(TOKEN), 'the secret is in the audit event');
}

test('a clean binary message is delivered (the contract and the route work)', async () => {
  const before = bobGot.length;
  const ack = await send(alice, 'alice', doc({ title: 'hello', items: ['a', 'b'], meta: { note: 'n', tags: ['x'] }, labels: { k: 'v' }, text: 'body' }));
  assert.is(ack.verdict, Verdict.VERDICT_ACCEPTED, ack.detail);
  for (let i = 0; i < 40 && bobGot.length === before; i++) await sleep(25);
  assert.is(bobGot.length, before + 1);
});

test('binary: a credential in a repeated text field is rejected, with its path', async () => {
  await expectRejected(Reason.REASON_CREDENTIAL_DETECTED, doc({ title: 'ok', items: ['a', 'b', `key ${TOKEN}`] }), '$.items[2]');
});

test('binary: a credential in a nested message (any depth, repeated inside) is rejected, with its path', async () => {
  await expectRejected(Reason.REASON_CREDENTIAL_DETECTED, doc({ meta: { note: 'n', child: { tags: ['x', TOKEN] } } }), '$.meta.child.tags[1]');
  await expectRejected(Reason.REASON_CREDENTIAL_DETECTED, doc({ rich: { note: TOKEN } }), '$.rich.note');
});

test('binary: a credential in a map value (and in a nested map) is rejected, with its path', async () => {
  await expectRejected(Reason.REASON_CREDENTIAL_DETECTED, doc({ labels: { env: 'prod', k: TOKEN } }), '$.labels["k"]');
  await expectRejected(Reason.REASON_CREDENTIAL_DETECTED, doc({ meta: { attrs: { auth: `Bearer ${TOKEN}` } } }), '$.meta.attrs["auth"]');
});

test('binary: a message nested past the decode limit is refused schema_invalid and audited; the verifier carries on', async () => {
  // hand-made wire bytes (protobufjs will not encode it): Doc.meta → Inner.child → … 5,000 levels
  let inner: number[] = [0x0a, 1, 0x78]; // Inner.note = "x"
  const wrap = (tag: number, body: number[]) => {
    const len: number[] = [];
    for (let n = body.length; ; n >>>= 7) {
      if (n < 0x80) {
        len.push(n);
        break;
      }
      len.push((n & 0x7f) | 0x80);
    }
    return [tag, ...len, ...body];
  };
  for (let i = 0; i < 5000; i++) inner = wrap(0x1a, inner); // Inner.child = 3
  const bytes = seal('alice', { payload: new Uint8Array(wrap(0x1a, inner)) }); // Doc.meta = 3
  await expectRejected(Reason.REASON_SCHEMA_INVALID, bytes, undefined);
  // 90 levels decode: the deepest string is scanned
  let deep: Record<string, unknown> = { tags: [TOKEN] };
  for (let i = 0; i < 90; i++) deep = { child: deep };
  const ack = await send(alice, 'alice', doc({ meta: deep }));
  assert.is(reasonName(ack.reason), reasonName(Reason.REASON_CREDENTIAL_DETECTED), ack.detail);
  const ok = await send(alice, 'alice', doc({ title: 'still here' }));
  assert.is(ok.verdict, Verdict.VERDICT_ACCEPTED, ok.detail);
});

test('JSON: 40 flagged zero-width characters, then a credential: rejected credential_detected', async () => {
  const zw = Array.from({ length: 40 }, (_, i) => `step ${i}\u200b done`);
  // erin flags invisible text: its cap (16) is reached; the credential, cut by a zero-width character, is still found
  await expectRejected(
    Reason.REASON_CREDENTIAL_DETECTED,
    chat('erin', [...zw, `${TOKEN.slice(0, 12)}\u200b${TOKEN.slice(12)}`]),
    '$.messages[40]',
    erin,
    'erin',
  );
  await expectRejected(Reason.REASON_CREDENTIAL_DETECTED, chat('erin', [...zw, TOKEN]), '$.messages[40]', erin, 'erin');
  // alice flags invisible text and control characters: 16 + 16 findings fill the total cap (32) first
  const bells = Array.from({ length: 20 }, (_, i) => `bell ${i}\x07`);
  await expectRejected(Reason.REASON_CREDENTIAL_DETECTED, chat('alice', [...zw, ...bells, `the key: ${TOKEN}`]), '$.messages[60]');
  // without the credential: flagged and delivered
  const before = bobGot.length;
  const ack = await send(alice, 'alice', chat('alice', [...zw, ...bells]));
  assert.is(ack.verdict, Verdict.VERDICT_ACCEPTED, ack.detail);
  for (let i = 0; i < 40 && bobGot.length === before; i++) await sleep(25);
  assert.is(bobGot.length, before + 1);
});

test.run();
