// Setting up and starting the A2A gateway: `agentbus a2a init` and `agentbus dev` (when the project
// file names a gateway config: "a2a": "a2a.yaml").
//   1. before the nats-server config is generated: prepareA2a({ manifestsDir, credsDir, configFile })
//      — the gateway's identity (<credsDir>/<agent>.creds.json), its card signing key
//      (<credsDir>/<agent>-card-key.json, 0600), its manifest (<manifestsDir>/<agent>.yaml) and the
//      config file, each made only when missing;
//   2. once the verifier runs: startA2aFromConfig(...), and `await gateway.stop()` when the bus stops.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { generateIdentity, saveCredentials, loadCredentials } from '@agentbus/sdk/internal';
import type { ContractRegistry, Logger } from '@agentbus/sdk/internal';
import { parseManifest } from '@agentbus/protocol/manifest';
import { generateCardKey, loadCardKey } from './card.js';
import { A2aConfigError, loadGatewayConfig, newToken, parseGatewayConfig } from './config.js';
import { gatewayManifest } from './manifest.js';
import { startA2aGateway } from './serve.js';
import type { A2aGateway } from './serve.js';

export interface PrepareResult {
  agent: string;
  configFile: string;
  manifestFile: string;
  /** What was made now (paths). */
  created: string[];
}

/** Make what the gateway needs and does not have yet. */
export function prepareA2a(o: { manifestsDir: string; credsDir: string; configFile: string; agent?: string; port?: number }): PrepareResult {
  const configFile = resolve(o.configFile);
  const created: string[] = [];
  mkdirSync(o.credsDir, { recursive: true, mode: 0o700 });
  mkdirSync(o.manifestsDir, { recursive: true });
  const cfgExists = existsSync(configFile);
  const cfg = cfgExists ? loadGatewayConfig(configFile).config : undefined;
  const agent = cfg?.agent ?? o.agent ?? 'a2a';
  const dir = dirname(configFile);
  const credsPath = cfg?.credentials ? resolve(dir, cfg.credentials) : join(o.credsDir, `${agent}.creds.json`);
  const keyPath = cfg ? resolve(dir, cfg.card_key) : join(o.credsDir, `${agent}-card-key.json`);
  if (!existsSync(credsPath)) {
    saveCredentials(generateIdentity(agent), credsPath);
    created.push(credsPath);
  }
  const hadKey = existsSync(keyPath);
  const key = hadKey ? loadCardKey(keyPath) : generateCardKey(keyPath);
  if (!hadKey) created.push(keyPath);
  const manifestFile = join(o.manifestsDir, `${agent}.yaml`);
  if (!existsSync(manifestFile)) {
    const id = loadCredentials(credsPath);
    writeFileSync(
      manifestFile,
      stringify(
        gatewayManifest({ agent, natsUser: id.natsPublicKey, keys: id.keys.map((k) => k.publicInfo()), cardKeys: [{ kid: key.kid, jwk: key.publicJwk }] }),
      ),
    );
    id.destroy();
    created.push(manifestFile);
  }
  if (!cfgExists) {
    const rel = (p: string) => relative(dir, p) || '.';
    writeFileSync(
      configFile,
      `# The A2A gateway (docs/a2a.md). Principals: agentbus a2a token --principal NAME adds one (or a token).\n${stringify({
        agent,
        credentials: rel(credsPath),
        card_key: rel(keyPath),
        listen: { host: '127.0.0.1', port: o.port ?? 8700 },
        principals: [],
      })}`,
      { mode: 0o600 },
    );
    created.push(configFile);
  }
  return { agent, configFile, manifestFile, created };
}

/**
 * A new bearer token for `principal`: its SHA-256 is added to the config (the principal entry made
 * when missing, with its credential file's default place); the token itself is returned once and
 * stored nowhere. The principal's manifest must exist and name this gateway.
 */
export function addToken(o: { configFile: string; principal: string; manifestsDir: string; credsDir: string }): {
  token: string;
  sha256: string;
  added: boolean;
} {
  const { config } = loadGatewayConfig(o.configFile);
  const mf = ['yaml', 'yml', 'json'].map((e) => join(o.manifestsDir, `${o.principal}.${e}`)).find((f) => existsSync(f));
  if (!mf)
    throw new A2aConfigError(
      `no manifest for ${o.principal} in ${o.manifestsDir} (agentbus keygen ${o.principal}, then add a2a: { principal: { gateway: ${config.agent} } })`,
    );
  const m = parseManifest(readFileSync(mf, 'utf8'), mf);
  if (m.a2a?.principal?.gateway !== config.agent)
    throw new A2aConfigError(`${mf}: ${o.principal} is not a principal of ${config.agent} (add a2a: { principal: { gateway: ${config.agent} } })`);
  const t = newToken();
  const text = readFileSync(o.configFile, 'utf8');
  const doc = parseDocument(text);
  const list = (doc.toJS() as { principals?: { agent: string; tokens_sha256: string[] }[] }).principals ?? [];
  const at = list.findIndex((p) => p.agent === o.principal);
  if (at >= 0) doc.setIn(['principals', at, 'tokens_sha256'], doc.createNode([...list[at]!.tokens_sha256, t.sha256]));
  else doc.setIn(['principals'], doc.createNode([...list, { agent: o.principal, tokens_sha256: [t.sha256] }]));
  const out = doc.toString();
  parseGatewayConfig(out, o.configFile);
  const tmp = `${o.configFile}.${process.pid}.tmp`;
  writeFileSync(tmp, out, { mode: 0o600 });
  renameSync(tmp, o.configFile);
  return { ...t, added: at < 0 };
}

/** Start the gateway a config file describes. */
export async function startA2aFromConfig(o: {
  configFile: string;
  manifestsDir: string;
  credsDir: string;
  servers: string | string[];
  contracts: ContractRegistry;
  connectOptions?: Record<string, unknown>;
  logger?: Logger;
  port?: number;
}): Promise<A2aGateway> {
  const { config, dir } = loadGatewayConfig(o.configFile);
  return startA2aGateway({
    config,
    configDir: dir,
    manifestsDir: o.manifestsDir,
    credsDir: o.credsDir,
    servers: o.servers,
    contracts: o.contracts,
    ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
  });
}
