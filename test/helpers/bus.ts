// A complete bus for integration tests: identities, manifests, service credentials, the
// generated nats-server config, a real nats-server, and verifier instances.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { generateIdentity, saveCredentials } from '../../packages/sdk/src/identity.js';
import type { AgentIdentity } from '../../packages/sdk/src/identity.js';
import { openSignedBatch } from '../../packages/server/src/common/audit-chain.js';
import type { IAuditEvent as AuditEvent } from '../../packages/protocol/src/proto.js';

type AuditBatchOf = Extract<ReturnType<typeof openSignedBatch>, { ok: true }>['value']['batch'];
import { createLogger } from '../../packages/sdk/src/log.js';
import { connectAgent } from '../../packages/sdk/src/client.js';
import type { AgentClient, ConnectOptions } from '../../packages/sdk/src/client.js';
import type { ManifestInput } from '../../packages/protocol/src/manifest.js';
import { loadManifestDir } from '../../packages/protocol/src/manifest.js';
import { serverConfig } from '../../packages/server/src/common/natsconfig.js';
import { generateServiceCreds } from '../../packages/server/src/common/service-creds.js';
import type { ServiceIdentity } from '../../packages/server/src/common/service-creds.js';
import { startVerifier } from '../../packages/server/src/verifier/verifier.js';
import { followQuarantine } from '../../packages/server/src/common/quarantine.js';
import type { Verifier, VerifierOptions } from '../../packages/server/src/verifier/verifier.js';
import { startNatsServer, freePort } from './nats-server.js';
import type { NatsServerHandle } from './nats-server.js';

import { contracts } from './contracts.js';
export { contracts, Task, Result, Deploy, Note } from './contracts.js';

export interface TestBus {
  dir: string;
  manifestsDir: string;
  nats: NatsServerHandle;
  url: string;
  ids: Map<string, AgentIdentity>;
  credsPath(agent: string): string;
  verifierCreds: ServiceIdentity;
  auditorCreds: ServiceIdentity;
  /** The system-account user (the auditor's connection follower), as nats-config --system-creds. */
  systemCreds: ServiceIdentity;
  systemCredsPath: string;
  verifiers: Verifier[];
  logs: string[];
  manifests: Map<string, ManifestInput>;
  writeManifest(m: ManifestInput): void;
  /** Regenerate the nats-server config from the manifests dir and reload the server. */
  reloadNats(): Promise<void>;
  /** Agents the config renders quarantined now (spec.quarantine), and how many times it was applied. */
  quarantined(): { agents: string[]; applied: number };
  startVerifier(extra?: Partial<VerifierOptions>): Promise<Verifier>;
  agent(agentId: string, extra?: Partial<ConnectOptions>): Promise<AgentClient>;
  /** A raw NATS connection authenticated as the agent (inbox prefix set as the SDK sets it). */
  rawAgent(agentId: string): Promise<NatsConnection>;
  /** A service connection (verifier user) for reading the audit stream. */
  admin(): Promise<NatsConnection>;
  auditEvents(): Promise<AuditEvent[]>;
  /** Every signed audit batch in the AUDIT stream so far (events and delivery records). */
  auditBatches(): Promise<AuditBatchOf[]>;
  stop(): Promise<void>;
}

export interface BusSpec {
  agents: Record<string, Partial<ManifestInput>>;
  verifiers?: number;
  verifierOptions?: Partial<VerifierOptions>;
  /** Further service users in the nats-server config (e.g. the memory service's KV user). */
  services?: { memory?: string[] };
  /**
   * Quarantine at NATS (common/quarantine.ts): the verifiers quarantine senders past their rejection
   * budget and the bus follows the bucket (rewrites the config, reloads nats-server). Off by
   * default here (floods in other tests count every shed answer).
   */
  quarantine?: boolean | { ms?: number; maxMs?: number };
}

