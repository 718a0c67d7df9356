// `agentbus dev`: a complete local bus in one process tree — nats-server (child process, free
// loopback port, generated config, JetStream in the state directory), the verifier and the
// auditor on embedded chDB — stopped cleanly on Ctrl-C. Manifest changes regenerate the
// nats-server config and reload it without a restart.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify, parse as parseYaml } from 'yaml';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { generateIdentity, saveCredentials } from '../sdk/identity.js';
import type { ContractRegistry } from '../sdk/contracts.js';
import { createLogger } from '../sdk/log.js';
import { loadManifestDir, dirSignature } from './manifest.js';
import { serverConfig } from './natsconfig.js';
import { generateServiceCreds, loadServiceCreds } from './service-creds.js';
import type { ServiceIdentity } from './service-creds.js';
import { natsServerVersion, spawnNatsServer, freePort } from './nats-process.js';
import type { NatsProcess } from './nats-process.js';
import { startVerifier } from './verifier.js';
import type { Verifier } from './verifier.js';
import type { Auditor } from '../auditor/service.js';
import type { AuditorConfigInput } from '../auditor/config.js';

export interface DevBusOptions {
  stateDir: string;
  contracts: ContractRegistry;
  /** Manifests directory; default <stateDir>/manifests. */
  manifestsDir?: string;
  /** A policy file (agents → send rules, no keys): agents without credentials get generated ones. */
  policyFile?: string;
  port?: number;
  withAuditor?: boolean;
  /** Auditor options passed through (e.g. detect thresholds for the demo). */
  auditor?: AuditorConfigInput;
  logger?: Logger;
  logLevel?: string;
}

export interface DevBus {
  url: string;
  stateDir: string;
  logFile: string;
  manifestsDir: string;
  storePath: string;
  nats: NatsProcess;
  verifier: Verifier;
  auditor: Auditor | undefined;
  credsPath(agent: string): string;
  verifierCreds: ServiceIdentity;
  auditorCreds: ServiceIdentity;
  stop(): Promise<void>;
}

export class DevBusError extends Error {
  override name = 'DevBusError';
}

export async function startDevBus(o: DevBusOptions): Promise<DevBus> {
  const v = natsServerVersion();
  if (!v.ok) throw new DevBusError(v.message);
  const stateDir = resolve(o.stateDir);
  const manifestsDir = resolve(o.manifestsDir ?? join(stateDir, 'manifests'));
  const credsDir = join(stateDir, 'creds');
  mkdirSync(manifestsDir, { recursive: true });
  mkdirSync(credsDir, { recursive: true, mode: 0o700 });
  // Logs go to a file in the state directory so the terminal stays readable.
  const logFile = join(stateDir, 'agentbus.log');
  const log = o.logger ?? createLogger({ name: 'dev', level: o.logLevel ?? 'info', destination: pino.destination({ dest: logFile, sync: false, mkdir: true }) });
  if (o.policyFile) materializePolicy(o.policyFile, manifestsDir, credsDir);
  const svc = (name: string) => {
    const p = join(credsDir, `${name}.creds.json`);
    return existsSync(p) ? loadServiceCreds(p) : generateServiceCreds(name, p);
  };
  const verifierCreds = svc('verifier');
  const auditorCreds = svc('auditor');
  const services = { verifier: [verifierCreds.natsPublicKey], auditor: [auditorCreds.natsPublicKey] };
  const port = o.port || (await freePort());
  const configPath = join(stateDir, 'nats.conf');
  const writeConfig = () => writeFileSync(configPath, serverConfig(loadManifestDir(manifestsDir), services, { port, storeDir: join(stateDir, 'jetstream'), serverName: 'agentbus_dev' }));
  writeConfig();
  const nats = await spawnNatsServer(configPath);
  const url = `nats://127.0.0.1:${port}`;
  const stops: (() => Promise<void>)[] = [() => nats.stop()];
  try {
    const keyPath = join(credsDir, 'depth.key');
    if (!existsSync(keyPath)) writeFileSync(keyPath, randomBytes(32), { mode: 0o600 });
    const verifier = await startVerifier({ servers: url, credentials: verifierCreds, manifestsDir, contracts: o.contracts, logger: log.child({ name: 'verifier' }), id: 'dev-verifier', depthKey: readFileSync(keyPath) });
    stops.unshift(() => verifier.drain());
    const storePath = join(stateDir, 'audit-db');
    let auditor: DevBus['auditor'];
    if (o.withAuditor !== false) {
      const { startAuditor } = await import('../auditor/service.js');
      auditor = await startAuditor(
        { nats: { url, credsFile: join(credsDir, 'auditor.creds.json') }, store: { url: storePath }, ...(o.auditor ?? {}) },
        { logger: log.child({ name: 'auditor' }) },
      );
      stops.unshift(() => auditor!.stop());
    }
    // Manifest changes: regenerate the server config and reload nats-server (no restart).
    let sig = dirSignature(manifestsDir);
    const watch = setInterval(() => {
      const now = dirSignature(manifestsDir);
      if (now === sig) return;
      sig = now;
      try {
        writeConfig();
        nats.reload().catch((e) => log.error({ err: (e as Error).message }, 'nats-server reload failed'));
      } catch (e) {
        log.error({ err: (e as Error).message }, 'manifests invalid; nats-server config kept');
      }
    }, 300);
    watch.unref();
    stops.unshift(async () => clearInterval(watch));
    return {
      url, stateDir, logFile, manifestsDir, storePath, nats, verifier, auditor, verifierCreds, auditorCreds,
      credsPath: (agent) => join(credsDir, `${agent}.creds.json`),
      async stop() {
        for (const s of stops) await s().catch((e) => log.error({ err: (e as Error).message }, 'stop failed'));
      },
    };
  } catch (e) {
    for (const s of stops) await s().catch(() => undefined);
    throw e;
  }
}

interface PolicyFile {
  agents: Record<string, Record<string, unknown>>;
}

/** Write a manifest per policy agent, generating credentials for agents that have none. */
export function materializePolicy(policyFile: string, manifestsDir: string, credsDir: string): string[] {
  const policy = parseYaml(readFileSync(policyFile, 'utf8')) as PolicyFile;
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
