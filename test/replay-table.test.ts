// The verifier's off-heap replay memory (bus/replay-table.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { ReplayTable, ABSENT, OTHER_ENVELOPE } from '../packages/server/src/verifier/replay-table.js';

const test = suite('replay table');

test('replay table - absent, same envelope (its depth), other envelope', () => {
  const t = new ReplayTable(65_000, 0);
  const id = randomBytes(16);
  const fp = randomBytes(16);
  assert.is(t.check(id, fp), ABSENT);
  assert.is(t.depthOf(id), undefined);
  t.add(id, fp, 7);
  assert.is(t.check(id, fp), 7);
  assert.is(t.check(Buffer.from(id), Buffer.from(fp)), 7, 'by value, not by reference');
  assert.is(t.depthOf(id), 7);
  const other = Buffer.from(fp);
  other[15] = other[15]! ^ 1;
  assert.is(t.check(id, other), OTHER_ENVELOPE);
  t.add(id, other, 9); // a second add of a remembered id changes nothing
  assert.is(t.check(id, fp), 7);
  assert.is(t.check(randomBytes(15), fp), ABSENT, 'a malformed msg_id is never found');
  assert.throws(() => t.add(randomBytes(8), fp, 0), RangeError);
});

test('replay table - a delivery confirmation is remembered with the entry, in either generation', () => {
  const t = new ReplayTable(10_000, 0);
  const a = randomBytes(16);
  t.add(a, a, 3);
  assert.is(t.delivered(a), false);
  t.markDelivered(a);
  assert.is(t.delivered(a), true);
  assert.is(t.check(a, a), 3, 'still the same entry and depth');
  t.rotate(10_000);
  assert.is(t.delivered(a), true);
  const unknown = randomBytes(16);
  t.markDelivered(unknown); // not remembered: nothing to mark
  assert.is(t.delivered(unknown), false);
});

test('replay table - 200k entries across growth steps, all found, none confused', () => {
  const t = new ReplayTable(65_000, 0);
  const ids = Array.from({ length: 200_000 }, () => randomBytes(16));
  ids.forEach((id, i) => t.add(id, id, i % 1000));
  assert.is(t.size, 200_000);
  for (let i = 0; i < ids.length; i += 7) assert.is(t.check(ids[i]!, ids[i]!), i % 1000);
  for (let i = 0; i < 1000; i++) assert.is(t.check(randomBytes(16), randomBytes(16)), ABSENT);
  // 40 bytes per entry at ≤ 60 % load: well under 200 bytes per entry
  assert.ok(t.bytes / t.size < 200, `${t.bytes / t.size} bytes per entry`);
});

test('replay table - an entry lives at least one window and is forgotten after two', () => {
  const w = 10_000;
  const t = new ReplayTable(w, 0);
  const a = randomBytes(16);
  t.add(a, a, 1);
  assert.is(t.rotate(w - 1), false);
  assert.is(t.rotate(w), true); // a is now in the previous generation
  assert.is(t.check(a, a), 1);
  const b = randomBytes(16);
  t.add(b, b, 2);
  t.rotate(2 * w); // a dropped (≥ 1 window old), b previous
  assert.is(t.check(a, a), ABSENT);
  assert.is(t.check(b, b), 2);
  t.rotate(3 * w);
  assert.is(t.check(b, b), ABSENT);
  assert.is(t.size, 0);
});

test('replay table - ids that differ only in high bits still spread over the slots', () => {
  const t = new ReplayTable(65_000, 0);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 50_000; i++) {
    const id = Buffer.alloc(16);
    id.writeUInt32BE((i << 12) >>> 0, 0); // same low bits everywhere
    t.add(id, id, 0);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.is(t.size, 50_000);
  // long probe chains would make this quadratic (minutes); spread slots take milliseconds
  assert.ok(ms < 5_000, `${ms} ms`);
});

test.run();
