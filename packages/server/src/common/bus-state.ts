// A running `agentbus dev` and the files that tell others about it, all in its state directory:
//   bus.lock     the pid of the dev process that owns the directory (a second one is refused,
//                so it can never rewrite the running one's nats.conf or open its store)
//   bus.json     what a client needs: servers, credentials and manifests directories, the audit
//                store and the read-only query endpoint through which `agentbus audit …` reads
//                the store while the bus holds it (chDB lets one process open a directory)
//   query.token  the bearer token of that endpoint (mode 0600: only this user reads it)
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const LOCK_FILE = 'bus.lock';
export const INFO_FILE = 'bus.json';
export const TOKEN_FILE = 'query.token';
/** The pids of the nats-servers a dev bus started, one a line (reaped if it died without stopping them). */
export const NATS_PIDS_FILE = 'nats.pids';

export interface BusInfo {
  pid: number;
  started_at: string;
  /** Comma-separated nats:// URLs, as connectAgent's `servers` takes them. */
  servers: string;
  state_dir: string;
  creds_dir: string;
  manifests_dir: string;
  /** Contracts module the verifier loaded. */
  contracts: string;
  /** The chDB directory of the audit store ('' without the auditor). */
  store: string;
  /** http://127.0.0.1:PORT of the read-only query endpoint ('' without the auditor). */
  query_url: string;
  /** The console's URL, when the bus serves one (agentbus dev). */
  console_url?: string;
  /** The CA clients trust when the bus requires TLS. */
  tls_ca?: string;
}

export class StateLockError extends Error {
  override name = 'StateLockError';
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Record the nats-server pids of the dev bus in this state directory. */
export function writeNatsPids(stateDir: string, pids: (number | undefined)[]): void {
  writeFileSync(join(stateDir, NATS_PIDS_FILE), pids.filter((p): p is number => !!p).join('\n') + '\n');
}

/**
 * Stop the nats-servers a dev bus of this state directory left running when it was killed
 * (kill -9, a crash: its children outlive it). Called with the lock held, so their owner is
 * gone. A pid counts only if it is still a nats-server started with a config file of this
 * directory (a pid reused by another process is never signalled). Returns the pids stopped.
 */
export async function reapOrphanNatsServers(stateDir: string): Promise<number[]> {
  const file = join(stateDir, NATS_PIDS_FILE);
  let pids: number[];
  try {
    pids = readFileSync(file, 'utf8')
      .split('\n')
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
  const ours = pids.filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return /(^|\/)nats-server$/.test(argv[0] ?? '') && argv.some((a) => a.startsWith(stateDir + '/') && a.endsWith('.conf'));
    } catch {
      return false; // gone, or no /proc: nothing we can prove is ours
    }
  });
  for (const pid of ours) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone meanwhile */
    }
  }
  const until = Date.now() + 5000;
  while (ours.some(pidAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  for (const pid of ours.filter(pidAlive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
  rmSync(file, { force: true });
  return ours;
}

function readPid(file: string): number {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return 0;
  }
}

/**
 * Take the state directory for this process, or throw StateLockError naming the process that
 * holds it. A lock left by a process that is gone is taken over. Returns the release function.
 */
export function lockStateDir(stateDir: string): () => void {
  const dir = resolve(stateDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (readPid(file) === process.pid) rmSync(file, { force: true });
        if (readBusInfoFile(dir)?.pid === process.pid) {
          rmSync(join(dir, INFO_FILE), { force: true });
          rmSync(join(dir, TOKEN_FILE), { force: true });
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = readPid(file);
      if (pid && pid !== process.pid && pidAlive(pid)) {
        throw new StateLockError(`${dir} is in use by another agentbus dev (pid ${pid}); stop it, or give this one another --state-dir`);
      }
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new StateLockError(`cannot lock ${dir}`);
}

export function writeBusInfo(stateDir: string, info: BusInfo, token: string): void {
  const dir = resolve(stateDir);
  writeFileSync(join(dir, TOKEN_FILE), token + '\n', { mode: 0o600 });
  writeFileSync(join(dir, INFO_FILE), JSON.stringify(info, null, 2) + '\n');
}

function readBusInfoFile(dir: string): BusInfo | undefined {
  const f = join(dir, INFO_FILE);
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as BusInfo;
  } catch {
    return undefined;
  }
}

/** The bus running on this state directory (its process alive), or undefined. */
export function runningBus(stateDir: string): (BusInfo & { token: string }) | undefined {
  const dir = resolve(stateDir);
  const info = readBusInfoFile(dir);
  if (!info || !pidAlive(info.pid)) return undefined;
  let token = '';
  try {
    token = readFileSync(join(dir, TOKEN_FILE), 'utf8').trim();
  } catch {
    /* not ours to read */
  }
  return { ...info, token };
}
