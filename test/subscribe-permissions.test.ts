// subscribe(topic) against a real nats-server with the generated permissions (issue 14): a topic
// the manifest lists delivers; one it does not list makes subscribe() reject with PermissionError
// (before, it returned a queue that never received), and the connection stays usable.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PermissionError } from '../packages/sdk/src/errors.js';
import type { MessageQueue } from '../packages/sdk/src/queue.js';
import type { InboundMessage } from '../packages/sdk/src/client.js';
import { startBus, sleep } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';

const test = suite('subscribe permissions');
let bus: TestBus;

test.before(async () => {
  bus = await startBus({
    verifiers: 1,
    agents: {
      planner: {
        send: [{ to: 'watcher', types: ['task.assign'] }],
        topics: {
          publish: [
            { topic: 'news', types: ['note.post'] },
            { topic: 'status', types: ['note.post'] },
          ],
          subscribe: [],
        },
      },
      watcher: { send: [{ to: 'planner', types: ['task.result'] }], topics: { publish: [], subscribe: ['news'] } },
    },
  });
});
test.after(async () => bus.stop());

/** The next message of a queue (without ending the iteration), or a timeout error. */
async function next(it: AsyncIterator<InboundMessage>, what: string, ms = 5000): Promise<InboundMessage> {
  const r = await Promise.race([
    it.next(),
    sleep(ms).then(() => {
      throw new Error(`timed out waiting for ${what}`);
    }),
  ]);
  if (r.done) throw new Error(`${what}: the queue ended`);
  return r.value;
}
const iter = (q: MessageQueue<InboundMessage>) => q[Symbol.asyncIterator]();

test('subscribe - a listed topic delivers; an unlisted one rejects with PermissionError; the connection stays usable', async () => {
  const planner = await bus.agent('planner');
  const watcher = await bus.agent('watcher');

  const news = iter(await watcher.subscribe('news'));
  await planner.publish('news', 'note.post', { text: 'one' });
  const first = await next(news, 'the first news');
  assert.is(first.topic, 'news');
  assert.equal(first.payload, { text: 'one' });

  // Promise.resolve: the old, synchronous subscribe() returned a queue here (no error)
  const err = await Promise.resolve(watcher.subscribe('status')).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(err, PermissionError, 'subscribing to a topic the manifest does not list did not throw');
  const pe = err as PermissionError;
  assert.is(pe.topic, 'status');
  assert.is(pe.subject, 'agentbus.topic.status.>');
  assert.match(pe.message, /topic "status"/);
  assert.match(pe.message, /manifest must list "status" under topics\.subscribe/);
  assert.match(String((pe.cause as Error)?.message), /Permissions Violation for Subscription to "agentbus\.topic\.status\.>"/i);

  // the connection is still open and usable: the earlier subscription receives, sends work both ways
  assert.is(watcher.nc.isClosed(), false);
  await planner.publish('news', 'note.post', { text: 'two' });
  assert.equal((await next(news, 'news after the refusal')).payload, { text: 'two' });
  const watcherInbox = iter(watcher.inbox());
  const toWatcher = await planner.send('watcher', 'task.assign', { title: 'still there?' });
  assert.ok(toWatcher.delivered);
  const got = await next(watcherInbox, 'the task');
  assert.is(got.type, 'task.assign');
  const back = await watcher.reply(got, 'task.result', { ok: true });
  assert.ok(back.delivered, 'a send from the refused agent was not delivered');

  // asking again is refused again, and still leaves the allowed subscription working
  assert.instance(await watcher.subscribe('status').catch((e: unknown) => e), PermissionError);
  await planner.publish('news', 'note.post', { text: 'three' });
  assert.equal((await next(news, 'news after the second refusal')).payload, { text: 'three' });
});

test.run();
