/**
 * Ed25519 backends for agentbus: libsodium (sodium-native), node:crypto (OpenSSL) and a pure-JS
 * fallback built on @noble/ed25519's Point API.
 *
 * ## One acceptance rule for every backend
 *
 * RFC 8032 §5.1.7 says what a valid signature is, but leaves several choices open: whether the
 * check is cofactored ([8][S]B = [8]R + [8][k]A) or cofactorless ([S]B = R + [k]A), whether
 * small-order public keys and R values are allowed, and whether non-canonical point encodings
 * (y >= p) are accepted. Implementations chose differently. "Taming the many EdDSAs" (Chalkias,
 * Garillot, Nikolaenko, 2020) and its `ed25519-speccheck` vectors show that libsodium, OpenSSL
 * and noble (in both of its modes) give different verdicts on the same (key, message, signature)
 * triples. For a message bus where several processes verify the same envelope, often with
 * different backends, that is a real bug: one node accepts a message that another node rejects.
 *
 * So every backend here applies ONE rule: libsodium's `crypto_sign_ed25519_verify_detached` in
 * its default (non-`ED25519_COMPAT`) mode. A signature is accepted iff all of these hold:
 *
 *   1. publicKey is a Uint8Array of exactly 32 bytes, signature exactly 64 bytes, message a
 *      Uint8Array;
 *   2. S = signature[32..64] read little-endian is < L (no malleability through S + L; the
 *      RFC 8032 §5.1.7 check);
 *   3. R = signature[0..32] is not one of libsodium's small-order encodings (compared with the
 *      top/sign bit masked) and is canonical (y < p);
 *   4. A = publicKey is canonical (y < p) and not of small order (same blocklist), and decodes
 *      to a point on the curve;
 *   5. the COFACTORLESS equation holds byte-for-byte: encode([S]B - [k]A) == R, where
 *      k = SHA-512(R || A || M) mod L.
 *
 * Checks 1-4 (except the on-curve decode) are plain byte comparisons done in `acceptable()` in
 * front of every backend. Check 5 is done by the backend: libsodium and OpenSSL both compute the
 * cofactorless equation and compare encodings; for noble we compute it ourselves with the Point
 * API because noble's own `verify` is cofactored (it accepts speccheck case 4, and in its
 * default ZIP-215 mode also small-order keys and non-canonical R).
 *
 * Why libsodium's rule: it is the strictest of the three, so it is the only one the other two can
 * be made to match by adding cheap pre-checks (you cannot make a strict verifier looser).
 * Rejecting small-order A/R closes the "signature valid for any message" family of keys; strict
 * S < L and canonical encodings make signatures non-malleable (SUF-CMA), so a signature's bytes
 * can be used as a message id. Cofactorless vs cofactored only matters for signatures that no
 * honest signer produces, so honest traffic is unaffected. The speccheck disagreement table is in
 * docs/signature-rule.md.
 */
import { createRequire } from 'node:module';
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { Point, getPublicKey as nobleGetPublicKey, hashes, sign as nobleSign, utils } from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';

export interface Ed25519Backend {
  readonly name: 'sodium' | 'node' | 'noble';
  /** secretKey: 32-byte RFC 8032 seed, or 64-byte seed||publicKey. Returns 64-byte signature. Throws TypeError/RangeError naming the argument on wrong types/lengths (message must never include key bytes). */
  sign(secretKey: Uint8Array, message: Uint8Array): Uint8Array;
  /** Never throws: any bad input (wrong type, wrong length, non-canonical, small order...) returns false. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** 32-byte public key from the 32-byte seed */
  publicKey(seed: Uint8Array): Uint8Array;
  /** prepared signer for a seed: fast repeated signing (caches key objects / expanded keys). */
  signer(seed: Uint8Array): (message: Uint8Array) => Uint8Array;
}

// noble's synchronous API (getPublicKey, sign, utils.getExtendedPublicKey) needs a SHA-512 hook,
// wired as its README says. Don't clobber one another module installed.
if (hashes.sha512 === undefined) hashes.sha512 = sha512;

