// Credentials of the service users (verifier, auditor): a NATS user nkey, mode 0600.
import { readFileSync, statSync, writeFileSync, renameSync, chmodSync } from 'node:fs';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { z } from 'zod';
import { CredentialError } from '../sdk/errors.js';

const ServiceCreds = z.strictObject({
  agentbus_service: z.literal(1),
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/),
  nats_seed: z.string().regex(/^SU[A-Z2-7]{56}$/, 'not a NATS user nkey seed'),
});

export interface ServiceIdentity {
  name: string;
  natsPublicKey: string;
  natsSeed(): Uint8Array;
}

export function generateServiceCreds(name: string, path: string): ServiceIdentity {
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  const doc = { agentbus_service: 1 as const, name, nats_seed: seed };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return loadServiceCreds(path);
}

export function loadServiceCreds(path: string): ServiceIdentity {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new CredentialError(`cannot read service credentials (${(e as NodeJS.ErrnoException).code ?? 'error'})`, path);
  }
  if ((st.mode & 0o077) !== 0) throw new CredentialError(`credential file is accessible by group or others; run: chmod 600 ${path}`, path);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new CredentialError('service credential file is not valid JSON', path);
  }
  const r = ServiceCreds.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new CredentialError(`malformed service credential file: ${i.message} at ${i.path.join('.') || '(root)'}`, path);
  }
  const seed = new TextEncoder().encode(r.data.nats_seed);
  const pub = fromSeed(seed).getPublicKey();
  return {
    name: r.data.name,
    natsPublicKey: pub,
    natsSeed: () => Uint8Array.from(seed),
  };
}
