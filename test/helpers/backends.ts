// The Ed25519 backends the crypto suites run on (decide, ed25519, protocol-vectors).
// sodium-native is the production backend (the verifier's default, the verify pool's), so a
// sodium that does not load is a FAILED suite, never a quietly shorter list: always under CI
// (CI=true), and locally unless AGENTBUS_TEST_WITHOUT_SODIUM=1 says to run on node and noble
// alone — which is printed, loudly, by every suite that does it.
import { createRequire } from 'node:module';
import { backends } from '../../packages/protocol/src/ed25519.js';
import type { Ed25519Backend } from '../../packages/protocol/src/ed25519.js';

export const WITHOUT_SODIUM_ENV = 'AGENTBUS_TEST_WITHOUT_SODIUM';
const ci = /^(1|true|yes)$/i.test(process.env.CI ?? '');

/** Why sodium-native did not load (the backend loader keeps the error to itself). */
function whyNot(): string {
  try {
    createRequire(import.meta.url)('sodium-native');
    return 'it loads, but lacks crypto_sign_seed_keypair / crypto_sign_detached / crypto_sign_verify_detached';
  } catch (e) {
    return String((e as Error).message).split('\n')[0]!;
  }
}

/** The production backend; undefined only under the local opt-out. */
export const sodium: Ed25519Backend | undefined = backends.sodium;

if (!sodium) {
  const optedOut = !ci && process.env[WITHOUT_SODIUM_ENV] === '1';
  const line = '!'.repeat(100);
  console.error(`\n${line}\n!! sodium-native, the production Ed25519 backend, did NOT load: ${whyNot()}`);
  if (!optedOut) {
    console.error(
      `!! ${ci ? 'CI=true: this is a test failure.' : `This is a test failure (to run on node and noble only, set ${WITHOUT_SODIUM_ENV}=1; never in CI).`}\n${line}\n`,
    );
    throw new Error(`sodium-native did not load (${whyNot()})`);
  }
  console.error(`!! ${WITHOUT_SODIUM_ENV}=1: this suite runs WITHOUT it, on node and noble only; its sodium cases are SKIPPED.\n${line}\n`);
}

/** sodium (always, unless opted out), node, noble. */
export const ALL_BACKENDS: Ed25519Backend[] = [sodium, backends.node, backends.noble].filter((b): b is Ed25519Backend => b !== undefined);

/** For a case that needs sodium: true when it is here; under the opt-out prints the skip and returns false. */
export function haveSodium(what: string): boolean {
  if (sodium) return true;
  console.error(`!! SKIPPED without sodium-native (${WITHOUT_SODIUM_ENV}=1): ${what}`);
  return false;
}