export async function startBus(spec: BusSpec): Promise<TestBus> {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bus-'));
  const manifestsDir = join(dir, 'manifests');
  const credsDir = join(dir, 'creds');
  mkdirSync(manifestsDir);
  mkdirSync(credsDir, { mode: 0o700 });
  const ids = new Map<string, AgentIdentity>();
  const manifests = new Map<string, ManifestInput>();
  const writeManifest = (m: ManifestInput) => {
    manifests.set(m.agent, m);
    writeFileSync(join(manifestsDir, `${m.agent}.yaml`), stringify(m));
  };
  for (const [agent, extra] of Object.entries(spec.agents)) {
    const id = generateIdentity(agent);
    ids.set(agent, id);
    saveCredentials(id, join(credsDir, `${agent}.json`));
    writeManifest({ agent, nats_user: id.natsPublicKey, keys: id.keys.map((k) => k.publicInfo()), ...extra } as ManifestInput);
  }
  const verifierCreds = generateServiceCreds('verifier', join(credsDir, 'verifier.json'));
  const auditorCreds = generateServiceCreds('auditor', join(credsDir, 'auditor.json'));
  const systemCredsPath = join(credsDir, 'system.json');
  const systemCreds = generateServiceCreds('system', systemCredsPath);
  const services = {
    verifier: [verifierCreds.natsPublicKey],
    auditor: [auditorCreds.natsPublicKey],
    system: [systemCreds.natsPublicKey],
    ...(spec.services ?? {}),
  };
  const port = await freePort();
  let quarantined: string[] = [];
  let applied = 0;
  const body = () =>
    serverConfig(loadManifestDir(manifestsDir), services, { port, storeDir: join(dir, 'js'), quarantined })
      .split('\n')
      .filter((l) => !/^(listen|server_name|max_payload):/.test(l))
      .join('\n')
      .replace(/jetstream \{[^}]*\}/, '');
  const nats = await startNatsServer({ configBody: body(), port, dir });
  const logs: string[] = [];
  const depthKey = randomBytes(32);
  writeFileSync(join(credsDir, 'depth.key'), depthKey, { mode: 0o600 });
  const sink = new Writable({
    write(c, _e, cb) {
      logs.push(String(c));
      cb();
    },
  });
  const verifiers: Verifier[] = [];
  const q = spec.quarantine === true ? {} : spec.quarantine || undefined;
  const quarantineOpts: Partial<VerifierOptions> = q
    ? { quarantine: true, ...(q.ms ? { quarantineMs: q.ms } : {}), ...(q.maxMs ? { quarantineMaxMs: q.maxMs } : {}) }
    : { quarantine: false };
  let follower: { stop(): Promise<void> } | undefined;
  const conns: NatsConnection[] = [];
  const clients: AgentClient[] = [];
  const bus: TestBus = {
    dir,
    manifestsDir,
    nats,
    url: nats.url,
    ids,
    verifierCreds,
    auditorCreds,
    systemCreds,
    systemCredsPath,
    verifiers,
    logs,
    manifests,
    writeManifest,
    credsPath: (a) => join(credsDir, `${a}.json`),
    async reloadNats() {
      await nats.reload(body());
    },
    quarantined: () => ({ agents: quarantined, applied }),
    async startVerifier(extra = {}) {
      const v = await startVerifier({
        servers: nats.url,
        credentials: verifierCreds,
        manifestsDir,
        contracts,
        logger: createLogger({ destination: sink, level: 'debug' }),
        manifestPollMs: 100,
        depthKey,
        leaseTtlMs: 1500,
        id: `v${verifiers.length + 1}`,
        ...quarantineOpts,
        ...spec.verifierOptions,
        ...extra,
      });
      verifiers.push(v);
      return v;
    },
    async agent(agentId, extra = {}) {
      const c = await connectAgent({ servers: nats.url, credentials: bus.credsPath(agentId), contracts, manifestsDir, timeoutMs: 1500, retries: 1, ...extra });
      clients.push(c);
      return c;
    },
    async rawAgent(agentId) {
      const id = ids.get(agentId)!;
      const nc = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(id.natsSeed()), inboxPrefix: `agentbus.inbox.${agentId}` });
      conns.push(nc);
      return nc;
    },
    async admin() {
      const nc = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(verifierCreds.natsSeed()), inboxPrefix: '_INBOX_verifier' });
      conns.push(nc);
      return nc;
    },
    async auditBatches() {
      const nc = await bus.admin();
      const c = await jetstream(nc).consumers.get('AUDIT');
      const out: AuditBatchOf[] = [];
      let left = (await c.info()).num_pending;
      while (left > 0) {
        let got = 0;
        for await (const m of await c.fetch({ max_messages: Math.min(left, 256), expires: 2000 })) {
          const b = openSignedBatch(m.data);
          if (!b.ok) throw new Error(b.detail);
          out.push(b.value.batch);
          got++;
        }
        if (got === 0) break;
        left -= got;
      }
      await nc.close();
      return out;
    },
    async auditEvents() {
      return (await bus.auditBatches()).flatMap((b) => b.events);
    },
    async stop() {
      await follower?.stop();
      for (const c of clients) await c.close().catch(() => undefined);
      for (const v of verifiers) await v.close().catch(() => undefined);
      for (const c of conns) await c.close().catch(() => undefined);
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (q) {
    // the follower: the quarantined agents left out of the config, nats-server reloaded
    follower = await followQuarantine(await bus.admin(), async (active) => {
      quarantined = active;
      await nats.reload(body());
      applied++;
    });
  }
  for (let i = 0; i < (spec.verifiers ?? 1); i++) await bus.startVerifier();
  // every partition owned, spread evenly, before the test sends anything
  const n = spec.verifiers ?? 1;
  if (n > 0) {
    const t0 = Date.now();
    while (
      !verifiers.every((v) => v.partitions.length === 8 / n || (8 % n !== 0 && v.partitions.length >= Math.floor(8 / n))) ||
      verifiers.reduce((a, v) => a + v.partitions.length, 0) !== 8
    ) {
      if (Date.now() - t0 > 10_000) throw new Error('partitions not assigned');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  void readFileSync;
  return bus;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const t = Date.now();
  while (!(await cond())) {
    if (Date.now() - t > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * `agentbus verifier` against this bus (verifiers: 0 leaves the partitions to it): the bus's
 * manifests, the test contracts, the verifier's credentials and the server; `more` adds options.
 */
export function verifierCliArgs(bus: TestBus, ...more: string[]): string[] {
  return [
    'verifier',
    '--manifests',
    bus.manifestsDir,
    '--contracts',
    'test/helpers/contracts.ts',
    '--creds',
    `${bus.dir}/creds/verifier.json`,
    '--nats',
    bus.url,
    ...more,
  ];
}
