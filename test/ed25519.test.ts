import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createPublicKey, randomBytes, verify as rawNodeVerify } from 'node:crypto';
import { inspect } from 'node:util';
import { Point, verify as nobleStockVerify } from '@noble/ed25519';
import { acceptable, backends, defaultBackend, nativeHashes, type Ed25519Backend } from '../packages/protocol/src/ed25519.js';
import { ALL_BACKENDS, sodium, haveSodium } from './helpers/backends.js';
import { createHash, createHmac } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const rand = (n: number): Uint8Array => Uint8Array.from(randomBytes(n));
const randInt = (n: number): number => randomBytes(4).readUInt32LE(0) % n;
const vectors = <T>(name: string): T => JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8')) as T;

/** sodium, node, noble: a sodium that does not load fails the suite (test/helpers/backends.ts). */
const ALL: Ed25519Backend[] = ALL_BACKENDS;

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const leToBig = (b: Uint8Array): bigint => BigInt('0x' + (toHex(Uint8Array.from(b).reverse()) || '0'));
const bigTo32LE = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
};

interface Rfc8032Vector {
  name: string;
  secret: string;
  public: string;
  message: string;
  signature: string;
}
interface SpeccheckCase {
  message: string;
  pub_key: string;
  signature: string;
}

const RFC = vectors<Rfc8032Vector[]>('rfc8032-ed25519.json');
const SPECCHECK = vectors<SpeccheckCase[]>('ed25519-speccheck-cases.json');

/**
 * agentbus's verdict on the ten ed25519-speccheck cases (Chalkias et al., "Taming the many
 * EdDSAs"): libsodium's rule. Only case 3 is a signature every strict verifier must accept.
 */
const EXPECTED: readonly boolean[] = [
  false, // 0: S = 0, small-order A and small-order R (equation holds both ways) -> A small order
  false, // 1: small-order A, mixed-order R (equation holds both ways)            -> A small order
  false, // 2: mixed-order A, small-order R (equation holds both ways)            -> R small order
  true, //  3: mixed-order A and R, cofactorless AND cofactored equations hold     -> accept
  false, // 4: mixed-order A and R, only the cofactored equation holds             -> cofactorless fails
  false, // 5: mixed-order A, prime-order R, only the cofactored equation holds   -> cofactorless fails
  false, // 6: S >= L (S < 2^253); equation holds for S mod L                      -> S not canonical
  false, // 7: S >> L (top bits set); equation holds for S mod L                   -> S not canonical
  false, // 8: non-canonical R (y = p, order 4); holds only if k hashes re-encoded R -> R small order / non-canonical
  false, // 9: same non-canonical R; holds (as points) with k over the raw R bytes -> R small order / non-canonical
];

