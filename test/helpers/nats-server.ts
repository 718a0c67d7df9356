// Starts a real nats-server (from PATH) on a free loopback port for a test, with the given
// config body (authorization etc.) and JetStream in a temp dir. No mocks.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { spawnNatsServer, freePort } from '../../packages/server/src/common/nats-process.js';
import type { NatsProcess } from '../../packages/server/src/common/nats-process.js';

export { freePort };

export interface NatsServerHandle {
  url: string;
  port: number;
  dir: string;
  configPath: string;
  readonly proc: ChildProcess;
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
  let np: NatsProcess = await spawnNatsServer(configPath);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    configPath,
    get proc() {
      return np.proc;
    },
    async reload(body: string) {
      write(body);
      await np.reload();
    },
    async stop() {
      await np.stop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await np.stop();
      np = await spawnNatsServer(configPath);
    },
    log: () => np.output(),
  };
}
