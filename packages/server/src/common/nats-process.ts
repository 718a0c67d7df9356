// nats-server as a child process: find it, check its version (2.9.10 is the floor), start it
// with a generated config, reload it with SIGHUP, stop it.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const NATS_SERVER_FLOOR = '2.9.10';
export const INSTALL_HINT = 'install nats-server >= 2.9.10: Debian/Ubuntu `sudo apt-get install -y nats-server`, macOS `brew install nats-server`';

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/** The nats-server version on PATH, or an error line saying how to install it. */
export function natsServerVersion(bin = 'nats-server'): { ok: true; version: string } | { ok: false; message: string } {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { ok: false, message: `nats-server not found on PATH; ${INSTALL_HINT}` };
  const m = /v?(\d+\.\d+\.\d+)/.exec(r.stdout + r.stderr);
  if (!m) return { ok: false, message: `cannot read the nats-server version; ${INSTALL_HINT}` };
  if (compareVersions(m[1]!, NATS_SERVER_FLOOR) < 0) return { ok: false, message: `nats-server ${m[1]} is too old; ${INSTALL_HINT}` };
  return { ok: true, version: m[1]! };
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface NatsProcess {
  proc: ChildProcess;
  output(): string;
  /** SIGHUP: nats-server re-reads its config without a restart. Resolves when it confirms. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export async function spawnNatsServer(configPath: string, opts: { bin?: string; readyTimeoutMs?: number } = {}): Promise<NatsProcess> {
  const proc = spawn(opts.bin ?? 'nats-server', ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let dropped = 0; // characters trimmed from the front of `out` so far
  const onData = (d: Buffer) => {
    out += d.toString();
    if (out.length > 1_000_000) {
      dropped += out.length - 500_000;
      out = out.slice(-500_000);
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const started = Date.now();
  while (!/Server is ready/.test(out)) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`nats-server exited: ${lastLines(out)}`);
    if (Date.now() - started > (opts.readyTimeoutMs ?? 15_000)) {
      proc.kill('SIGKILL');
      throw new Error(`nats-server did not become ready: ${lastLines(out)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    proc,
    output: () => out,
    async reload() {
      const mark = dropped + out.length;
      const since = () => out.slice(Math.max(0, mark - dropped));
      proc.kill('SIGHUP');
      const t = Date.now();
      while (!/Reloaded server configuration|Reloaded:/i.test(since())) {
        // a quarantined client's publishes log "Publish Violation" [ERR] lines: not the reload's
        if (/^.*\[(ERR|FTL)\](?!.*Violation).*$/m.test(since())) throw new Error(`nats-server reload failed: ${lastLines(since())}`);
        if (Date.now() - t > 5000) throw new Error(`nats-server reload not confirmed: ${lastLines(since())}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    },
  };
}

function lastLines(s: string): string {
  return s.trim().split('\n').slice(-3).join(' | ');
}
