#!/usr/bin/env node
// The `agentbus` command. Mistakes in arguments: one line, exit 2. Operational failures
// (server unreachable, bad manifest): one line naming what to fix, exit 1. No stack traces.
import { Command, CommanderError, Option } from 'commander';
import { mkdirSync, writeFileSync, existsSync, statSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { generateIdentity, saveCredentials } from '@agentbus/sdk/internal';
import { registryFromModule } from '@agentbus/sdk/internal';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import { createLogger } from '@agentbus/sdk/internal';
import { loadManifestDir, ManifestError } from '@agentbus/protocol';
import { serverConfig, clusterConfigs } from './natsconfig.js';
import { MEMORY_KV_CREDS, memoryManifest } from '../memory/manifest.js';
import { generateServiceCreds, loadServiceCreds, writeServicePublicKey } from './service-creds.js';
import * as D from '@agentbus/protocol';
import { makeDevCertificates, checkKeyEnvName, DEFAULT_JS_KEY_ENV, TlsSetupError } from './tls.js';
import { layout } from './project.js';
import type { Layout } from './project.js';
import type { DevBus } from './dev.js';

/** An operational failure: printed as one line, exit 1. */
export class CliError extends Error {
  override name = 'CliError';
}

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new CommanderError(2, 'agentbus.invalidArgument', `${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** Import a contracts module by URL (a reload adds ?v=mtime so ESM loads it again). */
async function importContracts(url: string): Promise<ContractRegistry> {
  const reg = registryFromModule((await import(url)) as Record<string, unknown>);
  if (reg.size === 0) throw new Error('the module exports no contracts');
  return reg;
}

/** --creds-dir and --manifests, defaulting to where `agentbus dev` looks. */
function withLayoutDirs<T extends { credsDir?: string; manifests?: string }>(o: T): T & { credsDir: string; manifests: string } {
  const l = o.credsDir && o.manifests ? undefined : projectLayout();
  return { ...o, credsDir: o.credsDir ?? l!.credsDir, manifests: o.manifests ?? l!.manifestsDir };
}

function projectLayout(stateDir?: string): Layout {
  try {
    return layout(stateDir ? { stateDir } : {});
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** `agentbus dev`'s own tail: rejections and alerts on its terminal, at most 10 lines a second. */
async function watchOnTerminal(bus: DevBus): Promise<{ stop(): Promise<void> }> {
  const { startTail } = await import('./tail.js');
  const color = !!process.stdout.isTTY && !process.env.NO_COLOR;
  let budget = 10;
  let dropped = 0;
  const tick = setInterval(() => {
    if (dropped) console.log(`  … and ${dropped} more (agentbus tail shows every one)`);
    dropped = 0;
    budget = 10;
  }, 1000);
  tick.unref();
  const tail = await startTail({
    servers: bus.urls,
    credentials: bus.observerCreds,
    verdicts: ['rejected'],
    color,
    connectOptions: bus.connectOptions,
    write: (line) => {
      if (budget > 0) {
        budget--;
        console.log(line);
      } else dropped++;
    },
  });
  return {
    async stop() {
      clearInterval(tick);
      await tail.stop();
    },
  };
}

/** What `agentbus dev` prints: only what exists, with the exact values an agent needs. */
function devBanner(bus: DevBus, o: { project: string | undefined; example: boolean; contractsPath: string; metricsPort: number; jsKeyEnv: string }): string {
  const agents = loadManifestDir(bus.manifestsDir).map((m) => m.agent);
  const w = Math.max(0, ...agents.map((a) => a.length));
  const creds = agents.map((a, i) => {
    const p = bus.credsPath(a);
    return `${i ? '               ' : ''}${a.padEnd(w)}  ${existsSync(p) ? p : `(no credential file here: agentbus keygen ${a}, or copy it to ${p})`}`;
  });
  const caFile = bus.tls?.caFile;
  const lines = [
    `agentbus dev bus running — ${o.project ? `project ${o.project}` : o.example ? 'the example scenario (research team); `agentbus init DIR` makes a project of your own' : 'your contracts and manifests'}`,
    `  servers:     ${bus.url}${bus.urls.length > 1 ? ` (cluster of ${bus.urls.length}, JetStream replicas ${bus.replicas})` : ''}`,
    `  contracts:   ${resolve(o.contractsPath)} (reloaded on change)`,
    `  manifests:   ${bus.manifestsDir} (reloaded on change; nats-server too)`,
    `  credentials: ${creds.length ? creds.join('\n') : '(no agents yet: agentbus keygen NAME)'}`,
    `  connect:     connectAgent({ servers: ${JSON.stringify(bus.url)}, credentials: ${JSON.stringify(agents[0] ? bus.credsPath(agents[0]) : bus.credsPath('NAME'))}, manifestsDir: ${JSON.stringify(bus.manifestsDir)}, contracts${caFile ? `, connectOptions: { tls: { caFile: ${JSON.stringify(caFile)} } }` : ''} })`,
    `  watch:       agentbus tail${o.project ? '' : ` --state-dir ${bus.stateDir}`}   (live verdicts and alerts)`,
    `  audit store: ${bus.auditor ? `${bus.storePath} (query it while the bus runs: agentbus audit top${o.project ? '' : ` --state-dir ${bus.stateDir}`})` : '(auditor off)'}`,
  ];
  if (o.metricsPort) lines.push(`  metrics:     http://127.0.0.1:${o.metricsPort}/metrics (verifier), http://127.0.0.1:${o.metricsPort + 1}/metrics (auditor)`);
  lines.push(`  logs:        ${bus.logFile}`);
  if (bus.tls) lines.push(`  tls:         required; clients trust ${caFile ?? 'the system CAs'}${caFile ? `\n               nats CLI: nats --server ${bus.urls[0]} --tlsca ${caFile} ...` : ''}`);
  if (bus.storeEncrypted) lines.push(`  jetstream:   encrypted at rest (chachapoly), key ${bus.jsKeyGenerated ? `generated into nats-server's environment only: set $${o.jsKeyEnv} to keep the store across restarts` : `from $${o.jsKeyEnv}`}`);
  lines.push('Ctrl-C to stop.');
  return lines.join('\n');
}

export async function loadContracts(path: string): Promise<ContractRegistry> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new CliError(`contracts module not found: ${path}`);
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
  let st;
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

interface TlsCliOptions {
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  encryptStore?: boolean;
  jsKeyEnv: string;
}

/** `dev` and `nats-config`: your own certificate files, 'dev' (make a throwaway CA), or no TLS. */
function tlsFromOptions(o: TlsCliOptions): { certFile: string; keyFile: string; caFile?: string } | 'dev' | undefined {
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

const tlsOptions = (cmd: Command, devWhere: string) =>
  cmd
    .option('--tls', `TLS on client connections and cluster routes; plaintext clients are refused (without --tls-cert: a throwaway CA and server certificate in ${devWhere}, made with openssl)`)
    .option('--tls-cert <file>', 'server certificate (PEM) for clients and routes (implies --tls)')
    .option('--tls-key <file>', 'its private key (PEM)')
    .option('--tls-ca <file>', 'CA (PEM) that verifies the other nodes on the routes (and clients trust)')
    .option('--encrypt-store', 'encrypt JetStream at rest (cipher chachapoly); the key comes from the environment, never from a file')
    .option('--js-key-env <name>', 'environment variable of the store key (32+ letters and digits, starting with a letter)', DEFAULT_JS_KEY_ENV);

export function buildProgram(): Command {
  const program = new Command();
  program.name('agentbus').description('A signed, verified, audited message bus for AI agents on NATS').version('0.1.0');
  program.showHelpAfterError(false);

  program
    .command('init')
    .description('make a project of your own: contracts, two agents with keys and manifests, an example; `agentbus dev` inside it runs it')
    .argument('[dir]', 'project directory (created if missing)', '.')
    .action(async (dir: string) => {
      const { initProject, InitError } = await import('./init.js');
      let r;
      try {
        r = initProject(dir);
      } catch (e) {
        if (e instanceof InitError) throw new CliError(e.message);
        throw e;
      }
      const steps: [string, string][] = [
        ...(resolve(dir) === process.cwd() ? [] : [[`cd ${dir}`, 'the project'] as [string, string]]),
        ['npm install', 'the SDK and the agentbus CLI for this project'],
        ['npx agentbus dev', 'terminal 1: the bus, on nats://127.0.0.1:4222'],
        ['node example.mjs', 'terminal 2: alice and bob talk; one message is refused, with its reason'],
        ['npx agentbus audit top', 'the audit trail, read from the running bus'],
      ];
      const w = Math.max(...steps.map(([c]) => c.length)) + 2;
      console.log(`agentbus project in ${r.dir}: agents ${r.agents.join(', ')}; files ${r.files.join(', ')}\nnext:\n${steps.map(([c, why]) => `  ${c.padEnd(w)}# ${why}`).join('\n')}`);
    });

  program
    .command('keygen')
    .description('generate an agent identity: a credential file (mode 0600) and its manifest skeleton')
    .argument('<agent>', 'agent id, [a-z0-9][a-z0-9_-]{0,63}')
    .option('--creds-dir <dir>', "where to write <agent>.creds.json (default: the project's or the dev bus's, <state-dir>/creds — where `agentbus dev` looks)")
    .option('--manifests <dir>', "where to write <agent>.yaml, public parts only (default: the project's, or .agentbus/dev/manifests)")
    .option('--service', 'generate a service credential (verifier, auditor, observer or system) instead of an agent identity')
    .option('--force', 'overwrite existing files')
    .action((agent: string, opts: { credsDir?: string; manifests?: string; service?: boolean; force?: boolean }) => {
      const o = withLayoutDirs(opts);
      const credsPath = join(o.credsDir, `${agent}.creds.json`);
      const manifestPath = join(o.manifests, `${agent}.yaml`);
      // both files or neither: every check before the first write
      if (existsSync(credsPath) && !o.force) throw new CliError(`${credsPath} exists; use --force to overwrite`);
      if (!o.service && existsSync(manifestPath) && !o.force) throw new CliError(`${manifestPath} exists; use --force to overwrite`);
      mkdirSync(o.credsDir, { recursive: true, mode: 0o700 });
      if (o.service) {
        const s = generateServiceCreds(agent, credsPath);
        // the observer signs nothing: its key must not join the keys `audit verify` trusts
        if (agent === 'observer') return void console.log(`wrote ${credsPath} (nats user ${s.natsPublicKey}; keep it secret, mode 0600); give it to nats-config --observer-creds`);
        // nor does the system-account user (the auditor's connection follower)
        if (agent === 'system') return void console.log(`wrote ${credsPath} (nats user ${s.natsPublicKey}; keep it secret, mode 0600); give it to nats-config --system-creds and auditor --system-creds`);
        // its audit public key, where `audit verify --manifests DIR` finds it (DIR/services/)
        const pubPath = join(o.manifests, 'services', `${agent}.json`);
        writeServicePublicKey(s, pubPath);
        console.log(`wrote ${credsPath} (nats user ${s.natsPublicKey}; keep it secret, mode 0600) and ${pubPath} (its audit public key)`);
        return;
      }
      let id;
      try {
        id = generateIdentity(agent);
      } catch (e) {
        throw new CommanderError(2, 'agentbus.invalidArgument', (e as Error).message);
      }
      if (agent === D.MEMORY_SERVICE) {
        // the memory service: its agent identity, the manifest it needs (it answers anyone), and its KV-only NATS user
        const kvPath = join(o.credsDir, MEMORY_KV_CREDS);
        if (existsSync(kvPath) && !o.force) throw new CliError(`${kvPath} exists; use --force to overwrite`);
        saveCredentials(id, credsPath);
        mkdirSync(o.manifests, { recursive: true });
        writeFileSync(manifestPath, stringify(memoryManifest(id)));
        generateServiceCreds('memory', kvPath);
        console.log(`wrote ${credsPath} and ${kvPath} (keep both secret, mode 0600; the second is its JetStream KV user: give it to nats-config --memory-creds) and ${manifestPath}`);
        id.destroy();
        return;
      }
      saveCredentials(id, credsPath);
      mkdirSync(o.manifests, { recursive: true });
      const pub = id.publicManifest();
      writeFileSync(manifestPath, stringify({ agent, nats_user: pub.nats_user, keys: pub.keys, send: [], rate: { per_second: D.DEFAULT_RATE_PER_SECOND, burst: D.DEFAULT_BURST }, max_payload_bytes: D.DEFAULT_MAX_PAYLOAD_BYTES, max_depth: D.DEFAULT_MAX_DEPTH }));
      console.log(`wrote ${credsPath} (keep it secret, mode 0600) and ${manifestPath} (edit its send rules)`);
      id.destroy();
    });

  const manifest = program.command('manifest').description('work with agent manifests');
  manifest
    .command('check')
    .description('validate every manifest in a directory (and, with --contracts, that their types exist)')
    .argument('<dir>', 'manifests directory')
    .option('--contracts <module>', 'contracts module to check message types against')
    .action(async (dir: string, o: { contracts?: string }) => {
      const ms = loadManifestDir(dir);
      const agents = new Set(ms.map((m) => m.agent));
      for (const m of ms) {
        m.send.forEach((r, i) => {
          if (!r.to.includes('*') && !agents.has(r.to)) throw new CliError(`${join(dir, m.agent)} at send.${i}.to: no manifest for recipient ${r.to} in ${dir}`);
        });
      }
      if (o.contracts) {
        const reg = await loadContracts(o.contracts);
        for (const m of ms) for (const r of m.send) for (const t of r.types) if (!t.includes('*') && !reg.has(t)) throw new CliError(`${dir}/${m.agent}: send type ${t} has no contract in ${o.contracts}`);
      }
      console.log(`${ms.length} manifest(s) ok: ${ms.map((m) => m.agent).join(', ')}`);
    });

  tlsOptions(program.command('nats-config'), '--tls-dir')
    .description('generate the nats-server config (authorization from the manifests, JetStream on)')
    .requiredOption('--manifests <dir>', 'manifests directory')
    .requiredOption('--verifier-creds <file>', "verifier's service credential file")
    .requiredOption('--auditor-creds <file>', "auditor's service credential file")
    .option('--observer-creds <file>', "read-only observer's service credential file (agentbus tail: alerts and audit events, publishes nothing)")
    .option('--memory-creds <file>', "the memory service's KV credential (memory-kv.creds.json, written by `keygen memory`)")
    .option('--system-creds <file>', "the system-account user (`keygen system --service`): the auditor's --system-creds, for connect/disconnect events; only $SYS events and CONNZ")
    .option('--host <host>', 'listen address', '127.0.0.1')
    .addOption(new Option('--port <n>', 'client port').default(4222).argParser(int('--port')))
    .option('--store-dir <dir>', 'JetStream store directory', '.agentbus/jetstream')
    .addOption(new Option('--http-port <n>', 'monitoring port (/healthz, /varz)').argParser(int('--http-port')))
    .addOption(new Option('--partitions <n>', 'sender partitions (verifiers must use the same number)').default(D.DEFAULT_PARTITIONS).argParser(int('--partitions')))
    .option('--out <file>', 'write here instead of stdout')
    .addOption(new Option('--reload-pid <pid>', 'send SIGHUP to this nats-server pid after writing (reload without restart)').argParser(int('--reload-pid')))
    .option('--cluster', 'write one config per node of a cluster into --out-dir (routes, JetStream per node)')
    .addOption(new Option('--nodes <n>', 'cluster nodes').default(3).argParser(int('--nodes')))
    .addOption(new Option('--cluster-port <n>', 'route port (same on every node when they are separate hosts)').default(6222).argParser(int('--cluster-port')))
    .option('--route-hosts <hosts>', 'comma-separated host name of each node for the routes (e.g. nats1,nats2,nats3)')
    .option('--out-dir <dir>', 'with --cluster: write nats-1.conf … nats-N.conf here')
    .option('--tls-dir <dir>', 'with --tls and no --tls-cert: where the throwaway CA and server certificate go', '.agentbus/tls')
    .action((o: { manifests: string; verifierCreds: string; auditorCreds: string; observerCreds?: string; memoryCreds?: string; systemCreds?: string; host: string; port: number; httpPort?: number; partitions: number; storeDir: string; out?: string; reloadPid?: number; cluster?: boolean; nodes: number; clusterPort: number; routeHosts?: string; outDir?: string; tlsDir: string } & TlsCliOptions) => {
      // TLS and encryption at rest (the config names the key's variable, never the key)
      const tlsArg = tlsFromOptions(o);
      let tls: { certFile: string; keyFile: string; caFile?: string } | undefined;
      if (tlsArg === 'dev') {
        try {
          tls = makeDevCertificates(o.tlsDir, { hosts: [o.host, ...(o.cluster ? (o.routeHosts?.split(',') ?? []) : [])] });
        } catch (e) {
          throw new CliError((e as Error).message);
        }
        console.error(`TLS: throwaway CA ${tls.caFile} (clients trust it: nats.js tls: { caFile }, nats CLI --tlsca)`);
      } else tls = tlsArg;
      const secure = { ...(tls ? { tls } : {}), ...(o.encryptStore ? { encryptStore: true, jsKeyEnv: o.jsKeyEnv } : {}) };
      const services = () => ({ verifier: [loadServiceCreds(o.verifierCreds).natsPublicKey], auditor: [loadServiceCreds(o.auditorCreds).natsPublicKey], ...(o.observerCreds ? { observer: [loadServiceCreds(o.observerCreds).natsPublicKey] } : {}), ...(o.memoryCreds ? { memory: [loadServiceCreds(o.memoryCreds).natsPublicKey] } : {}), ...(o.systemCreds ? { system: [loadServiceCreds(o.systemCreds).natsPublicKey] } : {}) });
      if (o.encryptStore) console.error(`JetStream encrypted at rest: start nats-server with $${o.jsKeyEnv} set (32+ letters and digits, starting with a letter); keep the key: the store is unreadable without it`);
      if (o.cluster) {
        if (!o.outDir) throw new CommanderError(2, 'agentbus.invalidArgument', '--cluster needs --out-dir');
        const hosts = o.routeHosts?.split(',') ?? [];
        if (hosts.length && hosts.length !== o.nodes) throw new CommanderError(2, 'agentbus.invalidArgument', `--route-hosts lists ${hosts.length} hosts for ${o.nodes} nodes`);
        const same = hosts.length > 0; // separate hosts: same ports on each
        const nodes = clusterConfigs(loadManifestDir(o.manifests), services(), {
          nodes: o.nodes, host: o.host,
          ports: Array.from({ length: o.nodes }, (_, i) => (same ? o.port : o.port + i)),
          clusterPorts: Array.from({ length: o.nodes }, (_, i) => (same ? o.clusterPort : o.clusterPort + i)),
          storeDirs: Array.from({ length: o.nodes }, (_, i) => (same ? resolve(o.storeDir) : join(resolve(o.storeDir), `n${i + 1}`))),
          partitions: o.partitions,
          ...(o.httpPort ? { httpPorts: Array.from({ length: o.nodes }, (_, i) => (same ? o.httpPort! : o.httpPort! + i)) } : {}),
          ...(same ? { routeHosts: hosts } : {}),
          ...secure,
        });
        mkdirSync(o.outDir, { recursive: true });
        nodes.forEach((n, i) => writeFileSync(join(o.outDir!, `nats-${i + 1}.conf`), n.config));
        console.error(`wrote ${nodes.length} configs to ${o.outDir}`);
        return;
      }
      const text = serverConfig(loadManifestDir(o.manifests), services(), { host: o.host, port: o.port, storeDir: resolve(o.storeDir), partitions: o.partitions, ...(o.httpPort ? { httpPort: o.httpPort } : {}), ...secure });
      if (!o.out) return void process.stdout.write(text);
      writeFileSync(o.out, text);
      if (o.reloadPid) process.kill(o.reloadPid, 'SIGHUP');
      console.error(`wrote ${o.out}${o.reloadPid ? ` and reloaded nats-server ${o.reloadPid}` : ''}`);
    });

  program
    .command('verifier')
    .description('run the broker-side verifier (stops gracefully on SIGTERM/SIGINT)')
    .requiredOption('--manifests <dir>', 'manifests directory (reloaded on change)')
    .requiredOption('--contracts <module>', 'contracts module (JS/TS ESM exporting a registry or defineMessage values)')
    .requiredOption('--creds <file>', "verifier's service credential file")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated', 'nats://127.0.0.1:4222')
    .option('--id <id>', 'verifier instance id (default host-pid)')
    .addOption(new Option('--max-skew-ms <n>', 'accepted clock skew').default(D.DEFAULT_MAX_SKEW_MS).argParser(int('--max-skew-ms')))
    .addOption(new Option('--replay-window-ms <n>', 'how long accepted msg_ids are remembered (default 2 × skew + 5 s)').argParser(int('--replay-window-ms')))
    .addOption(new Option('--partitions <n>', 'sender partitions; must match nats-config --partitions').default(D.DEFAULT_PARTITIONS).argParser(int('--partitions')))
    .option('--depth-key-file <file>', 'shared MAC key of the depth tokens (32+ bytes; mode 0600); all verifiers must use the same one')
    .addOption(new Option('--replicas <n>', 'replicas of the audit stream and replay bucket').default(1).argParser(int('--replicas')))
    .addOption(new Option('--delivery-timeout-ms <ms>', 're-forward a direct message until its recipient confirms, for this long (≥ 100); then answer "unconfirmed"').default(1000).argParser((v) => {
      const n = int('--delivery-timeout-ms')(v);
      if (n < 100) throw new CommanderError(2, 'agentbus.invalidArgument', `--delivery-timeout-ms must be at least 100 (a recipient needs a round trip to confirm), got ${JSON.stringify(v)}`);
      return n;
    }))
    .addOption(new Option('--approval-timeout-ms <ms>', 'how long a tool call that needs approval is held before it is refused approval_timeout').default(120_000).argParser(int('--approval-timeout-ms')))
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server (agentbus dev --tls writes <state-dir>/tls/ca.pem)')
    .addOption(new Option('--metrics-port <n>', 'serve Prometheus /metrics, /healthz and /readyz on this port (0: off)').default(0).argParser((v) => {
      const n = int('--metrics-port')(v);
      if (n > 65535) throw new CommanderError(2, 'agentbus.invalidArgument', `--metrics-port must be a TCP port (0-65535), got ${JSON.stringify(v)}`);
      return n;
    }))
    .option('--metrics-host <host>', 'bind address of the metrics server', '127.0.0.1')
    .addOption(new Option('--verify-threads <n>', 'worker threads checking signatures off the event loop (0: inline; default 1 with 4+ cores, else 0)').argParser((v) => {
      const n = int('--verify-threads')(v);
      if (n > 64) throw new CommanderError(2, 'agentbus.invalidArgument', `--verify-threads must be 0-64, got ${JSON.stringify(v)}`);
      return n;
    }))
    .addOption(new Option('--quarantine-ms <ms>', 'first cool-down of a sender quarantined at NATS past its rejection budget (doubles while the flood lasts)').default(10_000).argParser(int('--quarantine-ms')))
    .addOption(new Option('--quarantine-max-ms <ms>', 'longest cool-down').default(600_000).argParser(int('--quarantine-max-ms')))
    .option('--no-quarantine', 'do not quarantine senders at NATS (they are still shed)')
    .action(async (o: { manifests: string; contracts: string; creds: string; nats: string; id?: string; maxSkewMs: number; replayWindowMs?: number; partitions: number; depthKeyFile?: string; replicas: number; deliveryTimeoutMs: number; approvalTimeoutMs: number; logLevel: string; metricsPort: number; metricsHost: string; tlsCa?: string; verifyThreads?: number; quarantine: boolean; quarantineMs: number; quarantineMaxMs: number }) => {
      const { startVerifier } = await import('./verifier.js');
      const contracts = await loadContracts(o.contracts);
      const logger = createLogger({ name: 'verifier', level: o.logLevel });
      let v;
      try {
        v = await startVerifier({
          servers: o.nats.split(','), credentials: loadServiceCreds(o.creds), manifestsDir: o.manifests, contracts, logger,
          maxSkewMs: o.maxSkewMs, partitions: o.partitions, replicas: o.replicas, deliveryTimeoutMs: o.deliveryTimeoutMs, approvalTimeoutMs: o.approvalTimeoutMs, ...(o.id ? { id: o.id } : {}),
          quarantine: o.quarantine, quarantineMs: o.quarantineMs, quarantineMaxMs: o.quarantineMaxMs,
          ...(o.replayWindowMs ? { replayWindowMs: o.replayWindowMs } : {}),
          ...(o.verifyThreads !== undefined ? { verifyThreads: o.verifyThreads } : {}),
          ...(o.depthKeyFile ? { depthKey: readSecretFile(o.depthKeyFile) } : {}),
          ...(o.metricsPort ? { metricsPort: o.metricsPort, metricsHost: o.metricsHost } : {}),
          connectOptions: { maxReconnectAttempts: -1, reconnectTimeWait: 250, ...(o.tlsCa ? { tls: { caFile: o.tlsCa } } : {}) },
        });
      } catch (e) {
        throw new CliError(`cannot start the verifier against ${o.nats}: ${(e as Error).message}`);
      }
      console.error(`verifier ${v.id} ready on ${o.nats}${v.metricsUrl ? `; metrics on ${v.metricsUrl}/metrics` : ''}`);
      await new Promise<void>((res) => {
        const stop = () => void v.drain().then(res, res);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  program
    .command('memory')
    .description('the memory service (DESIGN §13): an agent (`memory`) storing namespaces in JetStream KV behind signed memory.* requests')
    .requiredOption('--creds <file>', "the memory agent's credential file (agent id memory)")
    .requiredOption('--service-creds <file>', 'its KV service credential (a NATS user with memoryPermissions)')
    .option('--manifests <dir>', 'manifests directory (grants: each manifest\'s memory: section)', 'manifests')
    .option('--nats <urls>', 'NATS server URL(s), comma-separated', 'nats://127.0.0.1:4222')
    .addOption(new Option('--replicas <n>', 'replicas of the namespace buckets it creates (3 on a 3-node cluster)').default(1).argParser(int('--replicas')))
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o: { creds: string; serviceCreds: string; manifests: string; nats: string; replicas: number; logLevel: string }) => {
      const { startMemoryService } = await import('../memory/service.js');
      const s = await startMemoryService({ servers: o.nats.split(','), credentials: o.creds, serviceCreds: o.serviceCreds, manifestsDir: o.manifests, replicas: o.replicas, logger: createLogger({ name: 'memory', level: o.logLevel }) }).catch((e: Error) => {
        throw new CliError(`cannot start the memory service against ${o.nats}: ${e.message}`);
      });
      console.error(`memory service ready on ${o.nats}`);
      await new Promise<void>((res) => {
        const stop = () => void s.close().then(res, res);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  const keys = program.command('keys').description('rotate and revoke agent signing keys (live: no restart)');
  keys
    .command('rotate')
    .description("add a new signing key to the agent's credential file and manifest; old keys stay valid until revoked")
    .argument('<agent>', 'agent id')
    .option('--creds-dir <dir>', "credential files directory (default: the project's, or .agentbus/dev/creds)")
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .addOption(new Option('--grace-ms <n>', 'the new key is valid from now + this, so every verifier knows it first').default(5000).argParser(int('--grace-ms')))
    .addOption(new Option('--old-valid-for-ms <n>', 'end the old keys this long after now (default: until revoked)').argParser(int('--old-valid-for-ms')))
    .action(async (agent: string, opts: { credsDir?: string; manifests?: string; graceMs: number; oldValidForMs?: number }) => {
      const o = { ...opts, ...withLayoutDirs(opts) };
      const { rotateKey } = await import('./keys.js');
      const r = rotateKey({ credsPath: join(o.credsDir, `${agent}.creds.json`), manifestsDir: o.manifests, graceMs: o.graceMs, ...(o.oldValidForMs !== undefined ? { oldNotAfter: new Date(Date.now() + o.oldValidForMs) } : {}) });
      console.log(`${agent}: new key ${r.keyId} valid from ${r.notBefore.toISOString()}; old keys ${r.oldKeys.join(', ')} still valid (revoke with: agentbus keys revoke ${agent} KEYID)`);
    });
  keys
    .command('revoke')
    .description('revoke a key in the manifest (every verifier stops accepting it within a second)')
    .argument('<agent>', 'agent id')
    .argument('<keyid>', 'key id')
    .option('--creds-dir <dir>', 'also drop the key from this credential files directory')
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .action(async (agent: string, keyId: string, opts: { credsDir?: string; manifests?: string }) => {
      const o = { ...opts, manifests: opts.manifests ?? projectLayout().manifestsDir };
      const { revokeKey } = await import('./keys.js');
      revokeKey({ agent, keyId, manifestsDir: o.manifests, ...(o.credsDir ? { credsPath: join(o.credsDir, `${agent}.creds.json`) } : {}) });
      console.log(`${agent}: key ${keyId} revoked`);
    });

  keys
    .command('release')
    .description('end an agent\'s quarantine at NATS now (a sender past its rejection budget is cut off at NATS for a cool-down; this lets it back in)')
    .argument('<agent>', 'agent id')
    .option('--state-dir <dir>', "the dev bus's state directory: its verifier credential, and bus.json for the URL (default: the project's, else .agentbus/dev)")
    .option('--creds <file>', "a verifier's service credential file (default <state-dir>/creds/verifier.creds.json)")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server')
    .action(async (agent: string, o: { stateDir?: string; creds?: string; nats?: string; tlsCa?: string }) => {
      if (!D.AGENT_ID_RE.test(agent)) throw new CommanderError(2, 'agentbus.invalidArgument', `not an agent id: ${JSON.stringify(agent)}`);
      const l = projectLayout(o.stateDir);
      const { runningBus } = await import('./bus-state.js');
      const bus = runningBus(l.stateDir);
      const credsFile = o.creds ?? join(l.stateDir, 'creds', 'verifier.creds.json');
      if (!existsSync(credsFile)) throw new CliError(`${credsFile}: no such credential file (give --creds, a verifier's service credential)`);
      const servers = (o.nats ?? bus?.servers ?? 'nats://127.0.0.1:4222').split(',');
      const ca = o.tlsCa ?? bus?.tls_ca;
      const { connect, nkeyAuthenticator } = await import('@nats-io/transport-node');
      const { releaseQuarantine } = await import('./quarantine.js');
      let nc;
      try {
        nc = await connect({ servers, authenticator: nkeyAuthenticator(loadServiceCreds(credsFile).natsSeed()), inboxPrefix: '_INBOX_verifier', ...(ca ? { tls: { caFile: ca } } : {}) });
      } catch (e) {
        throw new CliError(`cannot connect to ${servers.join(',')}: ${(e as Error).message}`);
      }
      try {
        const r = await releaseQuarantine(nc, agent, `cli:${process.env.USER ?? 'operator'}`);
        if (r.released) console.log(`${agent}: released (was quarantined until ${new Date(r.previousUntil!).toISOString()}); it may connect again once the nats-server configs are reloaded`);
        else console.log(`${agent}: not quarantined${r.record ? ` (last quarantine ended ${new Date(r.record.until_ms).toISOString()})` : ''}`);
      } finally {
        await nc.close();
      }
    });

  tlsOptions(program.command('dev'), '<state-dir>/tls')
    .description('run a complete local bus: nats-server, verifier and auditor on embedded chDB (Ctrl-C stops all); inside a project (agentbus.json, from `agentbus init`) it runs that project, else the example scenario')
    .option('--state-dir <dir>', 'credentials, JetStream, the audit store and logs (default: the project\'s, else .agentbus/dev)')
    .option('--contracts <module>', 'contracts module (default: the project\'s, else the example scenario)')
    .option('--manifests <dir>', 'manifests directory (default: the project\'s, else <state-dir>/manifests)')
    .option('--policy <file>', 'policy file: agents without credentials get generated ones (default: the example scenario\'s, outside a project)')
    .addOption(new Option('--port <n>', 'client port (0: any free port)').default(4222).argParser(int('--port')))
    .addOption(new Option('--nodes <n>', 'nats-server nodes: 1, or a cluster (3: JetStream replicas 3)').default(1).argParser(int('--nodes')))
    .addOption(new Option('--metrics-port <n>', "serve the verifier's /metrics, /healthz, /readyz on this port and the auditor's on port + 1").default(0).argParser(int('--metrics-port')))
    .option('--no-auditor', 'run without the auditor')
    .option('--quiet', 'do not print rejections and alerts on this terminal (agentbus tail shows everything)')
    .action(async (o: { stateDir?: string; contracts?: string; manifests?: string; policy?: string; port: number; nodes: number; metricsPort: number; auditor: boolean; quiet?: boolean } & TlsCliOptions) => {
      const tlsArg = tlsFromOptions(o);
      const secure = { ...(tlsArg ? { tls: tlsArg === 'dev' ? true : tlsArg } : {}), ...(o.encryptStore ? { encryptStore: true, jsKeyEnv: o.jsKeyEnv } : {}) };
      const { startDevBus, DevBusError } = await import('./dev.js');
      const { defaultExampleDir, prepareExampleProject } = await import('./demo.js');
      const where = projectLayout(o.stateDir);
      const ex = defaultExampleDir();
      const example = !where.projectFile && !o.contracts && !o.manifests;
      const contractsPath = o.contracts ?? where.contracts ?? [join(ex, 'contracts.js'), join(ex, 'contracts.ts')].find((f) => existsSync(f))!;
      const contracts = await loadContracts(contractsPath);
      const manifestsDir = o.manifests ? resolve(o.manifests) : where.manifestsDir;
      const policy = o.policy ?? (example ? join(ex, 'policy.yaml') : undefined);
      const notify = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
      let bus;
      // One signal listener for the whole run, never removed and re-added: between a removal
      // and the next registration a Ctrl-C is lost (or kills the process with the bus half
      // stopped). While the bus starts, a signal is remembered (its parts are not stoppable
      // half-made: it finishes starting, then stops); after that it stops everything.
      let interrupted = false;
      let onStop: (() => void) | undefined;
      const onSignal = () => {
        if (onStop) onStop();
        else interrupted = true;
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        bus = await startDevBus({
          stateDir: where.stateDir, manifestsDir, contracts, contractsFile: contractsPath, loadContracts: importContracts, notify,
          withAuditor: o.auditor, port: o.port, nodes: o.nodes, metricsPort: o.metricsPort, ...(policy ? { policyFile: policy } : {}), ...secure,
          // the example's tool rules name its project directory
          ...(example ? { policyVars: { AGENTBUS_PROJECT: prepareExampleProject(where.stateDir) } } : {}),
        });
      } catch (e) {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        if (e instanceof DevBusError) throw new CliError(e.message);
        throw new CliError(`cannot start the dev bus: ${(e as Error).message}`);
      }
      if (interrupted) {
        await bus.stop();
        console.log('stopped');
        return;
      }
      const started = bus;
      console.log(devBanner(bus, { project: where.projectFile, example, contractsPath, metricsPort: o.metricsPort, jsKeyEnv: o.jsKeyEnv }));
      // the terminal is not silent: every rejection and alert, one line each (at most 10 a second)
      const watch: Promise<{ stop(): Promise<void> } | undefined> = o.quiet
        ? Promise.resolve(undefined)
        : watchOnTerminal(bus).catch((e: Error) => void notify(`not watching rejections and alerts: ${e.message}`));
      // Ctrl-C from here on stops everything, also while the watch is still starting: the
      // watch gets a bounded time to start and to stop, then the bus stops; a second Ctrl-C
      // while stopping changes nothing (every stop step is bounded too)
      await new Promise<void>((res) => {
        const bounded = <T,>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<undefined>((r) => void (setTimeout(r, ms) as unknown as NodeJS.Timeout).unref())]);
        onStop = () => {
          onStop = () => undefined;
          void bounded(watch, 3000)
            .then((w) => (w ? bounded(w.stop(), 3000) : undefined))
            .then(() => started.stop())
            .then(res, res);
        };
      });
      console.log('stopped');
      // everything is stopped; a client still reconnecting (a watch that never finished
      // starting) must not keep the process alive
      setTimeout(() => process.exit(), 2000).unref();
    });

  program
    .command('tail')
    .description('watch the bus live: every verdict (one line each) and every alert, as the read-only observer (Ctrl-C stops)')
    .option('--agent <id>', 'only messages this agent sent or was sent (and alerts naming it)')
    .option('--verdict <list>', 'only these verdicts: accepted, rejected, duplicate, shed (comma-separated or repeated; rejected includes shed)', (v: string, prev: string[] | undefined) => [...(prev ?? []), ...v.split(',').map((x) => x.trim()).filter(Boolean)])
    .option('--alerts-only', 'only alerts, no verdicts')
    .option('--json', 'one JSON object per line (kind: verdict | alert)')
    .option('--state-dir <dir>', "the dev bus's state directory: its observer credential, and bus.json for the URL (default: the project's, else .agentbus/dev)")
    .option('--creds <file>', "observer's service credential file (default <state-dir>/creds/observer.creds.json)")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server (agentbus dev --tls writes <state-dir>/tls/ca.pem)')
    .action(async (opts: { agent?: string; verdict?: string[]; alertsOnly?: boolean; json?: boolean; stateDir?: string; creds?: string; nats?: string; tlsCa?: string }) => {
      const { runTail, checkTailArguments, TailError } = await import('./tail.js');
      const o = { ...opts, stateDir: projectLayout(opts.stateDir).stateDir };
      try {
        checkTailArguments(o);
      } catch (e) {
        throw new CommanderError(2, 'agentbus.invalidArgument', (e as Error).message);
      }
      try {
        await runTail(o);
      } catch (e) {
        if (e instanceof TailError) throw new CliError(e.message);
        throw e;
      }
    });

  program
    .command('approve')
    .description('tool calls held for approval: list them (no msg_id), or approve one (--deny to deny it), signed as an agent whose manifest has approve:')
    .argument('[msg_id]', 'the held call to decide (32 hex); without it: list the held calls')
    .option('--deny', 'deny the call instead of approving it')
    .option('--reason <text>', 'why (recorded in the audit trail; at most 500 characters)')
    .option('--as <agent>', "approve as this agent: its credential file in the project's credentials directory")
    .option('--creds <file>', "the approver's credential file (instead of --as)")
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .option('--nats <urls>', 'NATS server URL(s) (default: the running dev bus, else nats://127.0.0.1:4222)')
    .addOption(new Option('--wait-ms <n>', 'how long to listen for held calls (they are announced every second)').default(2500).argParser(int('--wait-ms')))
    .option('--json', 'print JSON')
    .action(async (msgId: string | undefined, o: { deny?: boolean; reason?: string; as?: string; creds?: string; manifests?: string; nats?: string; waitMs: number; json?: boolean }) => {
      if (msgId !== undefined && !/^[0-9a-f]{32}$/.test(msgId)) throw new CommanderError(2, 'agentbus.invalidArgument', `msg_id must be 32 lower-case hex characters, got ${JSON.stringify(msgId)}`);
      if (!o.as === !o.creds) throw new CommanderError(2, 'agentbus.invalidArgument', 'give --as AGENT or --creds FILE (the approver)');
      if (msgId === undefined && (o.deny || o.reason)) throw new CommanderError(2, 'agentbus.invalidArgument', '--deny and --reason go with a msg_id');
      if (o.reason && o.reason.length > 500) throw new CommanderError(2, 'agentbus.invalidArgument', '--reason: at most 500 characters');
      const l = projectLayout();
      const { runningBus } = await import('./bus-state.js');
      const bus = runningBus(l.stateDir);
      const opts = {
        servers: (o.nats ?? bus?.servers ?? 'nats://127.0.0.1:4222').split(','),
        credsFile: o.creds ?? join(l.credsDir, `${o.as}.creds.json`),
        manifestsDir: o.manifests ?? bus?.manifests_dir ?? l.manifestsDir,
        waitMs: o.waitMs,
        ...(bus?.tls_ca ? { connectOptions: { tls: { caFile: bus.tls_ca } } } : {}),
      };
      if (!existsSync(opts.credsFile)) throw new CliError(`${opts.credsFile}: no such credential file`);
      const { listPending, decideApproval, ApproveError } = await import('./approve.js');
      try {
        if (msgId === undefined) {
          const held = await listPending(opts);
          if (o.json) console.log(JSON.stringify(held, null, 2));
          else if (!held.length) console.log('no tool calls are held for approval');
          else for (const n of held) console.log(`${n.msg_id}  ${n.caller} → ${n.server}.${n.tool}  ${n.args}  (held since ${n.held_at}, expires ${n.expires_at})`);
          return;
        }
        const r = await decideApproval({ ...opts, msgId, approve: !o.deny, ...(o.reason ? { reason: o.reason } : {}) });
        if (o.json) console.log(JSON.stringify({ msg_id: msgId, decision: o.deny ? 'denied' : 'approved', applied: r.result.delivered, approval_msg_id: r.result.msgId }));
        else console.log(`${o.deny ? 'denied' : 'approved'} ${msgId} (${r.notice.caller} → ${r.notice.server}.${r.notice.tool}); approval ${r.result.msgId}${r.result.delivered ? '' : ' — but no verifier held the call any more'}`);
        if (!r.result.delivered) process.exitCode = 1;
      } catch (e) {
        if (e instanceof ApproveError || (e as Error).name === 'RejectedError') throw new CliError((e as Error).message);
        throw e;
      }
    });

  const policyCmd = program.command('policy').description('test tool-call policies without a bus');
  policyCmd
    .command('check')
    .description("a tool call's verdict from the manifests alone, with the verifier's checks (tool listed, pinned schema, argument constraints); exit 0 allowed, 1 refused, 2 usage")
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .requiredOption('--agent <agent>', 'the calling agent')
    .requiredOption('--tool <server.tool>', 'the tool, as SERVER.TOOL (e.g. fs.read_text_file)')
    .option('--args <json>', 'the arguments: a JSON object, @FILE, or - (stdin)', '{}')
    .option('--json', 'print the verdict as one JSON object')
    .action(async (o: { manifests?: string; agent: string; tool: string; args: string; json?: boolean }) => {
      const dot = o.tool.indexOf('.');
      if (dot <= 0 || dot === o.tool.length - 1) throw new CommanderError(2, 'agentbus.invalidArgument', `--tool must be SERVER.TOOL, got ${JSON.stringify(o.tool)}`);
      let text = o.args;
      try {
        if (text === '-') text = readFileSync(0, 'utf8');
        else if (text.startsWith('@')) text = readFileSync(text.slice(1), 'utf8');
      } catch (e) {
        throw new CommanderError(2, 'agentbus.invalidArgument', `--args: cannot read ${text} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      let args: unknown;
      try {
        args = JSON.parse(text);
      } catch (e) {
        throw new CommanderError(2, 'agentbus.invalidArgument', `--args must be JSON: ${(e as Error).message.split('\n')[0]}`);
      }
      const { checkPolicy } = await import('./policy-check.js');
      const manifestsDir = o.manifests ?? projectLayout().manifestsDir;
      const v = checkPolicy({ manifestsDir, agent: o.agent, server: o.tool.slice(0, dot), tool: o.tool.slice(dot + 1), args });
      if (o.json) console.log(JSON.stringify(v));
      else {
        console.log(v.verdict === 'allowed' ? `allowed${v.approval ? ', held for approval' : ''}` : `refused: ${v.reason}${v.argument ? ` ${v.argument}` : ''}: ${v.detail}`);
        for (const n of v.notes) console.error(`note: ${n}`);
      }
      if (v.verdict === 'refused') process.exitCode = 1;
    });

  program
    .command('guard')
    .description('content guards: invisible text, control characters and credentials in a payload, as the verifier finds them')
    .command('scan')
    .description('scan a payload (UTF-8 JSON, walked string by string; else one string); exit 0 clean, 1 findings, 2 usage')
    .argument('[file]', 'the payload file, or - for stdin', '-')
    .option('--json', 'print { "findings": [...], "clean": bool }')
    .action(async (file: string, o: { json?: boolean }) => {
      if (file === '-' && process.stdin.isTTY) throw new CommanderError(2, 'agentbus.invalidArgument', 'give a FILE, or pipe the payload into - (stdin)');
      const { runGuardScan, GuardScanError } = await import('./guard-cli.js');
      try {
        process.exitCode = runGuardScan({ file, ...o });
      } catch (e) {
        throw e instanceof GuardScanError ? new CliError(e.message) : e;
      }
    });

  program
    .command('demo')
    .description('run the example scenario on a dev bus: a team of agents, one prompt-injected, every attack shown')
    .option('--json', 'print the summary as one JSON object (progress goes to stderr)')
    .option('--state-dir <dir>', 'where the bus keeps its state (default: a new temp dir)')
    .action(async (o: { json?: boolean; stateDir?: string }) => {
      const { runDemo, printSummary } = await import('./demo.js');
      const { DevBusError } = await import('./dev.js');
      const print = o.json ? (l: string) => process.stderr.write(l + '\n') : (l: string) => console.log(l);
      let s;
      try {
        s = await runDemo({ print, ...(o.stateDir ? { stateDir: o.stateDir } : {}) });
      } catch (e) {
        if (e instanceof DevBusError) throw new CliError(e.message);
        throw e;
      }
      if (o.json) console.log(JSON.stringify(s));
      else printSummary(s);
      if (s.attacks.some((a) => !a.blocked) || (s.audit.findings ?? 0) > 0) process.exitCode = 1;
    });

  mcpCommands(program);
  return program;
}

/** The bus to connect to: --nats, else the running dev bus's (<state-dir>/bus.json), else the default port. */
async function busEndpoint(o: { nats?: string; stateDir?: string; tlsCa?: string; manifests?: string }): Promise<{ servers: string[]; manifestsDir: string; connectOptions?: Record<string, unknown> }> {
  const { runningBus } = await import('./bus-state.js');
  const where = projectLayout(o.stateDir);
  const bus = runningBus(where.stateDir);
  const servers = (o.nats ?? bus?.servers ?? 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()).filter(Boolean);
  const ca = o.tlsCa ?? (o.nats ? undefined : bus?.tls_ca);
  return { servers, manifestsDir: resolve(o.manifests ?? bus?.manifests_dir ?? where.manifestsDir), ...(ca ? { connectOptions: { tls: { caFile: ca } } } : {}) };
}

function agentName(v: string): string {
  if (!D.AGENT_ID_RE.test(v)) throw new CommanderError(2, 'agentbus.invalidArgument', `agent ids match [a-z0-9][a-z0-9_-]{0,63}, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * `agentbus mcp pin|serve|proxy` (DESIGN §11). The MCP server's command line comes last, after
 * `--` (or after the first word that is not one of our options): options after it are its own.
 */
function mcpCommands(program: Command): void {
  // options after a subcommand belong to it (so `--version` after the server command is the server's)
  program.enablePositionalOptions();
  const mcp = program.command('mcp').description('tool servers on the bus (MCP): pin a server\'s tools, serve them as an agent, use them from any MCP client').enablePositionalOptions();
  const toolErrors = async <T>(f: () => Promise<T>): Promise<T> => {
    const { PinError } = await import('../mcp/pin.js');
    const { ToolServerError } = await import('../mcp/serve.js');
    const { McpStartError } = await import('../mcp/definitions.js');
    try {
      return await f();
    } catch (e) {
      if (e instanceof PinError || e instanceof ToolServerError || e instanceof McpStartError) throw new CliError(e.message);
      throw e;
    }
  };
  const timeoutOption = () => new Option('--call-timeout-ms <n>', 'how long one tool call may take').argParser(int('--call-timeout-ms'));

  mcp
    .command('pin')
    .description("start an MCP server, list its tools and pin them (name, description, input schema, sha256) in the agent's manifest, with the send rule its replies need")
    .requiredOption('--agent <name>', 'the tool server agent (its manifest must exist: agentbus keygen NAME)', agentName)
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .argument('<command...>', 'the MCP server command line (stdio), after --')
    .passThroughOptions()
    .action(async (command: string[], opts: { agent: string; manifests?: string }) => {
      const { pinServer, pinSummary } = await import('../mcp/pin.js');
      const manifestsDir = opts.manifests ?? projectLayout().manifestsDir;
      const r = await toolErrors(() => pinServer({ agent: opts.agent, manifestsDir, command }));
      console.log(pinSummary(opts.agent, r));
    });

  mcp
    .command('serve')
    .description('run an MCP server as a bus agent: refuses tools that differ from the pinned ones; answers each tool.<agent>.<tool> call with a tool.result reply (Ctrl-C stops)')
    .requiredOption('--agent <name>', 'the tool server agent', agentName)
    .option('--creds <file>', "its credential file (default: <creds-dir>/<agent>.creds.json, the project's or .agentbus/dev/creds)")
    .option('--manifests <dir>', "manifests directory: the agent's pinned tools and its callers' path roots (default: the running dev bus's, the project's, or .agentbus/dev/manifests)")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--state-dir <dir>', "the dev bus's state directory (bus.json; default: the project's, else .agentbus/dev)")
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server')
    .addOption(timeoutOption().default(60_000))
    .argument('<command...>', 'the MCP server command line (stdio), after --')
    .passThroughOptions()
    .action(async (command: string[], opts: { agent: string; creds?: string; manifests?: string; nats?: string; stateDir?: string; tlsCa?: string; callTimeoutMs: number }) => {
      const { startToolServer } = await import('../mcp/serve.js');
      const where = await busEndpoint(opts);
      const creds = opts.creds ?? join(withLayoutDirs({ manifests: where.manifestsDir }).credsDir, `${opts.agent}.creds.json`);
      if (!existsSync(creds)) throw new CliError(`no credential file ${creds} (agentbus keygen ${opts.agent}, or --creds FILE)`);
      const s = await toolErrors(async () => {
        try {
          return await startToolServer({ agent: opts.agent, credentials: creds, manifestsDir: where.manifestsDir, servers: where.servers, command, callTimeoutMs: opts.callTimeoutMs, ...(where.connectOptions ? { connectOptions: where.connectOptions } : {}) });
        } catch (e) {
          if (e instanceof Error && /ECONNREFUSED|CONNECTION_REFUSED|timeout/i.test(e.message)) throw new CliError(`cannot reach the bus at ${where.servers.join(',')}: is it running (agentbus dev)? (${e.message})`);
          throw e;
        }
      });
      console.error(`${opts.agent}: serving ${s.tools.length} tool(s) of \`${command.join(' ')}\` on ${where.servers.join(',')} (${s.tools.join(', ')}); Ctrl-C stops`);
      const stop = () => void s.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const why = await s.done;
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      if (why !== 'stopped') throw new CliError(why);
    });

  mcp
    .command('proxy')
    .description("a local stdio MCP server exposing a tool server's pinned tools; calls go through the bus signed as the credential file's agent (point any MCP client at this command)")
    .requiredOption('--server <name>', 'the tool server (agent) whose tools to expose', agentName)
    .option('--creds <file>', "the calling agent's credential file")
    .option('--agent <name>', 'or: the calling agent, whose credential file is <creds-dir>/<agent>.creds.json', agentName)
    .option('--manifests <dir>', "manifests directory (default: the running dev bus's, the project's, or .agentbus/dev/manifests)")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--state-dir <dir>', "the dev bus's state directory (bus.json; default: the project's, else .agentbus/dev)")
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server')
    .addOption(timeoutOption().default(30_000))
    .action(async (opts: { server: string; creds?: string; agent?: string; manifests?: string; nats?: string; stateDir?: string; tlsCa?: string; callTimeoutMs: number }) => {
      if (!opts.creds === !opts.agent) throw new CommanderError(2, 'agentbus.invalidArgument', 'give the calling agent: --creds FILE or --agent NAME (one of them)');
      const { startProxy } = await import('../mcp/proxy.js');
      const where = await busEndpoint(opts);
      const creds = opts.creds ?? join(withLayoutDirs({ manifests: where.manifestsDir }).credsDir, `${opts.agent}.creds.json`);
      if (!existsSync(creds)) throw new CliError(`no credential file ${creds}`);
      let p;
      try {
        p = await startProxy({ credentials: creds, server: opts.server, manifestsDir: where.manifestsDir, servers: where.servers, callTimeoutMs: opts.callTimeoutMs, ...(where.connectOptions ? { connectOptions: where.connectOptions } : {}) });
      } catch (e) {
        if ((e as Error).name === 'CredentialError') throw e;
        throw new CliError(`cannot start the proxy for ${opts.server}: ${(e as Error).message}`);
      }
      const stop = () => void p.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await p.done;
    });
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    const auditorCli = '../auditor/cli.js';
    const mod = (await import(auditorCli).catch(() => ({}))) as { registerAuditorCommands?: (p: Command) => void };
    mod.registerAuditorCommands?.(program);
  } catch {
    /* the auditor is optional for the CLI's other commands */
  }
  // every command at every depth: commander errors become exceptions (exit 2 below), one line each
  const out = { writeErr: (s: string) => process.stderr.write(s.split('\n')[0] + '\n') };
  const override = (c: Command): void => {
    c.exitOverride();
    c.configureOutput(out);
    c.commands.forEach(override);
  };
  override(program);
  try {
    process.exitCode = undefined;
    await program.parseAsync(argv);
    // an action may have set a failing exit code (a failed check); keep it
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if ((e as Error).name === 'CheckFailed') return 1; // its findings are printed already
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.code === 'agentbus.invalidArgument') process.stderr.write(`agentbus: error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof ManifestError || e instanceof CliError || (e as Error).name === 'CredentialError') {
      process.stderr.write(`agentbus: ${(e as Error).message}\n`);
      return 1;
    }
    process.stderr.write(`agentbus: ${(e as Error).message ?? String(e)}\n`);
    return 1;
  }
}

// Run when executed directly — also through the npm bin symlink (`npx agentbus`).
const isMain = (() => {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
})();
if (isMain) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
