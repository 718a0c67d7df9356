import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import protobuf from 'protobufjs';
import { defineMessage, defineProtoMessage, createRegistry, registryFromModule } from '../packages/sdk/src/contracts.js';
import type { PayloadOf } from '../packages/sdk/src/contracts.js';
import { Reason } from '../packages/protocol/src/proto.js';
import { checkMetadata, metadataBytes, MAX_METADATA_BYTES, MAX_METADATA_VALUE_BYTES } from '../packages/protocol/src/metadata.js';

const Task = defineMessage('task.assign', z.object({ title: z.string().min(1), priority: z.number().int().min(0).max(5) }));
const Deploy = defineMessage('deploy.request', z.object({ service: z.string() }), { critical: true });

test('contracts - metadata keys: declared by the contract, its required keys and the global set; values and the map bounded', () => {
  const T = defineMessage('ticket.open', z.object({}), { metadata: ['ticket_id'], requiredMetadata: ['owner'] });
  assert.equal([...T.metadata].sort(), ['owner', 'ticket_id']);
  for (const k of ['ticket_id', 'owner', 'rationale', 'prompt_version', 'agentbus.depth']) assert.ok(T.allowedMetadata.has(k), k);
  assert.ok(checkMetadata(T.allowedMetadata, { ticket_id: 'T-1', rationale: 'r' }, T.type).ok);
  const undeclared = checkMetadata(Task.allowedMetadata, { ticket_id: 'T-1' }, Task.type);
  assert.equal(undeclared.ok ? undefined : [undeclared.reason, undeclared.detail], [
    Reason.REASON_METADATA_NOT_ALLOWED,
    'metadata key "ticket_id" is not declared for task.assign',
  ]);
  const long = checkMetadata(T.allowedMetadata, { rationale: 'é'.repeat(MAX_METADATA_VALUE_BYTES / 2 + 1) }, T.type); // UTF-8 bytes, not characters
  assert.is(long.ok ? undefined : long.reason, Reason.REASON_METADATA_NOT_ALLOWED);
  const big = checkMetadata(
    T.allowedMetadata,
    { rationale: 'r'.repeat(1000), prompt_version: 'p'.repeat(1000), ticket_id: 't'.repeat(1000), owner: 'o'.repeat(1000), 'agentbus.depth': 'd'.repeat(100) },
    T.type,
  );
  assert.match(big.ok ? '' : big.detail, new RegExp(`> ${MAX_METADATA_BYTES}$`));
  assert.is(metadataBytes({ ab: 'cd', é: 'x' }), 2 + 2 + 2 + 1);
  assert.throws(() => defineMessage('a.b', z.object({}), { metadata: ['Bad Key'] }), /metadata key/);
  assert.throws(() => defineMessage('a.b', z.object({}), { metadata: ['agentbus.mine'] }), /reserved prefix/);
});

test('contracts - JSON payloads are validated on encode and decode', () => {
  const ok = Task.encode({ title: 'x', priority: 1 });
  assert.ok(ok.ok);
  if (!ok.ok) return;
  const back = Task.decode(ok.value);
  assert.ok(back.ok);
  if (back.ok) assert.equal(back.value, { title: 'x', priority: 1 });
  const bad = Task.encode({ title: '', priority: 9 } as PayloadOf<typeof Task>);
  assert.not.ok(bad.ok);
  if (!bad.ok) {
    assert.is(bad.reason, Reason.REASON_SCHEMA_INVALID);
    assert.match(bad.detail, /title|priority/);
  }
  for (const raw of ['not json', '{"title":1}', '\xff\xfe', '[]']) {
    const r = Task.decode(new TextEncoder().encode(raw));
    assert.not.ok(r.ok, raw);
  }
  const invalidUtf8 = Task.decode(new Uint8Array([0x7b, 0xff, 0x7d]));
  assert.not.ok(invalidUtf8.ok);
});

test('contracts - critical types require rationale and prompt_version by default', () => {
  assert.ok(Deploy.critical);
  assert.equal([...Deploy.requiredMetadata], ['rationale', 'prompt_version']);
  assert.equal([...Task.requiredMetadata], []);
  const custom = defineMessage('x.y', z.object({}), { critical: true, requiredMetadata: ['ticket'] });
  assert.equal([...custom.requiredMetadata], ['ticket']);
});

test('contracts - protobuf payloads name their message and reject garbage', () => {
  const root = protobuf.parse('syntax = "proto3"; package demo.v1; message Patch { string file = 1; bytes diff = 2; }').root;
  const Patch = root.lookupType('demo.v1.Patch');
  const c = defineProtoMessage<{ file: string; diff: Uint8Array }>('code.patch', Patch as never);
  assert.is(c.contentType, 'application/x-protobuf; proto=demo.v1.Patch');
  const enc = c.encode({ file: 'a.ts', diff: new Uint8Array([1, 2]) });
  assert.ok(enc.ok);
  if (enc.ok) {
    const dec = c.decode(enc.value);
    assert.ok(dec.ok);
    if (dec.ok) assert.is(dec.value.file, 'a.ts');
  }
  assert.not.ok(c.decode(new Uint8Array([0x0a, 0xff])).ok);
});

test('contracts - a registry finds contracts by type and refuses duplicates', () => {
  const reg = createRegistry(Task, Deploy);
  assert.ok(reg.has('task.assign'));
  assert.is(reg.get('deploy.request'), Deploy);
  assert.equal(reg.types(), ['deploy.request', 'task.assign']);
  assert.throws(() => reg.register(Task), /defined twice/);
  assert.throws(() => defineMessage('Bad Type', z.object({})), /must match/);
  const fromMod = registryFromModule({ Task, Deploy, other: 1 });
  assert.equal(fromMod.types(), ['deploy.request', 'task.assign']);
  assert.is(registryFromModule({ contracts: reg }), reg);
});

test.run();
