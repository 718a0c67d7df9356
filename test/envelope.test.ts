import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { backends } from '../packages/protocol/src/ed25519.js';
import type { Ed25519Backend } from '../packages/protocol/src/ed25519.js';
import { sealEnvelope, openEnvelope, parseEnvelope, encodeEnvelope } from '../packages/protocol/src/envelope.js';
import type { KeyResolver } from '../packages/protocol/src/envelope.js';
import { Envelope, Reason, reasonName } from '../packages/protocol/src/proto.js';
import { SigningKey } from '../packages/sdk/src/identity.js';
import { EnvelopeError } from '../packages/sdk/src/errors.js';

const all = Object.values(backends).filter((b): b is Ed25519Backend => b !== undefined);
const key = SigningKey.generate();
const resolve: KeyResolver = (sender, keyId) => (sender === 'alice' && keyId === key.keyId ? key.publicKey : Reason.REASON_UNKNOWN_KEY);

function seal(payload: Uint8Array = randomBytes(1 + Math.floor(Math.random() * 300)), extra: Record<string, string> = {}) {
  return sealEnvelope({
    sender: 'alice',
    keyId: key.keyId,
    sign: key.sign,
    recipient: 'bob',
    type: 'task.assign',
    payload,
    contentType: 'application/octet-stream',
    metadata: { prompt_version: 'v3', ...extra },
    depth: 2,
    traceId: randomBytes(16),
    spanId: randomBytes(8),
    causationId: randomBytes(16),
  });
}

test('envelope - seal then open round-trips on every backend', () => {
  const s = seal(new TextEncoder().encode('{"x":1}'));
  for (const b of all) {
    const r = openEnvelope(s.bytes, resolve, b);
    assert.ok(r.ok, b.name);
    if (!r.ok) continue;
    assert.is(r.value.header.sender, 'alice');
    assert.is(r.value.header.recipient, 'bob');
    assert.is(r.value.header.depth, 2);
    assert.is(r.value.header.metadata.prompt_version, 'v3');
    assert.equal(Buffer.from(r.value.header.msgId), Buffer.from(s.header.msgId));
    assert.equal(new TextDecoder().decode(r.value.payload), '{"x":1}');
  }
});

test('envelope - our encoder is byte-identical to the generated protobuf encoder', () => {
  for (let i = 0; i < 50; i++) {
    const s = seal(i % 5 === 0 ? new Uint8Array(0) : undefined);
    const d = Envelope.decode(s.bytes);
    assert.equal(Buffer.from(Envelope.encode(d).finish()), Buffer.from(s.bytes));
    const p = parseEnvelope(s.bytes);
    assert.ok(p.ok);
    if (p.ok) assert.equal(Buffer.from(encodeEnvelope(p.value)), Buffer.from(s.bytes));
  }
});

test('envelope - flipping any single bit of header, payload or signature fails verification', () => {
  // Exhaustive over every bit of a few envelopes, then random bits over many envelopes.
  let checks = 0;
  const b = all[0]!;
  for (let n = 0; n < 3; n++) {
    const s = seal(randomBytes(40));
    for (let i = 0; i < s.bytes.length * 8; i++) {
      const m = Uint8Array.from(s.bytes);
      m[i >> 3]! ^= 1 << (i & 7);
      const r = openEnvelope(m, resolve, b);
      assert.not.ok(r.ok, `bit ${i} flipped yet accepted`);
      checks++;
    }
  }
  for (let n = 0; n < 300; n++) {
    const s = seal();
    const p = parseEnvelope(s.bytes);
    if (!p.ok) throw new Error('parse');
    for (const region of ['headerBytes', 'payload', 'signature'] as const) {
      const parts = {
        headerBytes: Uint8Array.from(p.value.headerBytes),
        payload: Uint8Array.from(p.value.payload),
        signature: Uint8Array.from(p.value.signature),
      };
      const target = parts[region];
      const bit = Math.floor(Math.random() * target.length * 8);
      target[bit >> 3]! ^= 1 << (bit & 7);
      for (const be of all) {
        const r = openEnvelope(encodeEnvelope(parts), resolve, be);
        assert.not.ok(r.ok, `${region} bit ${bit} on ${be.name}`);
        if (!r.ok && region === 'payload') assert.is(r.reason, Reason.REASON_PAYLOAD_HASH_MISMATCH);
        if (!r.ok && region === 'signature') assert.is(r.reason, Reason.REASON_BAD_SIGNATURE);
        checks++;
      }
    }
  }
  assert.ok(checks > 3000);
});

