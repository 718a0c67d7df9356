// The auditor's credential files: an nkey user seed, as a service credential file (JSON with
// nats_seed) or a bare seed. Its own module so that the connection follower and the service both
// read it without importing each other.
import { readFileSync } from 'node:fs';

/** The auditor cannot start: a one-line reason (bad credentials, bad configuration). */
export class AuditorStartError extends Error {
  override readonly name = 'AuditorStartError';
}

/**
 * The NATS nkey seed from a credentials file: a plain seed file ("SU…"), or a JSON credential
 * (agentbus service or agent credentials) with a `nats_seed` field. Never logged.
 */
export function readNkeySeed(path: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AuditorStartError(`cannot read --creds ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let seed: string | undefined;
  if (text.trimStart().startsWith('{')) {
    try {
      const doc = JSON.parse(text) as { nats_seed?: unknown };
      if (typeof doc.nats_seed === 'string') seed = doc.nats_seed;
    } catch {
      throw new AuditorStartError(`--creds ${path}: not valid JSON`);
    }
  } else {
    seed = text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => /^SU[A-Z2-7]{40,}$/.test(l));
  }
  if (!seed) throw new AuditorStartError(`--creds ${path}: no nkey user seed (SU…) found`);
  return new TextEncoder().encode(seed);
}
