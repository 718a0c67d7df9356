// A recipient that cannot verify or decode a message refuses it, and the sender is told why
// (RefusedError, the recipient's reason — not "is the recipient connected?"); the verifier
// records the refusal in the audit trail; the recipient's client logs and counts it; the
// recipient's application never sees the message. Real nats-server, real verifier.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Delivery, Reason, reasonName } from '../packages/protocol/src/proto.js';
import type { IDeliveryRecord } from '../packages/protocol/src/proto.js';
import { toHex } from '../packages/protocol/src/envelope.js';
import { RefusedError, UndeliveredError } from '../packages/sdk/src/errors.js';
import { createRegistry, defineMessage } from '../packages/sdk/src/contracts.js';
import { createLogger } from '../packages/sdk/src/log.js';
import { mapDelivery } from '../packages/server/src/auditor/rows.js';
import { startBus, waitFor, Task, Note } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';

let bus: TestBus;
test.before(async () => {
  bus = await startBus({
    agents: {
      alice: {
        send: [
          { to: 'bob', types: ['task.assign', 'note.post'] },
          { to: 'carol', types: ['note.post'] },
        ],
      },
      bob: { send: [] },
      carol: { send: [] },
    },
  });
});
test.after(async () => bus?.stop());

/** The delivery records in the audit stream, by msg_id (hex). */
async function deliveryRecords(): Promise<Map<string, IDeliveryRecord & { verifierId: string }>> {
  const out = new Map<string, IDeliveryRecord & { verifierId: string }>();
  for (const b of await bus.auditBatches()) for (const d of b.deliveries) out.set(toHex(d.msgId!), { ...d, verifierId: b.verifierId });
  return out;
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  return {
    logger: createLogger({ name: 'recipient', level: 'warn', destination: sink }),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

async function expectRefused(p: Promise<unknown>, reason: Reason, recipient: string): Promise<RefusedError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, RefusedError, `expected RefusedError, got ${(e as Error).name}: ${(e as Error).message}`);
    assert.not.instance(e, UndeliveredError);
    const r = e as RefusedError;
    assert.is(r.reasonName, reasonName(reason), r.message);
    assert.is(r.recipient, recipient);
    assert.match(r.detail, new RegExp(`refused by ${recipient}`));
    return r;
  }
  throw new Error('the send resolved: the refusal was not reported');
}

test('refusal - a recipient whose registry lacks the type refuses it: the sender gets RefusedError(unknown_type), the audit trail records it, the recipient logs and counts it, its app sees nothing', async () => {
  const log = capture();
  const bob = await bus.agent('bob', { contracts: createRegistry(Task), logger: log.logger }); // no note.post here
  const alice = await bus.agent('alice');
  const got: string[] = [];
  void (async () => {
    for await (const m of bob.inbox()) got.push(m.type);
  })();
  const t0 = Date.now();
  const err = await expectRefused(alice.send('bob', 'note.post', { text: 'hello' }), Reason.REASON_UNKNOWN_TYPE, 'bob');
  // told at once, not after the delivery timeout's re-forwards
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  assert.match(err.detail, /note\.post has no contract in bob's registry/);
  // what bob can decode is still delivered
  const ok = await alice.send('bob', 'task.assign', { title: 'still works' });
  assert.ok(ok.delivered);
  await waitFor(() => got.length === 1, 2000, 'the good message in the inbox');
  assert.equal(got, ['task.assign'], 'the refused message reached the application');
  assert.is(bob.stats.refused, 1);
  const line = log.lines().find((l) => l.msg === 'message refused: this client cannot verify or decode it');
  assert.ok(line, 'the refusal was not logged');
  assert.is(line!.reason, 'unknown_type');
  assert.is(line!.msg_id, err.msgId);
  assert.is(line!.sender, 'alice');
  assert.not.match(JSON.stringify(log.lines()), /hello/, 'the payload leaked into the log');
  // the audit trail: this message's delivery record says refused, with bob's reason
  await waitFor(async () => (await deliveryRecords()).has(err.msgId), 3000, 'the delivery record');
  const d = (await deliveryRecords()).get(err.msgId)!;
  assert.is(d.delivery, Delivery.DELIVERY_REFUSED);
  assert.is(d.reason, Reason.REASON_UNKNOWN_TYPE);
  const row = mapDelivery(d, d.verifierId, { batchId: 'b', pos: 0, createdAt: Date.now() });
  assert.is(row.delivery, 'refused');
  assert.is(row.reason, 'unknown_type');
  assert.is(row.recipient, 'bob');
  assert.match(row.detail, /no contract/);
  assert.is(bus.verifiers[0]!.stats.refused, 1);
  await bob.close();
  await alice.close();
});

test("refusal - a recipient whose manifests lack the sender's key refuses it (unknown_sender); a stricter contract copy refuses the payload (schema_invalid)", async () => {
  const log = capture();
  // carol's manifests directory has only her own manifest: alice's key is not there
  const lonely = mkdtempSync(join(tmpdir(), 'agentbus-lonely-'));
  copyFileSync(join(bus.manifestsDir, 'carol.yaml'), join(lonely, 'carol.yaml'));
  const carol = await bus.agent('carol', { manifestsDir: lonely, logger: log.logger });
  const alice = await bus.agent('alice');
  const err = await expectRefused(alice.send('carol', 'note.post', { text: 'hi' }), Reason.REASON_UNKNOWN_SENDER, 'carol');
  assert.match(err.detail, /no public key of alice/);
  assert.is(carol.stats.refused, 1);
  await carol.close();
  // bob's copy of note.post allows at most 3 characters
  const strict = createRegistry(Task, defineMessage('note.post', z.object({ text: z.string().max(3) })));
  const bob = await bus.agent('bob', { contracts: strict, logger: log.logger });
  const e2 = await expectRefused(alice.send('bob', 'note.post', { text: 'too long for bob' }), Reason.REASON_SCHEMA_INVALID, 'bob');
  assert.match(e2.detail, /note\.post/);
  const recs = await (async () => {
    await waitFor(async () => (await deliveryRecords()).has(e2.msgId), 3000, 'the delivery record');
    return deliveryRecords();
  })();
  assert.is(recs.get(err.msgId)!.reason, Reason.REASON_UNKNOWN_SENDER);
  assert.is(recs.get(e2.msgId)!.reason, Reason.REASON_SCHEMA_INVALID);
  await bob.close();
  await alice.close();
  void Note;
});

test('refusal - a recipient that is not connected is still "undelivered", not refused', async () => {
  const alice = await bus.agent('alice');
  try {
    await alice.send('carol', 'note.post', { text: 'anyone?' }, { retries: 0 });
    assert.unreachable('delivered to nobody');
  } catch (e) {
    assert.instance(e, UndeliveredError, String(e));
    assert.not.instance(e, RefusedError);
  }
  await alice.close();
});

test.run();
