// The memory service in tests: the verifier's contracts with the memory ones added, the service
// on a test bus, and what a memory call came to, as one string to compare.
import * as assert from 'uvu/assert';
import { ContractRegistry } from '../../packages/sdk/src/contracts.js';
import { MEMORY_CONTRACTS, MemoryError } from '../../packages/sdk/src/memory.js';
import { RejectedError } from '../../packages/sdk/src/errors.js';
import { createLogger } from '../../packages/sdk/src/log.js';
import type { ServiceIdentity } from '../../packages/server/src/common/service-creds.js';
import { startMemoryService } from '../../packages/server/src/memory/service.js';
import type { MemoryService, MemoryServiceOptions } from '../../packages/server/src/memory/service.js';
import { contracts } from './bus.js';
import type { TestBus } from './bus.js';

/** The test contracts (helpers/bus.ts) and the memory service's, for a verifier that decides memory requests. */
export function withMemoryContracts(): ContractRegistry {
  return new ContractRegistry([...contracts.types().map((t) => contracts.get(t)!), ...MEMORY_CONTRACTS.types().map((t) => MEMORY_CONTRACTS.get(t)!)]);
}

/** The memory service on `bus` as the agent `memory`, with its KV credentials and a silent log; `more` adds options. */
export function startBusMemory(bus: TestBus, serviceCreds: ServiceIdentity, more: Partial<MemoryServiceOptions> = {}): Promise<MemoryService> {
  return startMemoryService({
    servers: bus.url,
    credentials: bus.credsPath('memory'),
    serviceCreds,
    manifestsDir: bus.manifestsDir,
    logger: createLogger({ level: 'silent' }),
    ...more,
  });
}

/**
 * `ok`, the service's error code, `verifier:<reason>` for a verifier rejection, or
 * `verifier:not_allowed` for the verifier's refusal of a request outside the grants (a MemoryError
 * 'not_allowed' that keeps the RejectedError memory_not_allowed: asserted). Anything else is thrown.
 */
export async function memoryOutcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof MemoryError && e.rejected) {
      assert.instance(e.rejected, RejectedError);
      assert.is(e.rejected.reasonName, 'memory_not_allowed');
      assert.is(e.code, 'not_allowed');
      return `verifier:${e.code}`;
    }
    if (e instanceof MemoryError) return e.code;
    if (e instanceof RejectedError) return `verifier:${e.reasonName}`;
    throw e;
  }
  return 'ok';
}
