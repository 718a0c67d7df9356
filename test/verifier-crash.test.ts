// Killing the verifier (SIGKILL) mid-stream loses no message a sender saw acknowledged, and
// the SDK delivers none twice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { startBus, sleep, verifierCliArgs, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { cliArgs, untilReady } from './helpers/cli-bin.js';

let bus: TestBus;
const children: ChildProcess[] = [];

async function spawnVerifier(id: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, cliArgs(...verifierCliArgs(bus, '--id', id, '--log-level', 'warn', '--depth-key-file', bus.dir + '/creds/depth.key')), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  await untilReady(child);
  return child;
}

test.before(async () => {
  bus = await startBus({
    verifiers: 0,
    agents: { planner: { send: [{ to: 'coder', types: ['task.assign'] }], rate: { per_second: 10000, burst: 10000 } }, coder: {} },
  });
});
test.after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await bus.stop();
});

test('crash - SIGKILL of the verifier mid-stream loses no acknowledged message and delivers none twice', async () => {
  const first = await spawnVerifier('va');
  const planner = await bus.agent('planner', { timeoutMs: 400, retries: 30 });
  const coder = await bus.agent('coder');
  const received = new Map<string, number>();
  (async () => {
    for await (const m of coder.inbox()) received.set(m.msgId, (received.get(m.msgId) ?? 0) + 1);
  })();
  const acked = new Set<string>();
  const failed: unknown[] = [];
  let killed = false;
  const senders = Array.from({ length: 4 }, async (_, s) => {
    for (let i = 0; i < 150; i++) {
      try {
        const r = await planner.send('coder', 'task.assign', { title: `s${s}-${i}`, priority: 1 });
        acked.add(r.msgId);
      } catch (e) {
        failed.push(e);
      }
      if (!killed && acked.size >= 150) {
        killed = true;
        first.kill('SIGKILL');
        await sleep(100);
        await spawnVerifier('vb');
      }
    }
  });
  await Promise.all(senders);
  assert.ok(killed, 'the verifier was killed mid-stream');
  await waitFor(() => [...acked].every((id) => received.has(id)), 5000, 'every acked message delivered');
  const lost = [...acked].filter((id) => !received.has(id));
  const dups = [...received.values()].filter((n) => n > 1).length;
  assert.is(lost.length, 0, `lost ${lost.length}`);
  assert.is(dups, 0);
  assert.is(failed.length, 0, `sends failed: ${failed.map(String).join('; ')}`);
  assert.is(acked.size, 600);
});

test.run();