/** Raw node:crypto (OpenSSL) verify, without agentbus's pre-checks. */
const SPKI = hex('302a300506032b6570032100');
function opensslRaw(pk: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.concat([SPKI, pk]), format: 'der', type: 'spki' });
  return rawNodeVerify(null, msg, key, sig);
}
function nobleStock(pk: Uint8Array, msg: Uint8Array, sig: Uint8Array, zip215: boolean): boolean {
  try {
    return nobleStockVerify(sig, msg, pk, { zip215 });
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// 1. RFC 8032 vectors
// ---------------------------------------------------------------------------------------------

test('hashes - libsodium SHA-256 and HMAC-SHA-512-256 give the node:crypto bytes (verifiers with and without the addon agree)', () => {
  if (!haveSodium('libsodium hashes')) return;
  const n = nativeHashes();
  assert.ok(n, 'sodium-native is installed here');
  for (let i = 0; i < 200; i++) {
    const input = randomBytes(i * 7);
    const key = randomBytes(32);
    const h = Buffer.alloc(32);
    n.crypto_hash_sha256(h, input);
    assert.equal(h, createHash('sha256').update(input).digest());
    const mac = Buffer.alloc(32);
    n.crypto_auth(mac, input, key);
    assert.equal(mac, createHmac('sha512', key).update(input).digest().subarray(0, 32));
  }
});

test('ed25519 - RFC 8032 §7.1 vectors sign and verify on every backend', () => {
  assert.ok(ALL.length >= 2, 'node and noble are always available');
  assert.is(RFC.length, 5);
  for (const v of RFC) {
    const seed = hex(v.secret);
    const msg = hex(v.message);
    const sigs: string[] = [];
    for (const b of ALL) {
      assert.is(toHex(b.publicKey(seed)), v.public, `${b.name} publicKey ${v.name}`);
      const sig = b.sign(seed, msg);
      assert.ok(sig instanceof Uint8Array && sig.length === 64, `${b.name} returns 64 bytes`);
      assert.is(toHex(sig), v.signature, `${b.name} sign ${v.name}`);
      assert.is(toHex(b.signer(seed)(msg)), v.signature, `${b.name} signer ${v.name}`);
      // 64-byte seed||publicKey form gives the same signature
      assert.is(toHex(b.sign(hex(v.secret + v.public), msg)), v.signature, `${b.name} sign(64-byte key) ${v.name}`);
      assert.ok(b.verify(hex(v.public), msg, hex(v.signature)), `${b.name} verify ${v.name}`);
      sigs.push(toHex(sig));
    }
    assert.ok(
      sigs.every((s) => s === sigs[0]),
      `identical signatures across backends for ${v.name}`,
    );
  }
});

test('ed25519 - defaultBackend is sodium when it loads, else node', () => {
  assert.is(defaultBackend().name, sodium !== undefined ? 'sodium' : 'node');
  assert.is(backends.node.name, 'node');
  assert.is(backends.noble.name, 'noble');
});

// ---------------------------------------------------------------------------------------------
// 2. speccheck: one verdict, libsodium's
// ---------------------------------------------------------------------------------------------

test("ed25519 - every backend gives libsodium's verdict on the 10 speccheck cases", () => {
  assert.is(SPECCHECK.length, 10);
  SPECCHECK.forEach((c, i) => {
    const pk = hex(c.pub_key);
    const msg = hex(c.message);
    const sig = hex(c.signature);
    for (const b of ALL) {
      assert.is(b.verify(pk, msg, sig), EXPECTED[i], `case ${i} on ${b.name}`);
    }
    // Every rejection except the cofactorless-equation failures (4, 5) is made by the pre-checks.
    assert.is(acceptable(pk, sig), i === 3 || i === 4 || i === 5, `acceptable() on case ${i}`);
  });
});

test('ed25519 - without the pre-checks OpenSSL and noble stock verify disagree with the rule', () => {
  const verdicts = (f: (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => boolean): boolean[] =>
    SPECCHECK.map((c) => f(hex(c.pub_key), hex(c.message), hex(c.signature)));
  const openssl = verdicts(opensslRaw);
  const nobleZip215 = verdicts((p, m, s) => nobleStock(p, m, s, true));
  const nobleStrict = verdicts((p, m, s) => nobleStock(p, m, s, false));
  const differs = (v: boolean[]): number[] => v.flatMap((x, i) => (x !== EXPECTED[i] ? [i] : []));

  // OpenSSL: cofactorless and S < L, but no small-order checks -> accepts cases 0, 1, 2.
  assert.ok(differs(openssl).length > 0, 'raw OpenSSL disagrees somewhere');
  assert.ok(openssl[0] && openssl[1] && openssl[2], 'raw OpenSSL accepts small-order A / R (cases 0-2)');
  // noble default (ZIP-215): cofactored, small order and non-canonical R allowed.
  assert.ok(nobleZip215[0] && nobleZip215[4] && nobleZip215[5] && nobleZip215[9], 'noble zip215 accepts 0, 4, 5, 9');
  // noble { zip215: false }: cofactored, rejects small-order A only -> still accepts 2, 4, 5.
  assert.ok(nobleStrict[2] && nobleStrict[4] && nobleStrict[5], 'noble strict accepts 2, 4, 5');
  // None of them accepts fewer than the rule: the rule is the strictest, so pre-checks suffice.
  for (const v of [openssl, nobleZip215, nobleStrict]) {
    EXPECTED.forEach((e, i) => {
      if (e) assert.ok(v[i], `case ${i} accepted by every verifier`);
    });
  }
});

test('ed25519 - every encoding of the 8 small-order points is refused as A and as R', () => {
  const seed = rand(32);
  const msg = rand(40);
  const b0 = ALL[0]!;
  const pk = b0.publicKey(seed);
  const sig = b0.sign(seed, msg);
  assert.ok(acceptable(pk, sig));
  // The torsion subgroup: multiples of an order-8 point.
  const T8 = Point.fromBytes(hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a'), false);
  assert.ok(T8.multiply(4n, false).is0() === false && T8.multiply(8n, false).is0());
  const encodings: Uint8Array[] = [];
  let P = Point.ZERO;
  for (let i = 0; i < 8; i++, P = P.add(T8)) {
    const e = P.toBytes();
    encodings.push(e);
    const flipped = Uint8Array.from(e);
    flipped[31]! ^= 0x80; // the other sign (valid, or "-0" for x = 0)
    encodings.push(flipped);
  }
  // non-canonical encodings of torsion points: y = p (0) and y = p + 1 (1), both signs
  for (const h of ['edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f']) {
    encodings.push(hex(h));
    const f = hex(h);
    f[31]! |= 0x80;
    encodings.push(f);
  }
  for (const e of encodings) {
    const badR = Uint8Array.from(sig);
    badR.set(e, 0);
    assert.not.ok(acceptable(e, sig), `A = ${toHex(e)}`);
    assert.not.ok(acceptable(pk, badR), `R = ${toHex(e)}`);
    for (const b of ALL) {
      assert.not.ok(b.verify(e, msg, sig), `${b.name} A = ${toHex(e)}`);
      assert.not.ok(b.verify(pk, msg, badR), `${b.name} R = ${toHex(e)}`);
    }
  }
});

test('ed25519 - non-canonical and off-curve public keys are rejected by every backend', () => {
  const msg = rand(16);
  const sig = ALL[0]!.sign(rand(32), msg);
  // y in [p, 2^255): non-canonical encodings (p..p+18), both signs
  for (let d = 0; d < 19; d++) {
    for (const sign of [0, 0x80]) {
      const a = new Uint8Array(32).fill(0xff);
      a[0] = 0xed + d;
      a[31] = 0x7f | sign;
      assert.not.ok(acceptable(a, sig));
      for (const b of ALL) assert.not.ok(b.verify(a, msg, sig), `${b.name} y = p + ${d}`);
    }
  }
  // canonical y with no x on the curve: the backends' decoders reject it, all the same way
  let offCurve: Uint8Array | undefined;
  for (let y = 2; offCurve === undefined; y++) {
    const a = bigTo32LE(BigInt(y));
    try {
      Point.fromBytes(a, false);
    } catch {
      offCurve = a;
    }
  }
  const sig2 = Uint8Array.from(sig);
  assert.ok(acceptable(offCurve, sig2), 'passes the byte pre-checks');
  for (const b of ALL) assert.not.ok(b.verify(offCurve, msg, sig2), `${b.name} off-curve A`);
});

// ---------------------------------------------------------------------------------------------
// 3. malleability, bad inputs, bit flips
// ---------------------------------------------------------------------------------------------

test('ed25519 - non-canonical S (S + L) is rejected by every backend', () => {
  for (let i = 0; i < 20; i++) {
    const seed = rand(32);
    const msg = rand(1 + randInt(64));
    const b0 = ALL[0]!;
    const pk = b0.publicKey(seed);
    const sig = b0.sign(seed, msg);
    const S = leToBig(sig.subarray(32));
    const mall = Uint8Array.from(sig);
    mall.set(bigTo32LE(S + L), 32);
    assert.not.ok(acceptable(pk, mall));
    // [S + L]B = [S]B, so without the S < L check (RFC 8032 §5.1.7) this would be a second valid
    // signature for the same message. The three libraries also check it; so does acceptable().
    assert.not.ok(nobleStock(pk, msg, mall, true));
    assert.not.ok(opensslRaw(pk, msg, mall));
    for (const b of ALL) {
      assert.ok(b.verify(pk, msg, sig), `${b.name} original`);
      assert.not.ok(b.verify(pk, msg, mall), `${b.name} S + L`);
    }
  }
});

test('ed25519 - wrong lengths and non-Uint8Array inputs return false and never throw', () => {
  const seed = rand(32);
  const msg = rand(33);
  const pk = backends.node.publicKey(seed);
  const sig = backends.node.sign(seed, msg);
  const junk: unknown[] = [
    undefined,
    null,
    0,
    42n,
    'abc',
    {},
    [],
    Array.from(pk),
    new Uint16Array(16),
    new ArrayBuffer(32),
    new DataView(new ArrayBuffer(64)),
    () => pk,
    Symbol('x'),
  ];
  const badPks: unknown[] = [...junk, new Uint8Array(0), pk.subarray(0, 31), Uint8Array.from([...pk, 0]), toHex(pk)];
  const badSigs: unknown[] = [...junk, new Uint8Array(0), sig.subarray(0, 63), Uint8Array.from([...sig, 0]), toHex(sig)];
  const badMsgs: unknown[] = [...junk.filter((x) => !(x instanceof Uint8Array)), toHex(msg)];
  for (const b of ALL) {
    assert.ok(b.verify(pk, msg, sig));
    const call = (p: unknown, m: unknown, s: unknown): boolean => {
      try {
        return (b.verify as (p: unknown, m: unknown, s: unknown) => boolean)(p, m, s);
      } catch (e) {
        assert.unreachable(`${b.name} verify threw: ${String(e)}`);
        return true;
      }
    };
    for (const p of badPks) assert.is(call(p, msg, sig), false, `${b.name} pk ${kindOf(p)}`);
    for (const s of badSigs) assert.is(call(pk, msg, s), false, `${b.name} sig ${kindOf(s)}`);
    for (const m of badMsgs) assert.is(call(pk, m, sig), false, `${b.name} msg ${kindOf(m)}`);
    assert.is(call(undefined, undefined, undefined), false);
  }
  for (const p of badPks) assert.not.ok(acceptable(p as Uint8Array, sig));
  for (const s of badSigs) assert.not.ok(acceptable(pk, s as Uint8Array));
  // sub-views with a byteOffset are fine
  const big = new Uint8Array(200);
  big.set(pk, 7);
  big.set(sig, 50);
  big.set(msg, 120);
  for (const b of ALL) assert.ok(b.verify(big.subarray(7, 39), big.subarray(120, 153), big.subarray(50, 114)), `${b.name} subarray views`);
});

function kindOf(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return `${(x as object).constructor?.name ?? 'object'}(${(x as { length?: number }).length ?? '?'})`;
}

test('ed25519 - flipping any single bit of message or signature makes verify fail', () => {
  // a few hundred random (key, message, bit) trials on every backend
  for (let i = 0; i < 300; i++) {
    const seed = rand(32);
    const msg = rand(1 + randInt(200));
    const b0 = ALL[i % ALL.length]!;
    const pk = b0.publicKey(seed);
    const sig = b0.sign(seed, msg);
    const m2 = Uint8Array.from(msg);
    const s2 = Uint8Array.from(sig);
    const mb = randInt(msg.length * 8);
    const sb = randInt(512);
    m2[mb >> 3]! ^= 1 << (mb & 7);
    s2[sb >> 3]! ^= 1 << (sb & 7);
    for (const b of ALL) {
      assert.ok(b.verify(pk, msg, sig), `${b.name} original #${i}`);
      assert.not.ok(b.verify(pk, m2, sig), `${b.name} message bit ${mb} #${i}`);
      assert.not.ok(b.verify(pk, msg, s2), `${b.name} signature bit ${sb} #${i}`);
    }
  }
  // and exhaustively: all 512 signature bits and all message bits of one signature
  const seed = rand(32);
  const msg = rand(24);
  const pk = backends.node.publicKey(seed);
  const sig = backends.node.sign(seed, msg);
  for (let bit = 0; bit < 512; bit++) {
    const s2 = Uint8Array.from(sig);
    s2[bit >> 3]! ^= 1 << (bit & 7);
    for (const b of ALL) assert.not.ok(b.verify(pk, msg, s2), `${b.name} signature bit ${bit}`);
  }
  for (let bit = 0; bit < msg.length * 8; bit++) {
    const m2 = Uint8Array.from(msg);
    m2[bit >> 3]! ^= 1 << (bit & 7);
    for (const b of ALL) assert.not.ok(b.verify(pk, m2, sig), `${b.name} message bit ${bit}`);
  }
});

// ---------------------------------------------------------------------------------------------
// 4. cross-backend agreement on random keys
// ---------------------------------------------------------------------------------------------

test('ed25519 - 500 random (key, message) pairs: identical signatures, all backends verify all', () => {
  for (let i = 0; i < 500; i++) {
    const seed = rand(32);
    const msg = rand(randInt(300)); // includes the empty message
    const pks = ALL.map((b) => toHex(b.publicKey(seed)));
    assert.ok(
      pks.every((p) => p === pks[0]),
      `public keys agree #${i}`,
    );
    const pk = hex(pks[0]!);
    const sigs = ALL.flatMap((b) => [b.sign(seed, msg), b.signer(seed)(msg)]).map(toHex);
    assert.ok(
      sigs.every((s) => s === sigs[0]),
      `signatures agree #${i}: ${sigs.join(' ')}`,
    );
    const sig = hex(sigs[0]!);
    assert.ok(acceptable(pk, sig));
    for (const b of ALL) assert.ok(b.verify(pk, msg, sig), `${b.name} verifies #${i}`);
  }
});

test('ed25519 - a signer is reusable and matches one-shot sign', () => {
  for (const b of ALL) {
    const seed = rand(32);
    const s = b.signer(seed);
    for (let i = 0; i < 5; i++) {
      const msg = rand(50);
      assert.equal(s(msg), b.sign(seed, msg));
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 5. errors never carry key material
// ---------------------------------------------------------------------------------------------

test('ed25519 - an error thrown by sign on a bad argument never contains the secret key', () => {
  const seed = rand(32);
  const pk = backends.node.publicKey(seed);
  const other = backends.node.publicKey(rand(32));
  const forms = (b: Uint8Array): string[] => [
    Buffer.from(b).toString('hex'),
    Buffer.from(b).toString('hex').toUpperCase(),
    Buffer.from(b).toString('base64'),
    Buffer.from(b).toString('base64url'),
    Array.from(b).join(','),
    Array.from(b).join(', '),
  ];
  const secretForms = [...forms(seed), ...forms(seed.subarray(0, 16))];
  const badKeys: { key: unknown; why: string; type: ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor }[] = [
    { key: Buffer.from(seed).toString('hex'), why: 'hex string', type: TypeError },
    { key: Buffer.from(seed).toString('base64'), why: 'base64 string', type: TypeError },
    { key: Array.from(seed), why: 'number[]', type: TypeError },
    { key: seed.buffer, why: 'ArrayBuffer', type: TypeError },
    { key: Uint8Array.from([...seed, 1]), why: '33 bytes', type: RangeError },
    { key: seed.subarray(0, 31), why: '31 bytes', type: RangeError },
    { key: Uint8Array.from([...seed, ...seed, 0]), why: '65 bytes', type: RangeError },
    { key: Uint8Array.from([...seed, ...other]), why: '64 bytes with a foreign public half', type: RangeError },
    { key: undefined, why: 'undefined', type: TypeError },
  ];
  const check = (e: unknown, label: string, type: Function, argName: string): void => {
    assert.instance(e, type, label);
    const text = [String(e), (e as Error).stack ?? '', inspect(e, { depth: 5 }), JSON.stringify(e)].join('\n');
    assert.ok(text.includes(argName), `${label}: error names ${argName}: ${String(e)}`);
    for (const f of secretForms) assert.not.ok(text.includes(f), `${label}: error leaks key material`);
  };
  for (const b of ALL) {
    // sanity: the good 64-byte form works
    b.sign(Uint8Array.from([...seed, ...pk]), new Uint8Array(1));
    for (const { key, why, type } of badKeys) {
      try {
        (b.sign as (k: unknown, m: Uint8Array) => Uint8Array)(key, new Uint8Array(3));
        assert.unreachable(`${b.name} sign accepted ${why}`);
      } catch (e) {
        if ((e as Error).name === 'Assertion') throw e;
        check(e, `${b.name} sign(${why})`, type, 'secretKey');
      }
      for (const [fn, arg] of [
        ['publicKey', 'seed'],
        ['signer', 'seed'],
      ] as const) {
        if (key instanceof Uint8Array && key.length === 32) continue;
        try {
          (b[fn] as (k: unknown) => unknown)(key);
          assert.unreachable(`${b.name} ${fn} accepted ${why}`);
        } catch (e) {
          if ((e as Error).name === 'Assertion') throw e;
          check(e, `${b.name} ${fn}(${why})`, Error, arg);
        }
      }
    }
    // bad message with a good key: the error names the message, not the key
    for (const m of ['hello', undefined, [1, 2, 3]]) {
      try {
        (b.sign as (k: Uint8Array, m: unknown) => Uint8Array)(seed, m);
        assert.unreachable(`${b.name} sign accepted message ${String(m)}`);
      } catch (e) {
        if ((e as Error).name === 'Assertion') throw e;
        check(e, `${b.name} sign(message ${kindOf(m)})`, TypeError, 'message');
      }
      try {
        (b.signer(seed) as (m: unknown) => Uint8Array)(m);
        assert.unreachable(`${b.name} signer accepted message ${String(m)}`);
      } catch (e) {
        if ((e as Error).name === 'Assertion') throw e;
        check(e, `${b.name} signer(message ${kindOf(m)})`, TypeError, 'message');
      }
    }
  }
});

test.run();