// ---------------------------------------------------------------------------------------------
// The pre-checks (rule items 1-4): byte comparisons only, no allocation.
// ---------------------------------------------------------------------------------------------

/** L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
]);
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/**
 * libsodium's `ge25519_has_small_order` blocklist (ed25519_ref10.c). Compared against the
 * encoding with the top (x sign) bit of the last byte masked off, so both signs are covered.
 * Together with the canonical check this rejects every encoding of the 8 torsion points.
 */
const SMALL_ORDER_BLOCKLIST: readonly Uint8Array[] = [
  // 0 (order 4)
  '0000000000000000000000000000000000000000000000000000000000000000',
  // 1 (order 1: the identity)
  '0100000000000000000000000000000000000000000000000000000000000000',
  // 2707385501144840649318225287225658788936804267575313519463743609750303402022 (order 8)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  // 55188659117513257062467267217118295137698188065244968500265048394206261417927 (order 8)
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  // p-1 (order 2)
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  // p (=0, order 4, non-canonical)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  // p+1 (=1, order 1, non-canonical)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

function isBytes(a: unknown): a is Uint8Array {
  return a instanceof Uint8Array;
}

/** libsodium `sc25519_is_canonical`: S (32 bytes little-endian at `off`) < L. */
function scalarIsCanonical(b: Uint8Array, off: number): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = b[off + i]!;
    const l = L_LE[i]!;
    if (x < l) return true;
    if (x > l) return false;
  }
  return false; // S == L
}

