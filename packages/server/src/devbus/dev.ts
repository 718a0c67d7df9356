// `agentbus dev`: a complete local bus in one process tree — nats-server (child process, free
// loopback port, generated config, JetStream in the state directory), the verifier and the
// auditor on embedded chDB — stopped cleanly on Ctrl-C. Manifest changes regenerate the
// nats-server config and reload it without a restart.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify, parse as parseYaml } from 'yaml';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { generateIdentity, saveCredentials } from '@agentbus/sdk/internal';
import type { ContractRegistry } from '@agentbus/sdk/internal';
import { createLogger } from '@agentbus/sdk/internal';
import { loadManifestDir, dirSignature, monitorAgents } from '@agentbus/protocol/manifest';
import { serverConfig, clusterConfigs } from '../common/natsconfig.js';
import type { TlsFiles } from '../common/natsconfig.js';
import {
  makeDevCertificates,
  natsTlsOptions,
  checkKeyEnvName,
  checkStoreKey,
  generateStoreKey,
  withEnv,
  DEFAULT_JS_KEY_ENV,
  GENERATED_KEY_MARKER,
  TlsSetupError,
} from '../common/tls.js';
import { generateServiceCreds, loadServiceCreds, writeServicePublicKey } from '../common/service-creds.js';
import type { ServiceIdentity } from '../common/service-creds.js';
import { natsServerVersion, spawnNatsServer, freePort } from '../common/nats-process.js';
import type { NatsProcess } from '../common/nats-process.js';
import { startVerifier } from '../verifier/verifier.js';
import { followQuarantine } from '../common/quarantine.js';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { Verifier } from '../verifier/verifier.js';
import type { Auditor } from '../auditor/service.js';
import type { A2aGateway } from '../a2a/serve.js';
import type { Console } from '../console/server.js';
import type { AuditorConfigInput } from '../auditor/config.js';
import { lockStateDir, writeBusInfo, StateLockError, reapOrphanNatsServers, writeNatsPids, NATS_PIDS_FILE } from '../common/bus-state.js';
import type { BusInfo } from '../common/bus-state.js';
import { createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { statSync } from 'node:fs';

/** How long one part of the dev bus may take to stop before `stop()` goes on without it. */
const STOP_STEP_MS = 10_000;

export interface DevBusOptions {
  stateDir: string;
  contracts: ContractRegistry;
  /** Manifests directory; default <stateDir>/manifests. */
  manifestsDir?: string;
  /** A policy file (agents → send rules, no keys): agents without credentials get generated ones. */
  policyFile?: string;
  /** Values for ${NAME} placeholders in the policy file. */
  policyVars?: Record<string, string>;
  /** Client port of the single node (default: a free one; the CLI defaults to 4222). */
  port?: number;
  /** The contracts module `contracts` came from: reloaded into the verifier when it changes. */
  contractsFile?: string;
  /** Load a contracts module (the CLI's loader); needed with contractsFile. */
  loadContracts?: (file: string) => Promise<ContractRegistry>;
  /** Lines for the terminal: reloads, and (when set) what the caller wants to show. */
  notify?: (line: string) => void;
  /** Serve the verifier's Prometheus metrics on this port and the auditor's on port + 1. */
  metricsPort?: number;
  /** nats-server nodes: 1 (default) or a cluster, e.g. 3 (JetStream R3). */
  nodes?: number;
  withAuditor?: boolean;
  /** Start the in-process verifier (default true; chaos runs its own verifier processes). */
  /**
   * Quarantine flooding senders at NATS (common/quarantine.ts; default true). `agentbus demo` turns
   * it off: its scripted attacker floods and then goes on with the later acts.
   */
  quarantine?: boolean;
  withVerifier?: boolean;
  /** Start the memory service (default: with the verifier). */
  withMemory?: boolean;
  /** The A2A gateway's config file (docs/a2a.md): when set, the gateway is prepared and started with the verifier. */
  a2aConfig?: string;
  /** Auditor options passed through (e.g. detect thresholds for the demo). */
  auditor?: AuditorConfigInput;
  logger?: Logger;
  logLevel?: string;
  /**
   * TLS on client connections and cluster routes (plaintext clients are refused): true makes a
   * throwaway CA and server certificate in <stateDir>/tls with openssl; or your own files.
   */
  tls?: boolean | { certFile: string; keyFile: string; caFile?: string };
  /**
   * JetStream encryption at rest (nats-server cipher chachapoly). The key is $jsKeyEnv if set,
   * else a random key put only in nats-server's environment (never on disk; such a store is
   * started afresh on the next run, as nothing can read it).
   */
  encryptStore?: boolean;
  /** Default AGENTBUS_JS_KEY. */
  jsKeyEnv?: string;
  /**
   * Serve the console (docs/console.md) on loopback: port (0: any free one), and the approver agent
   * whose credentials it uses (default: the first agent with an `approve:` list and a credential
   * file here; false: no approvals).
   */
  console?: { port?: number; approver?: string | false };
}

export interface DevBus {
  /** Comma-separated server URLs (one per node). */
  url: string;
  urls: string[];
  depthKeyPath: string;
  replicas: number;
  killNode(i: number): Promise<void>;
  startNode(i: number): Promise<void>;
  stateDir: string;
  logFile: string;
  /** The read-only query endpoint of the audit store (`agentbus audit …` reads the live store through it). */
  queryUrl: string;
  /** What bus.json says (servers, creds and manifests dirs, store, query endpoint). */
  info: BusInfo;
  manifestsDir: string;
  storePath: string;
  nats: NatsProcess;
  verifier: Verifier;
  auditor: Auditor | undefined;
  /** The A2A gateway, when the project enables it. */
  a2a: A2aGateway | undefined;
  credsPath(agent: string): string;
  verifierCreds: ServiceIdentity;
  auditorCreds: ServiceIdentity;
  /** The read-only observer (`agentbus tail`): <stateDir>/creds/observer.creds.json. */
  observerCreds: ServiceIdentity;
  /** The TLS files nats-server uses (undefined without TLS); clients trust `caFile`. */
  tls: { caFile?: string; certFile: string; keyFile: string } | undefined;
  /** nats.js options every client of this bus needs (the CA with TLS): pass as connectAgent's connectOptions. */
  connectOptions: Record<string, unknown>;
  /** The console, when started (DevBusOptions.console). */
  console: Console | undefined;
  /** JetStream is encrypted at rest; `jsKeyGenerated`: with a key that exists only in nats-server's environment. */
  storeEncrypted: boolean;
  jsKeyGenerated: boolean;
  stop(): Promise<void>;
}

export class DevBusError extends Error {
  override name = 'DevBusError';
}

function ownTlsFiles(t: TlsFiles): TlsFiles {
  for (const f of [t.certFile, t.keyFile, t.caFile]) if (f && !existsSync(f)) throw new DevBusError(`TLS file not found: ${f}`);
  return { certFile: resolve(t.certFile), keyFile: resolve(t.keyFile), ...(t.caFile ? { caFile: resolve(t.caFile) } : {}) };
}

export async function startDevBus(o: DevBusOptions): Promise<DevBus> {
  const v = natsServerVersion();
  if (!v.ok) throw new DevBusError(v.message);
  const stateDir = resolve(o.stateDir);
  // one dev bus per state directory: a second would rewrite the running one's nats.conf
  let unlock: () => void;
  try {
    unlock = lockStateDir(stateDir);
  } catch (e) {
    throw e instanceof StateLockError ? new DevBusError(e.message) : e;
  }
  try {
    // a dev bus of this directory that was killed (not stopped) left its nats-servers running,
    // on the same JetStream store: stop them before anything starts
    const reaped = await reapOrphanNatsServers(stateDir);
    if (reaped.length) o.notify?.(`stopped ${reaped.length} nats-server(s) left running by a dev bus that was killed (pid ${reaped.join(', ')})`);
    return await startLocked(o, stateDir, unlock);
  } catch (e) {
    unlock();
    throw e;
  }
}

/** Is this TCP port free on loopback? */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

async function startLocked(o: DevBusOptions, stateDir: string, unlock: () => void): Promise<DevBus> {
  // TLS and encryption at rest first: their mistakes are reported before anything starts.
  const storeCount = Math.max(1, o.nodes ?? 1);
  const storeDirs = Array.from({ length: storeCount }, (_, i) => join(stateDir, storeCount === 1 ? 'jetstream' : `jetstream-${i + 1}`));
  const tlsStep = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw e instanceof TlsSetupError ? new DevBusError(e.message) : e;
    }
  };
  // Encryption at rest: the key from $jsKeyEnv, checked, or generated into nats-server's environment.
  const jsKeyEnv = o.jsKeyEnv ?? DEFAULT_JS_KEY_ENV;
  if (o.encryptStore) {
    tlsStep(() => checkKeyEnvName(jsKeyEnv));
    if (process.env[jsKeyEnv] !== undefined) tlsStep(() => checkStoreKey(jsKeyEnv, process.env[jsKeyEnv]));
  }
  // A store encrypted with a generated key is unreadable once its run ended (the key was never
  // stored anywhere): start it afresh.
  for (const d of storeDirs) if (existsSync(join(d, GENERATED_KEY_MARKER))) rmSync(d, { recursive: true, force: true });
  let childEnv: Record<string, string> = {};
  if (o.encryptStore && process.env[jsKeyEnv] === undefined) {
    childEnv = { [jsKeyEnv]: generateStoreKey() };
    for (const d of storeDirs) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, GENERATED_KEY_MARKER), 'encrypted with a generated key that was never stored: unreadable after its run\n');
    }
  }
  const encryption = o.encryptStore ? { encryptStore: true, jsKeyEnv } : {};
  // TLS: the given files, or a throwaway local CA and server certificate in <stateDir>/tls.
  const tls: TlsFiles | undefined = o.tls
    ? tlsStep(() => (o.tls === true ? makeDevCertificates(join(stateDir, 'tls')) : ownTlsFiles(o.tls as TlsFiles)))
    : undefined;
  const connectOptions: Record<string, unknown> = tls ? natsTlsOptions(tls.caFile ? { caFile: tls.caFile } : {}) : {};
  const manifestsDir = resolve(o.manifestsDir ?? join(stateDir, 'manifests'));
  const credsDir = join(stateDir, 'creds');
  mkdirSync(manifestsDir, { recursive: true });
  mkdirSync(credsDir, { recursive: true, mode: 0o700 });
  // Logs go to a file in the state directory so the terminal stays readable.
  const logFile = join(stateDir, 'agentbus.log');
  const log =
    o.logger ?? createLogger({ name: 'dev', level: o.logLevel ?? 'info', destination: pino.destination({ dest: logFile, sync: false, mkdir: true }) });
  if (o.policyFile) materializePolicy(o.policyFile, manifestsDir, credsDir, o.policyVars ?? {});
  const svc = (name: string) => {
    const p = join(credsDir, `${name}.creds.json`);
    return existsSync(p) ? loadServiceCreds(p) : generateServiceCreds(name, p);
  };
  const verifierCreds = svc('verifier');
  const auditorCreds = svc('auditor');
  const observerCreds = svc('observer');
  // the system-account user of the auditor's connection follower ($SYS connect/disconnect events)
  const systemCreds = svc('system');
  // the verifier's audit public key, where `audit verify --manifests DIR` looks (DIR/services/)
  writeServicePublicKey(verifierCreds, join(manifestsDir, 'services', 'verifier.json'));
  // the memory service (docs/design.md §13): an agent of its own, and the only user with the KV permissions
  const withMemory = o.withMemory ?? o.withVerifier !== false;
  const { prepareMemoryForDev, startMemoryForDev } = await import('../memory/dev.js');
  const mem = withMemory ? prepareMemoryForDev({ manifestsDir, credsDir }) : undefined;
  // the A2A gateway (docs/design.md §17): its identity, card key, manifest and config, made when missing
  const a2aDev = o.a2aConfig && o.withVerifier !== false ? await import('../a2a/dev.js') : undefined;
  if (a2aDev && o.a2aConfig) {
    const r = a2aDev.prepareA2a({ manifestsDir, credsDir, configFile: o.a2aConfig });
    if (r.created.length) o.notify?.(`A2A gateway ${r.agent}: made ${r.created.join(', ')}`);
  }
  const services = {
    verifier: [verifierCreds.natsPublicKey],
    auditor: [auditorCreds.natsPublicKey],
    observer: [observerCreds.natsPublicKey],
    system: [systemCreds.natsPublicKey],
    ...(mem ? { memory: [mem.kvNkey] } : {}),
  };
  // One node, or a cluster of `nodes` on free loopback ports (JetStream R3 with 3+ nodes).
  const nodes = Math.max(1, o.nodes ?? 1);
  if (nodes === 1 && o.port && !(await portFree(o.port))) {
    throw new DevBusError(`port ${o.port} is in use (another nats-server or agentbus dev?); stop it, or pick another: --port N (--port 0: any free port)`);
  }
  const ports = nodes === 1 && o.port ? [o.port] : await Promise.all(Array.from({ length: nodes }, () => freePort()));
  const clusterPorts = nodes > 1 ? await Promise.all(Array.from({ length: nodes }, () => freePort())) : [];
  const configPaths = ports.map((_, i) => join(stateDir, nodes === 1 ? 'nats.conf' : `nats-${i + 1}.conf`));
  // the generated key goes into nats-server's environment only (spawnNatsServer spawns synchronously)
  const spawnNode = (i: number) => withEnv(childEnv, () => spawnNatsServer(configPaths[i]!));
  // agents quarantined at NATS now (common/quarantine.ts: the follower below keeps this in step)
  let quarantined: string[] = [];
  const writeConfigs = () => {
    const manifests = loadManifestDir(manifestsDir);
    if (nodes === 1) {
      writeFileSync(
        configPaths[0]!,
        serverConfig(manifests, services, {
          port: ports[0]!,
          storeDir: storeDirs[0]!,
          serverName: 'agentbus_dev',
          ...(tls ? { tls } : {}),
          ...encryption,
          quarantined,
        }),
      );
      return;
    }
    const cfgs = clusterConfigs(manifests, services, {
      nodes,
      ports,
      clusterPorts,
      storeDirs,
      name: 'agentbus_dev',
      ...(tls ? { tls } : {}),
      ...encryption,
      quarantined,
    });
    cfgs.forEach((c, i) => writeFileSync(configPaths[i]!, c.config));
  };
  writeConfigs();
  const servers: (NatsProcess | undefined)[] = await Promise.all(configPaths.map((_, i) => spawnNode(i)));
  writeNatsPids(
    stateDir,
    servers.map((s) => s?.proc.pid),
  );
  const urls = ports.map((p) => `nats://127.0.0.1:${p}`);
  const url = urls.join(',');
  const replicas = nodes >= 3 ? 3 : 1;
  const stops: (() => Promise<void>)[] = [
    async () => unlock(),
    async () => {
      for (const s of servers) await s?.stop();
      rmSync(join(stateDir, NATS_PIDS_FILE), { force: true });
    },
  ];
  try {
    const keyPath = join(credsDir, 'depth.key');
    if (!existsSync(keyPath)) writeFileSync(keyPath, randomBytes(32), { mode: 0o600 });
    let verifier: Verifier | undefined;
    if (o.withVerifier !== false) {
      // a fresh cluster elects its JetStream meta leader first: retry the start for a while
      const t0 = Date.now();
      for (;;) {
        try {
          verifier = await startVerifier({
            servers: urls,
            credentials: verifierCreds,
            manifestsDir,
            contracts: o.contracts,
            logger: log.child({ name: 'verifier' }),
            id: 'dev-verifier',
            depthKey: readFileSync(keyPath),
            replicas,
            connectOptions,
            quarantine: o.quarantine !== false,
            ...(o.metricsPort ? { metricsPort: o.metricsPort } : {}),
          });
          break;
        } catch (e) {
          // only JetStream not being ready yet is worth waiting for; a port in use is not
          if (Date.now() - t0 > 30_000 || /cannot serve metrics|EADDRINUSE|EACCES/.test(String((e as Error).message))) throw e;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      stops.unshift(() => verifier!.drain());
      // the quarantine follower: a sender the verifier quarantines loses its NATS user on every
      // node (config rewritten, each nats-server reloaded) until its cool-down ends
      if (o.quarantine !== false) {
        const qnc = await connect({
          servers: urls,
          authenticator: nkeyAuthenticator(verifierCreds.natsSeed()),
          inboxPrefix: '_INBOX_verifier',
          name: 'agentbus-quarantine',
          maxReconnectAttempts: -1,
          ...connectOptions,
        });
        const follower = await followQuarantine(
          qnc,
          async (active) => {
            const was = quarantined;
            quarantined = active;
            writeConfigs();
            await Promise.all(servers.map((s) => s?.reload()));
            const added = active.filter((a) => !was.includes(a));
            const gone = was.filter((a) => !active.includes(a));
            if (added.length) o.notify?.(`quarantined at NATS (rejection budget spent; disconnected for the cool-down): ${added.join(', ')}`);
            if (gone.length) o.notify?.(`released from quarantine: ${gone.join(', ')}`);
          },
          { replicas, log: log.child({ name: 'quarantine' }) },
        );
        stops.unshift(async () => {
          await follower.stop();
          await qnc.close().catch(() => undefined);
        });
      }
    }
    if (mem) {
      const memory = await startMemoryForDev({ servers: urls, manifestsDir, credsDir, logger: log.child({ name: 'memory' }), connectOptions, replicas });
      stops.unshift(() => memory.close());
    }
    let a2a: A2aGateway | undefined;
    if (a2aDev && o.a2aConfig) {
      a2a = await a2aDev.startA2aFromConfig({
        configFile: o.a2aConfig,
        manifestsDir,
        credsDir,
        servers: urls,
        contracts: o.contracts,
        connectOptions,
        logger: log.child({ name: 'a2a' }),
      });
      stops.unshift(() => a2a!.stop());
      o.notify?.(`A2A gateway ${a2a.agent} on ${a2a.baseUrl} (cards: ${a2a.baseUrl}/agents/<agent>/.well-known/agent-card.json)`);
    }
    const storePath = join(stateDir, 'audit-db');
    let auditor: DevBus['auditor'];
    if (o.withAuditor !== false) {
      const { startAuditor } = await import('../auditor/service.js');
      auditor = await startAuditor(
        {
          nats: {
            url,
            credsFile: join(credsDir, 'auditor.creds.json'),
            systemCredsFile: join(credsDir, 'system.creds.json'),
            ...(tls ? { tls: tls.caFile ? { caFile: tls.caFile } : {} } : {}),
          },
          store: { url: storePath },
          ...(o.auditor ?? {}),
          connections: { manifestsDir, ...(o.auditor?.connections ?? {}) },
        },
        { logger: log.child({ name: 'auditor' }), ...(o.metricsPort ? { metricsPort: o.metricsPort + 1 } : {}) },
      );
      stops.unshift(() => auditor!.stop());
    }
    // `agentbus audit …` reads the store while this process holds it, through a read-only endpoint
    let queryUrl = '';
    let token = randomBytes(24).toString('base64url');
    if (auditor) {
      const { startQueryServer } = await import('../auditor/live-store.js');
      const qs = await startQueryServer(auditor.store, { token });
      queryUrl = qs.url;
      token = qs.token;
      stops.unshift(() => qs.close());
    }
    let consoleHandle: Console | undefined;
    if (o.console) {
      const { startConsole } = await import('../console/server.js');
      const approver = o.console.approver === false ? undefined : (o.console.approver ?? defaultApprover(manifestsDir, credsDir));
      // the console is a convenience: a port in use or a bad approver leaves the bus running without it
      const c = await startConsole({
        servers: urls,
        observer: observerCreds,
        connectOptions,
        manifestsDir,
        ...(auditor ? { store: auditor.store } : {}),
        ...(approver ? { approverCredsFile: join(credsDir, `${approver}.creds.json`) } : {}),
        port: o.console.port ?? 0,
        log: (line) => log.info(line),
      }).catch((e: Error) => {
        log.error({ err: e.message }, 'console not started');
        o.notify?.(`console not started: ${e.message}`);
        return undefined;
      });
      consoleHandle = c;
      if (c) stops.unshift(() => c.close());
    }
    const info: BusInfo = {
      pid: process.pid,
      started_at: new Date().toISOString(),
      servers: url,
      state_dir: stateDir,
      creds_dir: credsDir,
      manifests_dir: manifestsDir,
      contracts: o.contractsFile ? resolve(o.contractsFile) : '',
      store: auditor ? storePath : '',
      query_url: queryUrl,
      ...(consoleHandle ? { console_url: consoleHandle.url } : {}),
      ...(tls?.caFile ? { tls_ca: tls.caFile } : {}),
    };
    writeBusInfo(stateDir, info, token);
    // A changed contracts module is loaded again (a new URL, so ESM does not serve the cached one).
    if (o.contractsFile && o.loadContracts && verifier) {
      const file = resolve(o.contractsFile);
      const load = o.loadContracts;
      const mtime = () => {
        try {
          return statSync(file).mtimeMs;
        } catch {
          return 0;
        }
      };
      let seen = mtime();
      let pending = seen;
      let loading = false;
      const cw = setInterval(() => {
        const m = mtime();
        // load once the file stopped changing (an editor's save can be several writes)
        if (m !== pending) return void (pending = m);
        if (m === seen || loading) return;
        seen = m;
        loading = true;
        load(`${pathToFileURL(file).href}?v=${m}`)
          .then((reg) => {
            verifier!.setContracts(reg);
            o.notify?.(`contracts reloaded: ${reg.types().join(', ')}`);
          })
          .catch((e) => {
            log.error({ err: (e as Error).message }, 'contracts reload failed; keeping the previous ones');
            o.notify?.(`contracts not reloaded (keeping the previous ones): ${(e as Error).message}`);
          })
          .finally(() => (loading = false));
      }, 500);
      cw.unref();
      stops.unshift(async () => clearInterval(cw));
    }
    // Manifest changes: regenerate the server configs and reload every nats-server (no restart).
    let sig = dirSignature(manifestsDir);
    const watch = setInterval(() => {
      const now = dirSignature(manifestsDir);
      if (now === sig) return;
      sig = now;
      try {
        writeConfigs();
        for (const srv of servers) srv?.reload().catch((e) => log.error({ err: (e as Error).message }, 'nats-server reload failed'));
        const ms = loadManifestDir(manifestsDir);
        const monitored = monitorAgents(ms);
        o.notify?.(`manifests reloaded: ${ms.map((m) => m.agent).join(', ')}${monitored.length ? ` (MONITOR MODE: ${monitored.join(', ')})` : ''}`);
      } catch (e) {
        log.error({ err: (e as Error).message }, 'manifests invalid; nats-server config kept');
        o.notify?.(`manifests not reloaded (keeping the previous ones): ${(e as Error).message}`);
      }
    }, 300);
    watch.unref();
    stops.unshift(async () => clearInterval(watch));
    return {
      url,
      urls,
      stateDir,
      logFile,
      manifestsDir,
      storePath,
      queryUrl,
      info,
      nats: servers[0]!,
      verifier: verifier!,
      auditor,
      a2a,
      console: consoleHandle,
      verifierCreds,
      auditorCreds,
      observerCreds,
      credsPath: (agent) => join(credsDir, `${agent}.creds.json`),
      depthKeyPath: keyPath,
      replicas,
      tls: tls ? { certFile: tls.certFile, keyFile: tls.keyFile, ...(tls.caFile ? { caFile: tls.caFile } : {}) } : undefined,
      connectOptions,
      storeEncrypted: !!o.encryptStore,
      jsKeyGenerated: Object.keys(childEnv).length > 0,
      async killNode(i: number) {
        const srv = servers[i];
        servers[i] = undefined;
        if (srv && srv.proc.exitCode === null) {
          const done = new Promise((r) => srv.proc.once('exit', r));
          srv.proc.kill('SIGKILL');
          await done;
        }
      },
      async startNode(i: number) {
        if (!servers[i]) servers[i] = await spawnNode(i);
        writeNatsPids(
          stateDir,
          servers.map((s) => s?.proc.pid),
        );
      },
      async stop() {
        // each part gets a bounded time: Ctrl-C must always end the dev bus, and a part that
        // hangs is named in the log instead of keeping the terminal
        for (const [i, s] of stops.entries()) {
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<void>(
            (res) =>
              (timer = setTimeout(() => {
                log.error({ step: i, of: stops.length }, `stop step did not finish in ${STOP_STEP_MS} ms; going on`);
                res();
              }, STOP_STEP_MS)),
          );
          await Promise.race([s().catch((e) => log.error({ err: (e as Error).message }, 'stop failed')), late]);
          clearTimeout(timer);
        }
      },
    };
  } catch (e) {
    for (const s of stops) await s().catch(() => undefined);
    throw e;
  }
}

/** The console's default approver: the first agent (by name) with an `approve:` list and a credential file in `credsDir`. */
export function defaultApprover(manifestsDir: string, credsDir: string): string | undefined {
  return loadManifestDir(manifestsDir)
    .filter((m) => (m.approve ?? []).length > 0 && existsSync(join(credsDir, `${m.agent}.creds.json`)))
    .map((m) => m.agent)
    .sort()[0];
}

interface PolicyFile {
  agents: Record<string, Record<string, unknown>>;
}

/** Write a manifest per policy agent, generating credentials for agents that have none. */
export function materializePolicy(policyFile: string, manifestsDir: string, credsDir: string, vars: Record<string, string> = {}): string[] {
  // ${NAME} placeholders (e.g. the example's project directory in its tool rules)
  const text = readFileSync(policyFile, 'utf8').replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (m, name: string) => vars[name] ?? m);
  const policy = parseYaml(text) as PolicyFile;
  if (!policy || typeof policy.agents !== 'object') throw new DevBusError(`${policyFile}: expected a top-level "agents" map`);
  const created: string[] = [];
  for (const [agent, rules] of Object.entries(policy.agents)) {
    const credsPath = join(credsDir, `${agent}.creds.json`);
    const manifestPath = join(manifestsDir, `${agent}.yaml`);
    if (existsSync(credsPath) && existsSync(manifestPath)) continue;
    const id = generateIdentity(agent);
    saveCredentials(id, credsPath);
    const pub = id.publicManifest();
    writeFileSync(manifestPath, stringify({ agent, nats_user: pub.nats_user, keys: pub.keys, ...rules }));
    id.destroy();
    created.push(agent);
  }
  return created;
}
