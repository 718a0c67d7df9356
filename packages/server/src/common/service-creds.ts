// Credentials of the service users (verifier, auditor): a NATS user nkey and an Ed25519 audit
// signing key (the verifier signs its audit batches with it, docs/design.md §10), mode 0600. The two are
// separate keys (docs/design.md §2: nats-server chooses the login nonce the nkey signs). A file written
// before the audit key existed has no `audit_seed`; its audit key is then derived from the nkey
// seed with HKDF-SHA-256 (info "agentbus/v1/service-audit-key"), a one-way derivation, so it is
// stable and still not the NATS key.
import { readFileSync, statSync, writeFileSync, renameSync, chmodSync, mkdirSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { dirname } from 'node:path';
import { hkdfSync, randomBytes } from 'node:crypto';
import { SigningKey } from '@agentbus/sdk/internal';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { z } from 'zod';
import { CredentialError } from '@agentbus/sdk/internal';

const ServiceCreds = z.strictObject({
  agentbus_service: z.literal(1),
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/),
  nats_seed: z.string().regex(/^SU[A-Z2-7]{56}$/, 'not a NATS user nkey seed'),
  audit_seed: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url 32-byte seed')
    .optional(),
});

/** The public half of a service's audit key, as `audit verify --verifier-keys` reads it. */
export const ServicePublicKey = z.strictObject({
  agentbus_service_key: z.literal(1),
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/),
  key_id: z.string().min(1).max(128),
  public_key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url Ed25519 public key (32 bytes)'),
});
export type ServicePublicKey = z.infer<typeof ServicePublicKey>;

export interface ServiceIdentity {
  name: string;
  natsPublicKey: string;
  natsSeed(): Uint8Array;
  /** The Ed25519 key the service signs audit batches with. */
  auditKey(): SigningKey;
  /** Its public part, for `audit verify --verifier-keys`. */
  publicKeyInfo(): ServicePublicKey;
}

export function generateServiceCreds(name: string, path: string): ServiceIdentity {
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  const doc = { agentbus_service: 1 as const, name, nats_seed: seed, audit_seed: randomBytes(32).toString('base64url') };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return loadServiceCreds(path);
}

export function loadServiceCreds(path: string): ServiceIdentity {
  let st: Stats;
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
  const auditSeed = r.data.audit_seed
    ? new Uint8Array(Buffer.from(r.data.audit_seed, 'base64url'))
    : new Uint8Array(hkdfSync('sha256', seed, new Uint8Array(0), 'agentbus/v1/service-audit-key', 32));
  let key: SigningKey | undefined;
  const auditKey = () => (key ??= new SigningKey(auditSeed));
  const name = r.data.name;
  return {
    name,
    natsPublicKey: pub,
    natsSeed: () => Uint8Array.from(seed),
    auditKey,
    publicKeyInfo: () => ({ agentbus_service_key: 1, name, key_id: auditKey().keyId, public_key: Buffer.from(auditKey().publicKey).toString('base64url') }),
  };
}

/** Write a service's public audit key (JSON, world-readable: it is public). */
export function writeServicePublicKey(id: ServiceIdentity, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(id.publicKeyInfo(), null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}
