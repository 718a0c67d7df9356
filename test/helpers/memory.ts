// The memory service in tests: the verifier's contracts with the memory ones added, and what a
// memory call came to, as one string to compare.
import * as assert from 'uvu/assert';
import { ContractRegistry } from '../../packages/sdk/src/contracts.js';
import { MEMORY_CONTRACTS, MemoryError } from '../../packages/sdk/src/memory.js';
import { RejectedError } from '../../packages/sdk/src/errors.js';
import { contracts } from './bus.js';

/** The test contracts (helpers/bus.ts) and the memory service's, for a verifier that decides memory requests. */
export function withMemoryContracts(): ContractRegistry {
  return new ContractRegistry([...contracts.types().map((t) => contracts.get(t)!), ...MEMORY_CONTRACTS.types().map((t) => MEMORY_CONTRACTS.get(t)!)]);
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
