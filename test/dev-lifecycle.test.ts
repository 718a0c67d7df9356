// `agentbus dev` killed with SIGKILL (a crash, kill -9) cannot stop its nats-server: the child
// outlives it, on the state directory's JetStream store. The next `agentbus dev` of that
// directory stops the orphan before it starts its own, says so, and a clean stop leaves nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './helpers/bus.js';
import { pidAlive } from '../packages/server/src/common/bus-state.js';
import { cliArgs } from './helpers/cli-bin.js';

function dev(state: string): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, cliArgs('dev', '--port', '0', '--state-dir', state, '--no-auditor', '--quiet'), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, out: () => out, exited: new Promise((res) => child.on('exit', (code) => res(code))) };
}
const pidsOf = (state: string) => readFileSync(join(state, 'nats.pids'), 'utf8').split('\n').filter(Boolean).map(Number);

test('dev - a nats-server left by a killed dev bus is stopped by the next one of that state directory', async () => {
  const state = mkdtempSync(join(tmpdir(), 'agentbus-devlife-'));
  const orphans: number[] = [];
  let second: ReturnType<typeof dev> | undefined;
  try {
    const first = dev(state);
    await waitFor(() => first.out().includes('Ctrl-C to stop.') || first.child.exitCode !== null, 60_000, 'first dev bus up');
    assert.is(first.child.exitCode, null, first.out().slice(-800));
    orphans.push(...pidsOf(state));
    assert.is(orphans.length, 1);
    first.child.kill('SIGKILL');
    await first.exited;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(pidAlive(orphans[0]!), 'the nats-server outlived its dev bus (the case this guards)');
    second = dev(state);
    const s = second;
    await waitFor(() => s.out().includes('Ctrl-C to stop.') || s.child.exitCode !== null, 60_000, 'second dev bus up');
    assert.is(s.child.exitCode, null, s.out().slice(-800));
    assert.match(s.out(), new RegExp(`stopped 1 nats-server\\(s\\) left running by a dev bus that was killed \\(pid ${orphans[0]}\\)`));
    assert.not.ok(pidAlive(orphans[0]!), 'the orphan is gone');
    const own = pidsOf(state);
    assert.is(own.length, 1);
    assert.ok(pidAlive(own[0]!));
    s.child.kill('SIGINT');
    const code = await Promise.race([s.exited, new Promise<string>((r) => setTimeout(() => r('still running 30 s after Ctrl-C'), 30_000).unref())]);
    assert.is(code, 0, s.out().slice(-800));
    await waitFor(() => !pidAlive(own[0]!), 5000, 'its nats-server stopped');
    assert.not.ok(existsSync(join(state, 'nats.pids')), 'a clean stop leaves no pid file');
  } finally {
    if (second && second.child.exitCode === null) second.child.kill('SIGKILL');
    for (const p of [...orphans, ...(existsSync(join(state, 'nats.pids')) ? pidsOf(state) : [])]) if (pidAlive(p)) process.kill(p, 'SIGKILL');
    rmSync(state, { recursive: true, force: true });
  }
});

test('dev - a pid in the file that is not our nats-server is never signalled', async () => {
  const { reapOrphanNatsServers, writeNatsPids } = await import('../packages/server/src/common/bus-state.js');
  const state = mkdtempSync(join(tmpdir(), 'agentbus-devlife-'));
  const bystander = spawn('sleep', ['30']);
  try {
    writeNatsPids(state, [bystander.pid, process.pid]);
    assert.equal(await reapOrphanNatsServers(state), []);
    assert.ok(pidAlive(bystander.pid!), 'another process with a recorded pid is left alone');
  } finally {
    bystander.kill('SIGKILL');
    rmSync(state, { recursive: true, force: true });
  }
});

test.run();
