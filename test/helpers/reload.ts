// Waiting for a manifest change to reach the verifiers on the reload hook itself — each
// verifier's compiled policy — rather than a fixed sleep sized to the poll interval.
import { loadManifestDir } from '../../packages/protocol/src/manifest.js';
import { waitFor } from './bus.js';
import type { TestBus } from './bus.js';

/**
 * Resolves once every verifier of `bus` has loaded `agent`'s manifest as it is on disk now;
 * throws after `ms` (so a deadline, e.g. "within a second", is the assertion itself).
 */
export async function verifiersLoaded(bus: TestBus, agent: string, ms = 5000): Promise<void> {
  const want = JSON.stringify(loadManifestDir(bus.manifestsDir).find((m) => m.agent === agent));
  await waitFor(
    () => bus.verifiers.every((v) => JSON.stringify(v.policy.agents.get(agent)?.manifest) === want),
    Math.max(0, ms),
    `every verifier loaded ${agent}'s manifest`,
  );
}
