import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import protobuf from 'protobufjs';
import { defineMessage, defineProtoMessage, createRegistry, registryFromModule } from '../sdk/contracts.js';
import type { PayloadOf } from '../sdk/contracts.js';
import { Reason } from '../sdk/proto.js';

const Task = defineMessage('task.assign', z.object({ title: z.string().min(1), priority: z.number().int().min(0).max(5) }));
const Deploy = defineMessage('deploy.request', z.object({ service: z.string() }), { critical: true });

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
