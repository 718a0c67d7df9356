// The memory service in `agentbus dev` (to be wired by dev.ts; nothing here edits it):
//   1. before the nats-server config is generated:
//        const mem = prepareMemoryForDev({ manifestsDir, credsDir });
//        services.memory = [mem.kvNkey];           // natsconfig: the KV service user
//   2. once the verifier runs:
//        const memory = await startMemoryForDev({ servers: url, manifestsDir, credsDir, logger, connectOptions });
//        ... and `await memory.close()` in the bus's stop(), before the verifier.
// The memory agent's identity is <credsDir>/memory.creds.json with a manifest memory.yaml that may
// send memory.result / memory.event to anyone; its KV credential is <credsDir>/memory-kv.creds.json.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateIdentity, saveCredentials, loadCredentials } from '@agentbus/sdk/internal';
import type { Logger } from '@agentbus/sdk/internal';
import { MEMORY_SERVICE } from '@agentbus/protocol';
import { MEMORY_KV_CREDS, memoryManifest } from './manifest.js';
import { generateServiceCreds, loadServiceCreds } from '../common/service-creds.js';
import { startMemoryService } from './service.js';
import type { MemoryService, MemoryServiceOptions } from './service.js';

export { MEMORY_KV_CREDS, memoryManifest };

/** Create (once) the memory agent's credential and manifest and its KV service credential. */
export function prepareMemoryForDev(o: { manifestsDir: string; credsDir: string }): { kvNkey: string; credsPath: string; kvCredsPath: string } {
  const credsPath = join(o.credsDir, `${MEMORY_SERVICE}.creds.json`);
  const kvCredsPath = join(o.credsDir, MEMORY_KV_CREDS);
  const manifestPath = join(o.manifestsDir, `${MEMORY_SERVICE}.yaml`);
  const id = existsSync(credsPath) ? loadCredentials(credsPath) : generateIdentity(MEMORY_SERVICE);
  if (!existsSync(credsPath)) saveCredentials(id, credsPath);
  if (!existsSync(manifestPath)) writeFileSync(manifestPath, stringify(memoryManifest(id)));
  id.destroy();
  const kv = existsSync(kvCredsPath) ? loadServiceCreds(kvCredsPath) : generateServiceCreds('memory', kvCredsPath);
  return { kvNkey: kv.natsPublicKey, credsPath, kvCredsPath };
}

export function startMemoryForDev(
  o: { servers: string | string[]; manifestsDir: string; credsDir: string; logger?: Logger } & Pick<
    MemoryServiceOptions,
    'connectOptions' | 'replicas' | 'onAudit'
  >,
): Promise<MemoryService> {
  return startMemoryService({
    servers: o.servers,
    credentials: join(o.credsDir, `${MEMORY_SERVICE}.creds.json`),
    serviceCreds: join(o.credsDir, MEMORY_KV_CREDS),
    manifestsDir: o.manifestsDir,
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}),
    ...(o.replicas ? { replicas: o.replicas } : {}),
    ...(o.onAudit ? { onAudit: o.onAudit } : {}),
  });
}