test('envelope - truncation and trailing garbage are rejected', () => {
  const s = seal(randomBytes(64));
  for (let len = 0; len < s.bytes.length; len++) {
    const r = openEnvelope(s.bytes.subarray(0, len), resolve, all[0]!);
    assert.not.ok(r.ok, `truncated to ${len}`);
  }
  for (const tail of [[0], [1], [0x0a, 0], [0x1a, 1, 0], [0x22, 0], Array.from(randomBytes(9))]) {
    const m = new Uint8Array([...s.bytes, ...tail]);
    const r = openEnvelope(m, resolve, all[0]!);
    assert.not.ok(r.ok, `trailing ${tail}`);
  }
});

test('envelope - malformed bytes give a typed reason, never a throw or a hang', () => {
  const started = Date.now();
  const inputs: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // 4 GiB header length
    new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 10-byte varint
    new Uint8Array([0x12, 0x80]),
    new Uint8Array([0x08, 0x01]),
  ];
  for (let i = 0; i < 3000; i++) inputs.push(randomBytes(Math.floor(Math.random() * 400)));
  const s = seal();
  for (let i = 0; i < 3000; i++) {
    const m = Uint8Array.from(s.bytes);
    for (let k = 0; k < 1 + (i % 8); k++) m[Math.floor(Math.random() * m.length)] = Math.floor(Math.random() * 256);
    inputs.push(m);
  }
  // Headers that decode as protobuf but are wrong: huge length prefixes inside the header.
  const badHeader = new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x7f]);
  inputs.push(encodeEnvelope({ headerBytes: badHeader, payload: new Uint8Array(1), signature: new Uint8Array(64) }));
  for (const m of inputs) {
    for (const b of all) {
      const r = openEnvelope(m, resolve, b);
      if (r.ok) continue; // a random mutation of a valid envelope may leave it valid (e.g. a byte set to itself)
      assert.type(r.reason, 'number');
      assert.ok(reasonName(r.reason) !== 'unspecified');
    }
  }
  assert.ok(Date.now() - started < 60_000, 'took too long');
});

test('envelope - EnvelopeError carries the reason and no key material', () => {
  const e = new EnvelopeError(Reason.REASON_BAD_SIGNATURE);
  assert.is(e.reason, Reason.REASON_BAD_SIGNATURE);
  assert.is(e.reasonName, 'bad_signature');
  assert.is(e.name, 'EnvelopeError');
  assert.instance(e, Error);
});

test('envelope - unknown key is reported by the resolver reason', () => {
  const other = SigningKey.generate();
  const s = sealEnvelope({ sender: 'alice', keyId: other.keyId, sign: other.sign, recipient: 'bob', type: 't', payload: new Uint8Array(1), contentType: 'x' });
  const r = openEnvelope(s.bytes, resolve, all[0]!);
  assert.not.ok(r.ok);
  if (!r.ok) assert.is(r.reason, Reason.REASON_UNKNOWN_KEY);
});

test('envelope - sealing rejects bad input with a named argument', () => {
  assert.throws(
    () => sealEnvelope({ sender: 'Alice!', keyId: key.keyId, sign: key.sign, recipient: 'bob', type: 't', payload: new Uint8Array(), contentType: 'x' }),
    /sender/,
  );
  assert.throws(
    () => sealEnvelope({ sender: 'alice', keyId: key.keyId, sign: key.sign, type: 't', payload: new Uint8Array(), contentType: 'x' }),
    /recipient or topic/,
  );
  assert.throws(
    () =>
      sealEnvelope({
        sender: 'alice',
        keyId: key.keyId,
        sign: key.sign,
        recipient: 'bob',
        topic: 'news',
        type: 't',
        payload: new Uint8Array(),
        contentType: 'x',
      }),
    /recipient or topic/,
  );
  assert.throws(
    () => sealEnvelope({ sender: 'alice', keyId: key.keyId, sign: key.sign, recipient: 'bob', type: 'a.>', payload: new Uint8Array(), contentType: 'x' }),
    /type/,
  );
});

test.run();
