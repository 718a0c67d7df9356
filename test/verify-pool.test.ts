// The verify pool (packages/protocol/src/verify-pool.ts): Ed25519 checks on worker threads give
// the acceptance rule's verdict for each check, in any mix and any number at once, and never a
// verdict for a check they did not make.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { VerifyPool } from '../packages/protocol/src/verify-pool.js';
import { backends } from '../packages/protocol/src/ed25519.js';
import { SIGNING_DOMAIN } from '../packages/protocol/src/envelope.js';

const sodium = backends.sodium!;
const seeds = Array.from({ length: 4 }, () => randomBytes(32));
const pks = seeds.map((s) => sodium.publicKey(s));
const signed = (i: number, header: Uint8Array) => sodium.sign(seeds[i % 4]!, Buffer.concat([SIGNING_DOMAIN, header]));
const check = (pool: VerifyPool, pk: Uint8Array, h: Uint8Array, sig: Uint8Array) => new Promise<boolean | undefined>((r) => pool.submit(pk, h, sig, r));

test('pool - 3,000 checks at once, valid and invalid mixed, over two workers: each gets its own verdict', async () => {
  const pool = VerifyPool.create(2)!;
  assert.ok(pool);
  try {
    const cases = Array.from({ length: 3000 }, (_, i) => {
      const h = randomBytes(50 + (i % 300));
      const sig = signed(i, h);
      const kind = i % 5; // 0,1,2 valid; 3 wrong key; 4 flipped header byte
      if (kind === 3) return { pk: pks[(i + 1) % 4]!, h, sig, want: false };
      if (kind === 4) {
        const bad = Uint8Array.from(h);
        bad[i % bad.length]! ^= 0x20;
        return { pk: pks[i % 4]!, h: bad, sig, want: false };
      }
      return { pk: pks[i % 4]!, h, sig, want: true };
    });
    const got = await Promise.all(cases.map((c) => check(pool, c.pk, c.h, c.sig)));
    cases.forEach((c, i) => assert.is(got[i], c.want, `check ${i}`));
    // the same answers as the inline backend
    cases.slice(0, 200).forEach((c, i) => assert.is(sodium.verify(c.pk, Buffer.concat([SIGNING_DOMAIN, c.h]), c.sig), c.want, `inline ${i}`));
    assert.is(pool.pending, 0);
  } finally {
    await pool.close();
  }
});

test('pool - the pre-checks of the acceptance rule: a small-order key or a non-canonical S is refused without a worker', async () => {
  const pool = VerifyPool.create(1)!;
  try {
    const h = randomBytes(60);
    const sig = signed(0, h);
    const identity = new Uint8Array(32);
    identity[0] = 1; // the identity point: small order
    assert.is(await check(pool, identity, h, sig), false);
    const highS = Uint8Array.from(sig);
    highS[63] = 0xff; // S ≥ L
    assert.is(await check(pool, pks[0]!, h, highS), false);
    assert.is(await check(pool, pks[0]!, h, sig), true);
  } finally {
    await pool.close();
  }
});

test('pool - closed: checks not answered yet, and later ones, come back undefined (not checked), never true', async () => {
  const pool = VerifyPool.create(1)!;
  const h = randomBytes(100);
  const sig = signed(0, h);
  const many = Array.from({ length: 500 }, () => check(pool, pks[0]!, h, sig));
  await pool.close();
  const got = await Promise.all(many);
  assert.ok(
    got.every((g) => g === true || g === undefined),
    'answered before the close, or not checked',
  );
  assert.ok(got.includes(undefined), 'some were still waiting');
  assert.is(await check(pool, pks[0]!, h, sig), undefined);
});

test('pool - no threads asked: no pool (the verifier checks inline)', () => {
  assert.is(VerifyPool.create(0), undefined);
});

test.run();
