// Starts a real nats-server (from PATH) on a free loopback port for a test, with the given
// config body (authorization etc.) and JetStream in a temp dir. No mocks.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface NatsServerHandle {
  url: string;
  port: number;
  dir: string;
  configPath: string;
  proc: ChildProcess;
  /** Rewrite the config body and send SIGHUP (nats-server reloads without restart). */
  reload(configBody: string): Promise<void>;
  stop(): Promise<void>;
  /** stop then start again on the same port and store dir */
  restart(): Promise<void>;
  log(): string;
}

export interface StartOptions {
  /** Config text appended after listen/jetstream (e.g. an authorization block). */
  configBody?: string;
  jetstream?: boolean;
  port?: number;
  dir?: string;
}

export async function startNatsServer(opts: StartOptions = {}): Promise<NatsServerHandle> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'agentbus-nats-'));
  const port = opts.port ?? (await freePort());
  const configPath = join(dir, 'nats.conf');
  const write = (body: string) => {
    const js = opts.jetstream === false ? '' : `jetstream {\n  store_dir: "${join(dir, 'js')}"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n`;
    writeFileSync(configPath, `listen: "127.0.0.1:${port}"\nserver_name: "test_${port}"\n${js}max_payload: 1MB\n${body}\n`);
  };
  write(opts.configBody ?? '');
  let out = '';
  let proc!: ChildProcess;
  const launch = async () => {
    proc = spawn('nats-server', ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d: Buffer) => (out += d.toString());
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    const started = Date.now();
    while (!/Server is ready/.test(out)) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited: ${out}`);
      if (Date.now() - started > 15_000) throw new Error(`nats-server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await launch();
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  };
  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    configPath,
    get proc() {
      return proc;
    },
    async reload(body: string) {
      write(body);
      const mark = out.length;
      proc.kill('SIGHUP');
      const started = Date.now();
      while (!/Reloaded server configuration|Reloaded:/i.test(out.slice(mark))) {
        if (/error/i.test(out.slice(mark))) throw new Error(`reload failed: ${out.slice(mark)}`);
        if (Date.now() - started > 5000) throw new Error(`reload not confirmed: ${out.slice(mark)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      await stop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await stop();
      out = '';
      await launch();
    },
    log: () => out,
  };
  return handle;
}
