// The Python SDK (issue 26) next to the TS one, on one bus in one run: a send's round trip until
// the verifier's answer says the recipient's client confirmed it (sequential; median and p99),
// and msgs/s with a window of sends in flight. The receiver is a TS client in both cases. Both
// senders run in a process of their own (bench/ts-send-proc.ts, python/bench/send_bench.py), so
// neither shares the verifier's CPU and event loop; the TS client in the verifier's process is
// measured too (ts_client_inproc_*), for reference.
//   node --import tsx bench/python.ts [--json]   (also part of npm run bench)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBus, contracts } from '../test/helpers/bus.js';
import { exportContracts } from '../packages/server/src/ops/contracts-export.js';
import { report } from './util.js';
import type { Figure } from './util.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const WINDOW = 64;

/** Run a sender process (the verifier keeps running in this one meanwhile) and parse its last line. */
function runJson(cmd: string, args: string[]): Promise<{ median_ms: number; p99_ms: number; per_s: number }> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args);
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => (code === 0 ? res(JSON.parse(out.trim().split('\n').pop()!)) : rej(new Error(`${args[0] ?? cmd} failed (${code}): ${err}`))));
  });
}

/** The interpreter the Python figures run with: $AGENTBUS_PYTHON, python/.venv's, else python3. */
function pythonInterpreter(): string {
  const venv = join('python', '.venv', 'bin', 'python');
  return process.env.AGENTBUS_PYTHON ?? (existsSync(venv) ? venv : 'python3');
}

/**
 * Throws one line naming the fix when the Python SDK cannot be imported: `npm run bench` calls it
 * before its first run, so a missing SDK does not end a quarter-hour run at its last part.
 */
export function checkPythonSdk(): void {
  const py = pythonInterpreter();
  const r = spawnSync(py, ['-c', 'import agentbus'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `bench: the Python SDK does not import with ${py} (the Python figures need it): python3 -m venv python/.venv && python/.venv/bin/pip install -e 'python[test]'`,
    );
  }
}

export async function pythonFigures(o: { n?: number } = {}): Promise<Figure[]> {
  const n = o.n ?? 500;
  const py = pythonInterpreter();
  const fast = { send: [{ to: 'bob', types: ['note.post'] }], rate: { per_second: 1e6, burst: 1e6 } };
  const bus = await startBus({ agents: { tsalice: fast, pyalice: fast, bob: {} } });
  const figures: Figure[] = [];
  try {
    const bob = await bus.agent('bob');
    void (async () => {
      for await (const _ of bob.inbox()) {
        /* confirmed by the client */
      }
    })();
    const exported = join(bus.dir, 'contracts.json');
    writeFileSync(exported, JSON.stringify(exportContracts(contracts)));
    // TS, in the verifier's process (its client shares the event loop and CPU with the verifier)
    const a = await bus.agent('tsalice');
    const payload = { text: 'x'.repeat(200) };
    const rtt: number[] = [];
    for (let i = 0; i < n + 20; i++) {
      const t = performance.now();
      await a.send('bob', 'note.post', payload);
      if (i >= 20) rtt.push(performance.now() - t);
    }
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: WINDOW }, async () => {
        while (next++ < n * 4) await a.send('bob', 'note.post', payload);
      }),
    );
    const inprocPerS = (n * 4) / ((performance.now() - t0) / 1000);
    await a.close();
    // TS and Python each in a process of its own (the same footing): same bus, same receiver
    const ts = await runJson('node', [
      '--import',
      'tsx',
      'bench/ts-send-proc.ts',
      bus.url,
      bus.credsPath('tsalice'),
      bus.manifestsDir,
      'bob',
      String(n),
      String(WINDOW),
    ]);
    const p = await runJson(py, [
      'python/bench/send_bench.py',
      bus.url,
      bus.credsPath('pyalice'),
      bus.manifestsDir,
      exported,
      'bob',
      String(n),
      String(WINDOW),
    ]);
    figures.push(
      {
        name: 'ts_client_send_confirmed_median_ms',
        value: ts.median_ms,
        unit: 'ms (send -> verifier -> recipient confirms -> answer; TS client in its own process)',
      },
      { name: 'ts_client_send_confirmed_p99_ms', value: ts.p99_ms, unit: 'ms' },
      { name: 'py_client_send_confirmed_median_ms', value: p.median_ms, unit: 'ms (the same, Python SDK, its own process)' },
      { name: 'py_client_send_confirmed_p99_ms', value: p.p99_ms, unit: 'ms' },
      { name: 'ts_client_msgs_per_s', value: ts.per_s, unit: `msgs/s (${WINDOW} in flight, confirmed; TS client in its own process)` },
      { name: 'py_client_msgs_per_s', value: p.per_s, unit: `msgs/s (${WINDOW} in flight, confirmed)` },
      { name: 'py_over_ts_send_confirmed_median', value: p.median_ms / ts.median_ms, unit: 'ratio (> 1: Python slower)' },
      { name: 'py_over_ts_msgs_per_s', value: p.per_s / ts.per_s, unit: 'ratio (< 1: Python slower)' },
      { name: 'ts_client_inproc_send_confirmed_median_ms', value: median(rtt), unit: "ms (TS client in the verifier's process)" },
      { name: 'ts_client_inproc_msgs_per_s', value: inprocPerS, unit: `msgs/s (${WINDOW} in flight; in the verifier's process)` },
    );
    await bob.close();
  } finally {
    await bus.stop();
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  report(await pythonFigures({ n: process.argv.includes('--quick') ? 100 : 500 }), process.argv.includes('--json'));
}
