// Helpers every command file shares: the one-line error, argument parsers, where the project
// and its running bus are, contracts modules, secret files, TLS options.
import { Command, CommanderError } from 'commander';
import { existsSync, statSync, readFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { registryFromModule } from '@agentbus/sdk/internal';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import * as D from '@agentbus/protocol';
import { checkKeyEnvName, DEFAULT_JS_KEY_ENV } from '../common/tls.js';
import { layout } from '../common/project.js';
import type { Layout } from '../common/project.js';

/** An operational failure: printed as one line, exit 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** A check that ran and found problems: exit 1, its output already printed. */
export class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
  constructor() {
    super('check failed');
  }
}

export function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new CommanderError(2, 'agentbus.invalidArgument', `${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** Import a contracts module by URL (a reload adds ?v=mtime so ESM loads it again). */
export async function importContracts(url: string): Promise<ContractRegistry> {
  const reg = registryFromModule((await import(url)) as Record<string, unknown>);
  if (reg.size === 0) throw new Error('the module exports no contracts');
  return reg;
}

/** --creds-dir and --manifests, defaulting to where `agentbus dev` looks. */
export function withLayoutDirs<T extends { credsDir?: string; manifests?: string }>(o: T): T & { credsDir: string; manifests: string } {
  const l = o.credsDir && o.manifests ? undefined : projectLayout();
  return { ...o, credsDir: o.credsDir ?? l!.credsDir, manifests: o.manifests ?? l!.manifestsDir };
}

export function projectLayout(stateDir?: string): Layout {
  try {
    return layout(stateDir ? { stateDir } : {});
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

export async function loadContracts(path: string): Promise<ContractRegistry> {
  const abs = resolve(path);
  if (!existsSync(abs)) {
    // a TypeScript project (init --ts) loads what tsc compiled: dist/contracts.js from contracts.ts
    const source = join(dirname(dirname(abs)), `${basename(abs, '.js')}.ts`);
    throw new CliError(
      `contracts module not found: ${path}${abs.endsWith('.js') && existsSync(source) ? ` (run npx tsc first: it compiles ${source} into it)` : ''}`,
    );
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    throw new CliError(`cannot load contracts module ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  const reg = registryFromModule(mod);
  if (reg.size === 0) throw new CliError(`contracts module ${path} exports no contracts (export a registry as \`contracts\`, or defineMessage values)`);
  return reg;
}

/** A key file: mode 0600, at least 32 bytes. */
export function readSecretFile(path: string): Uint8Array {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    throw new CliError(`cannot read ${path}`);
  }
  if ((st.mode & 0o077) !== 0) throw new CliError(`${path} is accessible by group or others; run: chmod 600 ${path}`);
  const key = readFileSync(path);
  if (key.length < 32) throw new CliError(`${path}: a key needs at least 32 bytes`);
  return key;
}

export interface TlsCliOptions {
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  encryptStore?: boolean;
  jsKeyEnv: string;
}

/** `dev` and `nats-config`: your own certificate files, 'dev' (make a throwaway CA), or no TLS. */
export function tlsFromOptions(o: TlsCliOptions): { certFile: string; keyFile: string; caFile?: string } | 'dev' | undefined {
  if (!!o.tlsCert !== !!o.tlsKey) throw new CommanderError(2, 'agentbus.invalidArgument', '--tls-cert and --tls-key go together');
  if (o.encryptStore) {
    try {
      checkKeyEnvName(o.jsKeyEnv);
    } catch (e) {
      throw new CommanderError(2, 'agentbus.invalidArgument', (e as Error).message);
    }
  }
  if (o.tlsCert && o.tlsKey) {
    for (const f of [o.tlsCert, o.tlsKey, o.tlsCa]) if (f && !existsSync(f)) throw new CliError(`${f} not found`);
    return { certFile: resolve(o.tlsCert), keyFile: resolve(o.tlsKey), ...(o.tlsCa ? { caFile: resolve(o.tlsCa) } : {}) };
  }
  if (o.tlsCa) throw new CommanderError(2, 'agentbus.invalidArgument', '--tls-ca goes with --tls-cert and --tls-key (plain --tls makes its own CA)');
  return o.tls ? 'dev' : undefined;
}

export const tlsOptions = (cmd: Command, devWhere: string) =>
  cmd
    .option(
      '--tls',
      `TLS on client connections and cluster routes; plaintext clients are refused (without --tls-cert: a throwaway CA and server certificate in ${devWhere}, made with openssl)`,
    )
    .option('--tls-cert <file>', 'server certificate (PEM) for clients and routes (implies --tls)')
    .option('--tls-key <file>', 'its private key (PEM)')
    .option('--tls-ca <file>', 'CA (PEM) that verifies the other nodes on the routes (and clients trust)')
    .option('--encrypt-store', 'encrypt JetStream at rest (cipher chachapoly); the key comes from the environment, never from a file')
    .option('--js-key-env <name>', 'environment variable of the store key (32+ letters and digits, starting with a letter)', DEFAULT_JS_KEY_ENV);

/** The bus to connect to: --nats, else the running dev bus's (<state-dir>/bus.json), else the default port. */
export async function busEndpoint(o: {
  nats?: string;
  stateDir?: string;
  tlsCa?: string;
  manifests?: string;
}): Promise<{ servers: string[]; manifestsDir: string; connectOptions?: Record<string, unknown> }> {
  const { runningBus } = await import('../common/bus-state.js');
  const where = projectLayout(o.stateDir);
  const bus = runningBus(where.stateDir);
  const servers = (o.nats ?? bus?.servers ?? 'nats://127.0.0.1:4222')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const ca = o.tlsCa ?? (o.nats ? undefined : bus?.tls_ca);
  return {
    servers,
    manifestsDir: resolve(o.manifests ?? bus?.manifests_dir ?? where.manifestsDir),
    ...(ca ? { connectOptions: { tls: { caFile: ca } } } : {}),
  };
}

export function agentName(v: string): string {
  if (!D.AGENT_ID_RE.test(v)) throw new CommanderError(2, 'agentbus.invalidArgument', `agent ids match [a-z0-9][a-z0-9_-]{0,63}, got ${JSON.stringify(v)}`);
  return v;
}