/** libsodium `ge25519_is_canonical`: the y coordinate (top bit masked) is < p = 2^255 - 19. */
function pointIsCanonical(b: Uint8Array, off: number): boolean {
  if ((b[off + 31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i > 0; i--) if (b[off + i] !== 0xff) return true;
  return b[off]! < 0xed;
}

/** libsodium `ge25519_has_small_order`: encoding (sign bit masked) is on the blocklist. */
function pointHasSmallOrder(b: Uint8Array, off: number): boolean {
  outer: for (const bad of SMALL_ORDER_BLOCKLIST) {
    for (let i = 0; i < 31; i++) if (b[off + i] !== bad[i]) continue outer;
    if ((b[off + 31]! & 0x7f) === bad[31]) return true;
  }
  return false;
}

/**
 * The pre-checks of the acceptance rule (items 1-4 above, minus the on-curve decode of A which
 * each backend does while computing the equation). Never throws. A `false` here means every
 * backend rejects; `true` means the verdict is decided by the cofactorless equation alone.
 */
export function acceptable(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (!isBytes(publicKey) || publicKey.length !== 32) return false;
  if (!isBytes(signature) || signature.length !== 64) return false;
  // RFC 8032 §5.1.7: S must be in [0, L). Without this, (R, S + L) would be a second valid
  // signature for the same message (malleability).
  if (!scalarIsCanonical(signature, 32)) return false;
  // R: no small-order value (would make the equation independent of the key for some messages)
  // and canonical. (Canonicality of R is also implied by the final byte comparison.)
  if (pointHasSmallOrder(signature, 0) || !pointIsCanonical(signature, 0)) return false;
  // A: canonical and not small order (a small-order key "verifies" forged signatures).
  if (!pointIsCanonical(publicKey, 0) || pointHasSmallOrder(publicKey, 0)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Argument checks for signing. Messages name the argument and its shape, never its content:
// a caller passing a hex/base64 string as secretKey must not get it echoed into logs.
// ---------------------------------------------------------------------------------------------

function kind(a: unknown): string {
  if (a === null) return 'null';
  if (typeof a !== 'object') return typeof a;
  const name = (a as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' ? name : 'object';
}

/** Returns the 32-byte seed view of a 32- or 64-byte secret key. */
function checkSecretKey(secretKey: unknown): Uint8Array {
  if (!isBytes(secretKey)) throw new TypeError(`secretKey must be a Uint8Array, got ${kind(secretKey)}`);
  if (secretKey.length !== 32 && secretKey.length !== 64) {
    throw new RangeError(`secretKey must be 32 bytes (seed) or 64 bytes (seed||publicKey), got ${secretKey.length} bytes`);
  }
  return secretKey.subarray(0, 32);
}

function checkSeed(seed: unknown): Uint8Array {
  if (!isBytes(seed)) throw new TypeError(`seed must be a Uint8Array, got ${kind(seed)}`);
  if (seed.length !== 32) throw new RangeError(`seed must be 32 bytes, got ${seed.length} bytes`);
  return seed;
}

function checkMessage(message: unknown): asserts message is Uint8Array {
  if (!isBytes(message)) throw new TypeError(`message must be a Uint8Array, got ${kind(message)}`);
}

/**
 * A 64-byte secret key carries its public key; signing with a public half that does not belong
 * to the seed would produce signatures that verify under neither key (and, with some libraries,
 * leaks the private scalar: the "double public key" signing-oracle attack). libsodium would sign
 * with the stored half while node/noble derive it, so we refuse the mismatch on every backend.
 */
function checkPublicHalf(secretKey: Uint8Array, derivedPublicKey: Uint8Array): void {
  if (secretKey.length !== 64) return;
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= secretKey[32 + i]! ^ derivedPublicKey[i]!;
  if (diff !== 0) throw new RangeError('secretKey: the 64-byte form must be seed||publicKey, and its public half does not match the seed');
}

function equal32(a: Uint8Array, b: Uint8Array, bOff: number): boolean {
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= a[i]! ^ b[bOff + i]!;
  return diff === 0;
}

// ---------------------------------------------------------------------------------------------
// sodium-native (libsodium). Loaded lazily and synchronously; absent addon => no sodium backend.
// ---------------------------------------------------------------------------------------------

interface SodiumNative {
  crypto_sign_seed_keypair(pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
}

/** libsodium's SHA-256 and HMAC-SHA-512-256 (one native call, no objects), when the addon loads. */
export interface NativeHashes {
  crypto_hash_sha256(out: Uint8Array, input: Uint8Array): void;
  /** HMAC-SHA-512 truncated to 32 bytes; the key is 32 bytes. */
  crypto_auth(out: Uint8Array, input: Uint8Array, key: Uint8Array): void;
}
let nativeHashesCache: NativeHashes | null | undefined;
export function nativeHashes(): NativeHashes | undefined {
  if (nativeHashesCache === undefined) {
    const s = loadSodium() as (SodiumNative & Partial<NativeHashes>) | undefined;
    nativeHashesCache = s && typeof s.crypto_hash_sha256 === 'function' && typeof s.crypto_auth === 'function' ? (s as NativeHashes) : null;
  }
  return nativeHashesCache ?? undefined;
}

function loadSodium(): SodiumNative | undefined {
  try {
    const require = createRequire(import.meta.url);
    const s = require('sodium-native') as Partial<SodiumNative>;
    if (
      typeof s.crypto_sign_seed_keypair !== 'function' ||
      typeof s.crypto_sign_detached !== 'function' ||
      typeof s.crypto_sign_verify_detached !== 'function'
    ) {
      return undefined;
    }
    return s as SodiumNative;
  } catch {
    return undefined;
  }
}

function makeSodiumBackend(s: SodiumNative): Ed25519Backend {
  /** 64-byte libsodium secret key (seed||pk) derived from the seed, plus the public key. */
  const keypair = (seed: Uint8Array): { pk: Uint8Array; sk: Uint8Array } => {
    const pk = new Uint8Array(32);
    const sk = new Uint8Array(64);
    s.crypto_sign_seed_keypair(pk, sk, seed);
    return { pk, sk };
  };
  const detached = (sk: Uint8Array, message: Uint8Array): Uint8Array => {
    const sig = new Uint8Array(64);
    s.crypto_sign_detached(sig, message, sk);
    return sig;
  };
  return {
    name: 'sodium',
    sign(secretKey, message) {
      const seed = checkSecretKey(secretKey);
      checkMessage(message);
      const { pk, sk } = keypair(seed);
      try {
        checkPublicHalf(secretKey, pk);
        return detached(sk, message);
      } finally {
        sk.fill(0);
      }
    },
    verify(publicKey, message, signature) {
      try {
        if (!acceptable(publicKey, signature) || !isBytes(message)) return false;
        // Same rule, enforced again natively (libsodium non-compat mode) + cofactorless equation.
        return s.crypto_sign_verify_detached(signature, message, publicKey) === true;
      } catch {
        return false;
      }
    },
    publicKey(seed) {
      const { pk, sk } = keypair(checkSeed(seed));
      sk.fill(0);
      return pk;
    },
    signer(seed) {
      const { sk } = keypair(checkSeed(seed));
      return (message) => {
        checkMessage(message);
        return detached(sk, message);
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// node:crypto (OpenSSL). OpenSSL's ED25519_verify checks S < L and computes the cofactorless
// equation with a byte comparison, but accepts small-order A and R (speccheck cases 0-2):
// acceptable() in front closes that gap.
// ---------------------------------------------------------------------------------------------

const SPKI_PREFIX = Uint8Array.from(Buffer.from('302a300506032b6570032100', 'hex'));
const PKCS8_PREFIX = Uint8Array.from(Buffer.from('302e020100300506032b657004220420', 'hex'));
const NODE_KEY_CACHE_MAX = 4096;
/** Public KeyObjects by hex key; bounded, oldest-inserted evicted first. Only public data. */
const nodePublicKeys = new Map<string, KeyObject>();

function nodePublicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString('hex');
  let key = nodePublicKeys.get(id);
  if (key === undefined) {
    const der = new Uint8Array(44);
    der.set(SPKI_PREFIX, 0);
    der.set(publicKey, 12);
    key = createPublicKey({ key: Buffer.from(der.buffer), format: 'der', type: 'spki' });
    if (nodePublicKeys.size >= NODE_KEY_CACHE_MAX) {
      const oldest = nodePublicKeys.keys().next();
      if (oldest.done !== true) nodePublicKeys.delete(oldest.value);
    }
    nodePublicKeys.set(id, key);
  }
  return key;
}

function nodePrivateKeyObject(seed: Uint8Array): KeyObject {
  const der = new Uint8Array(48);
  der.set(PKCS8_PREFIX, 0);
  der.set(seed, 16);
  try {
    return createPrivateKey({ key: Buffer.from(der.buffer), format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0); // our copy of the seed
  }
}

function nodePublicKeyOf(priv: KeyObject): Uint8Array {
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(12, 44)); // plain Uint8Array copy, not a Buffer
}

function nodeSignWith(priv: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, priv)); // plain Uint8Array copy, not a Buffer
}

const nodeBackend: Ed25519Backend = {
  name: 'node',
  sign(secretKey, message) {
    const seed = checkSecretKey(secretKey);
    checkMessage(message);
    const priv = nodePrivateKeyObject(seed);
    if (secretKey.length === 64) checkPublicHalf(secretKey, nodePublicKeyOf(priv));
    return nodeSignWith(priv, message);
  },
  verify(publicKey, message, signature) {
    try {
      if (!acceptable(publicKey, signature) || !isBytes(message)) return false;
      return nodeVerify(null, message, nodePublicKeyObject(publicKey), signature);
    } catch {
      return false; // e.g. a y with no square root (not on the curve)
    }
  },
  publicKey(seed) {
    return nodePublicKeyOf(nodePrivateKeyObject(checkSeed(seed)));
  },
  signer(seed) {
    const priv = nodePrivateKeyObject(checkSeed(seed));
    return (message) => {
      checkMessage(message);
      return nodeSignWith(priv, message);
    };
  },
};

// ---------------------------------------------------------------------------------------------
// noble (pure JS). noble's verify() is cofactored ([8]([S]B - R - [k]A) == O), in both modes, so
// it would accept speccheck case 4 (and more in its ZIP-215 default). We do NOT use it: the
// cofactorless equation is computed here with the Point API and compared as bytes, exactly as
// libsodium's ge25519_double_scalarmult_vartime + ge25519_tobytes + memcmp does.
// ---------------------------------------------------------------------------------------------

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Little-endian bytes b[start..end) to bigint. */
function leToBigInt(b: Uint8Array, start: number, end: number): bigint {
  let hex = '';
  for (let i = end - 1; i >= start; i--) hex += HEX_BYTE[b[i]!];
  return hex === '' ? 0n : BigInt('0x' + hex);
}

function bigIntToLE(n: bigint, out: Uint8Array, off: number, len: number): void {
  for (let i = 0; i < len; i++) {
    out[off + i] = Number(n & 0xffn);
    n >>= 8n;
  }
}

/** SHA-512 of the concatenated parts, reduced mod L (RFC 8032 §5.1.6 step 2/4, §5.1.7 step 2). */
function sha512ModL(...parts: Uint8Array[]): bigint {
  const h = sha512.create();
  for (const p of parts) h.update(p);
  return leToBigInt(h.digest(), 0, 64) % L;
}

interface NobleExpanded {
  readonly prefix: Uint8Array;
  readonly scalar: bigint;
  readonly publicKey: Uint8Array;
}

function nobleExpand(seed: Uint8Array): NobleExpanded {
  const { prefix, scalar, pointBytes } = utils.getExtendedPublicKey(seed);
  return { prefix, scalar, publicKey: pointBytes };
}

/** RFC 8032 §5.1.6 with a pre-expanded key (same arithmetic as noble's own sign()). */
function nobleSignExpanded(e: NobleExpanded, message: Uint8Array): Uint8Array {
  const r = sha512ModL(e.prefix, message);
  const R = Point.BASE.multiply(r).toBytes(); // constant-time ladder; r in [1, L)
  const k = sha512ModL(R, e.publicKey, message);
  const S = (r + k * e.scalar) % L;
  const sig = new Uint8Array(64);
  sig.set(R, 0);
  bigIntToLE(S, sig, 32, 32);
  return sig;
}

const nobleBackend: Ed25519Backend = {
  name: 'noble',
  sign(secretKey, message) {
    const seed = checkSecretKey(secretKey);
    checkMessage(message);
    if (secretKey.length === 64) checkPublicHalf(secretKey, nobleGetPublicKey(seed));
    return nobleSign(message, seed);
  },
  verify(publicKey, message, signature) {
    try {
      if (!acceptable(publicKey, signature) || !isBytes(message)) return false;
      // Strict RFC 8032 §5.1.3 decoding; throws if y has no square root (not on the curve).
      const A = Point.fromBytes(publicKey, false);
      const S = leToBigInt(signature, 32, 64); // < L, checked by acceptable()
      const k = sha512ModL(signature.subarray(0, 32), publicKey, message);
      // Cofactorless: encode([S]B - [k]A) must equal the R bytes. Inputs are public: unsafe
      // (variable-time) multiplication is fine and accepts S = 0 / k = 0.
      const check = Point.BASE.multiplyUnsafe(S).subtract(A.multiplyUnsafe(k)).toBytes();
      return equal32(check, signature, 0);
    } catch {
      return false;
    }
  },
  publicKey(seed) {
    return nobleGetPublicKey(checkSeed(seed));
  },
  signer(seed) {
    const e = nobleExpand(checkSeed(seed));
    return (message) => {
      checkMessage(message);
      return nobleSignExpanded(e, message);
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

let sodiumState: { backend: Ed25519Backend | undefined } | undefined;

function sodiumBackend(): Ed25519Backend | undefined {
  if (sodiumState === undefined) {
    const s = loadSodium();
    sodiumState = { backend: s === undefined ? undefined : makeSodiumBackend(s) };
  }
  return sodiumState.backend;
}

export const backends: { sodium?: Ed25519Backend; node: Ed25519Backend; noble: Ed25519Backend } = {
  /** undefined when the sodium-native addon cannot be loaded; loaded on first access. */
  get sodium(): Ed25519Backend | undefined {
    return sodiumBackend();
  },
  node: nodeBackend,
  noble: nobleBackend,
};

/** The fastest available backend: sodium, else node. */
export function defaultBackend(): Ed25519Backend {
  return sodiumBackend() ?? nodeBackend;
}
