// Agent identity: an id, one or more Ed25519 envelope-signing keys, and a separate NATS nkey.
//
// docs/design.md §2: the NATS login key MUST NOT be the envelope signing key — nats-server picks the
// login nonce, so signing it with the envelope key would let a hostile server collect envelope
// signatures over bytes of its choosing. We keep two independently generated keys; the
// credential file (JSON, mode 0600) holds both seeds. Seeds live in private fields, are never
// printed by toString/inspect/JSON, and are wiped by destroy().
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync, statSync, chmodSync, openSync, closeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { inspect } from 'node:util';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { z } from 'zod';
import { defaultBackend } from '@agentbus/protocol';
import type { Ed25519Backend } from '@agentbus/protocol';
import { AGENT_ID_RE } from '@agentbus/protocol';
import { CredentialError } from './errors.js';

export const CREDENTIALS_VERSION = 1;

/** Key ids are derived from the public key: "k" + 16 hex chars of SHA-256(publicKey). */
export function keyIdFor(publicKey: Uint8Array): string {
  return 'k' + createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

/** What a manifest needs to know about one key. */
export interface PublicKeyInfo {
  key_id: string;
  public_key: string; // base64url, 32 bytes
  not_before?: string; // ISO 8601
  not_after?: string;
}

/** One Ed25519 signing key of an agent, with its key id and validity; the secret half never leaves the process (toJSON and toString hide it). */
export class SigningKey {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  readonly notBefore: Date | undefined;
  readonly notAfter: Date | undefined;
  #seed: Uint8Array;
  #sign: ((message: Uint8Array) => Uint8Array) | undefined;
  #backend: Ed25519Backend;

  constructor(seed: Uint8Array, opts: { notBefore?: Date; notAfter?: Date; backend?: Ed25519Backend } = {}) {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new RangeError('seed: expected 32 bytes');
    this.#backend = opts.backend ?? defaultBackend();
    this.#seed = Uint8Array.from(seed);
    this.publicKey = this.#backend.publicKey(this.#seed);
    this.keyId = keyIdFor(this.publicKey);
    this.notBefore = opts.notBefore;
    this.notAfter = opts.notAfter;
  }

  /** A new random key, valid from `notBefore` (default now) until `notAfter` (default: no end). */
  static generate(opts: { notBefore?: Date; notAfter?: Date; backend?: Ed25519Backend } = {}): SigningKey {
    const seed = randomBytes(32);
    try {
      return new SigningKey(seed, opts);
    } finally {
      seed.fill(0);
    }
  }

  /** Ed25519 signature over `message`. */
  sign = (message: Uint8Array): Uint8Array => {
    if (this.#sign === undefined) this.#sign = this.#backend.signer(this.#seed);
    return this.#sign(message);
  };

  /** True when `at` is inside [notBefore, notAfter]. */
  validAt(at: Date = new Date()): boolean {
    if (this.notBefore && at < this.notBefore) return false;
    if (this.notAfter && at > this.notAfter) return false;
    return true;
  }

  /** The public half, as a manifest lists it under `keys`. */
  publicInfo(): PublicKeyInfo {
    const info: PublicKeyInfo = { key_id: this.keyId, public_key: Buffer.from(this.publicKey).toString('base64url') };
    if (this.notBefore) info.not_before = this.notBefore.toISOString();
    if (this.notAfter) info.not_after = this.notAfter.toISOString();
    return info;
  }

  /** @internal the seed, for writing the credential file. */
  exportSeed(): Uint8Array {
    return Uint8Array.from(this.#seed);
  }

  /** Overwrite the secret seed in memory; the key cannot sign afterwards. */
  destroy(): void {
    this.#seed.fill(0);
    this.#sign = undefined;
  }

  /** The public half only: JSON.stringify never writes the seed. */
  toJSON(): PublicKeyInfo {
    return this.publicInfo();
  }
  /** `SigningKey(<key id>)`: no secret. */
  toString(): string {
    return `SigningKey(${this.keyId})`;
  }
  /** @internal util.inspect prints toString(). */
  [inspect.custom](): string {
    return this.toString();
  }
}

/** An agent's identity: its id, its NATS user key and its signing keys (the newest valid one signs). Load it with loadCredentials(), make one with generateIdentity(). */
export class AgentIdentity {
  readonly agentId: string;
  /** All keys, oldest first. The newest currently valid one signs. */
  readonly keys: SigningKey[];
  readonly natsPublicKey: string;
  #natsSeed: Uint8Array;

  constructor(agentId: string, keys: SigningKey[], natsSeed: Uint8Array) {
    if (!AGENT_ID_RE.test(agentId)) throw new RangeError(`agent id ${JSON.stringify(agentId)} must match ${AGENT_ID_RE}`);
    if (keys.length === 0) throw new RangeError('an identity needs at least one signing key');
    this.agentId = agentId;
    this.keys = keys;
    this.#natsSeed = Uint8Array.from(natsSeed);
    this.natsPublicKey = fromSeed(this.#natsSeed).getPublicKey();
  }

  /** The key to sign with now: the newest key valid at `at`. */
  currentKey(at: Date = new Date()): SigningKey {
    for (let i = this.keys.length - 1; i >= 0; i--) {
      const k = this.keys[i]!;
      if (k.validAt(at)) return k;
    }
    throw new CredentialError(`agent ${this.agentId} has no signing key valid at ${at.toISOString()}`);
  }

  /** Add a fresh key next to the old ones (rotation); it becomes the current key. */
  rotate(opts: { notBefore?: Date; notAfter?: Date } = {}): SigningKey {
    const k = SigningKey.generate(opts);
    this.keys.push(k);
    return k;
  }

  /** Drop a key from this identity (after it was revoked in the manifest). */
  removeKey(keyId: string): boolean {
    const i = this.keys.findIndex((k) => k.keyId === keyId);
    if (i < 0) return false;
    this.keys[i]!.destroy();
    this.keys.splice(i, 1);
    return true;
  }

  /** The NATS nkey seed (the "SU..." string as bytes) for nkeyAuthenticator. A copy. */
  natsSeed(): Uint8Array {
    return Uint8Array.from(this.#natsSeed);
  }

  /** The public half, as a manifest lists it. */
  publicManifest(): { agent: string; nats_user: string; keys: PublicKeyInfo[] } {
    return { agent: this.agentId, nats_user: this.natsPublicKey, keys: this.keys.map((k) => k.publicInfo()) };
  }

  /** Overwrite every secret seed in memory (the signing keys' and the NATS user's). */
  destroy(): void {
    for (const k of this.keys) k.destroy();
    this.#natsSeed.fill(0);
  }

  /** The public manifest only: JSON.stringify never writes a seed. */
  toJSON(): object {
    return this.publicManifest();
  }
  /** `AgentIdentity(<agent>, keys=<key ids>)`: no secret. */
  toString(): string {
    return `AgentIdentity(${this.agentId}, keys=${this.keys.map((k) => k.keyId).join(',')})`;
  }
  /** @internal util.inspect prints toString(). */
  [inspect.custom](): string {
    return this.toString();
  }
}

/** A new identity for `agentId`: a NATS user key and one signing key (valid until `notAfter`, if given). Save it with saveCredentials(). */
export function generateIdentity(agentId: string, opts: { notAfter?: Date } = {}): AgentIdentity {
  const nats = createUser();
  const seed = nats.getSeed();
  try {
    return new AgentIdentity(agentId, [SigningKey.generate(opts)], seed);
  } finally {
    seed.fill(0);
    nats.clear();
  }
}

const isoDate = z.iso.datetime({ offset: true });
const CredentialFile = z.strictObject({
  agentbus_credentials: z.literal(CREDENTIALS_VERSION),
  agent: z.string().regex(AGENT_ID_RE, 'not a valid agent id'),
  nats_seed: z.string().regex(/^SU[A-Z2-7]{56}$/, 'not a NATS user nkey seed'),
  keys: z
    .array(
      z.strictObject({
        key_id: z.string(),
        seed: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'not a base64url 32-byte seed'),
        not_before: isoDate.optional(),
        not_after: isoDate.optional(),
      }),
    )
    .min(1),
});
type CredentialFile = z.infer<typeof CredentialFile>;

/** Write the credential file with mode 0600 (atomically: temp file + rename). */
export function saveCredentials(identity: AgentIdentity, path: string): void {
  const doc: CredentialFile = {
    agentbus_credentials: CREDENTIALS_VERSION,
    agent: identity.agentId,
    nats_seed: new TextDecoder().decode(identity.natsSeed()),
    keys: identity.keys.map((k) => {
      const seed = k.exportSeed();
      const entry: CredentialFile['keys'][number] = { key_id: k.keyId, seed: Buffer.from(seed).toString('base64url') };
      seed.fill(0);
      if (k.notBefore) entry.not_before = k.notBefore.toISOString();
      if (k.notAfter) entry.not_after = k.notAfter.toISOString();
      return entry;
    }),
  };
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, JSON.stringify(doc, null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * Load a credential file. Refuses one readable by group or others (like ssh does), one that
 * is not valid JSON of the expected shape, and one whose key ids do not match its seeds.
 * Errors name the file and the field, never a secret.
 */
export function loadCredentials(path: string): AgentIdentity {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new CredentialError(`cannot read credential file (${(e as NodeJS.ErrnoException).code ?? 'error'})`, path);
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new CredentialError(`credential file is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`, path);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new CredentialError('credential file is not valid JSON', path);
  }
  const parsed = CredentialFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CredentialError(`malformed credential file: ${issue.message} at ${issue.path.join('.') || '(root)'}`, path);
  }
  const doc = parsed.data;
  const keys = doc.keys.map((k, i) => {
    const seed = Buffer.from(k.seed, 'base64url');
    const opts: { notBefore?: Date; notAfter?: Date } = {};
    if (k.not_before) opts.notBefore = new Date(k.not_before);
    if (k.not_after) opts.notAfter = new Date(k.not_after);
    const key = new SigningKey(seed, opts);
    seed.fill(0);
    if (key.keyId !== k.key_id) throw new CredentialError(`malformed credential file: key_id does not match its seed at keys.${i}.key_id`, path);
    return key;
  });
  const natsSeed = new TextEncoder().encode(doc.nats_seed);
  try {
    fromSeed(natsSeed);
  } catch {
    throw new CredentialError('malformed credential file: bad nats_seed at nats_seed', path);
  }
  const id = new AgentIdentity(doc.agent, keys, natsSeed);
  natsSeed.fill(0);
  return id;
}
