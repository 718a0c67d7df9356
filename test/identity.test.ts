import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, chmodSync, statSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Writable } from 'node:stream';
import { fromSeed } from '@nats-io/nkeys';
import { generateIdentity, loadCredentials, saveCredentials, SigningKey } from '../packages/sdk/src/identity.js';
import { CredentialError } from '../packages/sdk/src/errors.js';
import { backends } from '../packages/protocol/src/ed25519.js';
import { createLogger } from '../packages/sdk/src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-id-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function secretsOf(path: string): string[] {
  const doc = JSON.parse(readFileSync(path, 'utf8'));
  const out: string[] = [doc.nats_seed];
  for (const k of doc.keys) {
    out.push(k.seed, Buffer.from(k.seed, 'base64url').toString('hex'), Buffer.from(k.seed, 'base64url').toString('base64'));
  }
  return out;
}

test('identity - credential file is written 0600 and loads back the same identity', () => {
  const id = generateIdentity('planner');
  const p = join(dir, 'planner.creds.json');
  saveCredentials(id, p);
  assert.is(statSync(p).mode & 0o777, 0o600);
  const back = loadCredentials(p);
  assert.is(back.agentId, 'planner');
  assert.is(back.natsPublicKey, id.natsPublicKey);
  assert.is(back.currentKey().keyId, id.currentKey().keyId);
  const msg = new TextEncoder().encode('hello');
  assert.equal(Buffer.from(back.currentKey().sign(msg)), Buffer.from(id.currentKey().sign(msg)));
});

test('identity - the NATS nkey and the envelope signing key are different keys', () => {
  const id = generateIdentity('coder');
  const natsPub = fromSeed(id.natsSeed()).getPublicKey();
  assert.is(natsPub, id.natsPublicKey);
  const natsRaw = fromSeed(id.natsSeed());
  const nonce = new TextEncoder().encode('server-chosen-nonce');
  // A signature the NATS key makes over a nonce must never verify as an envelope key's signature.
  const sig = natsRaw.sign(nonce);
  for (const k of id.keys) assert.not.ok(backends.node.verify(k.publicKey, nonce, sig));
});

test('identity - refuses a credential file readable by group or others', () => {
  const id = generateIdentity('reviewer');
  const p = join(dir, 'reviewer.creds.json');
  saveCredentials(id, p);
  for (const mode of [0o644, 0o640, 0o604]) {
    chmodSync(p, mode);
    const err = (() => {
      try {
        loadCredentials(p);
      } catch (e) {
        return e;
      }
    })();
    assert.instance(err, CredentialError);
    assert.match((err as Error).message, /chmod 600/);
    for (const s of secretsOf(p)) assert.not.ok((err as Error).message.includes(s));
  }
});

test('identity - refuses malformed credential files with the file and field named', () => {
  const cases: [string, RegExp][] = [
    ['not json', /not valid JSON/],
    ['{}', /agentbus_credentials/],
    [JSON.stringify({ agentbus_credentials: 1, agent: 'BAD ID', nats_seed: 'x', keys: [] }), /agent/],
    [JSON.stringify({ agentbus_credentials: 1, agent: 'ok', nats_seed: 'SUAAA', keys: [] }), /nats_seed/],
  ];
  const good = generateIdentity('x');
  const gp = join(dir, 'good.json');
  saveCredentials(good, gp);
  const doc = JSON.parse(readFileSync(gp, 'utf8'));
  doc.keys[0].key_id = 'kdeadbeefdeadbeef';
  cases.push([JSON.stringify(doc), /keys\.0\.key_id/]);
  for (const [text, re] of cases) {
    const p = join(dir, 'bad.json');
    writeFileSync(p, text, { mode: 0o600 });
    chmodSync(p, 0o600);
    const err = (() => {
      try {
        loadCredentials(p);
      } catch (e) {
        return e;
      }
    })();
    assert.instance(err, CredentialError, text);
    assert.match((err as Error).message, re);
    assert.ok((err as Error).message.startsWith(p));
  }
  const missing = (() => {
    try {
      loadCredentials(join(dir, 'nope.json'));
    } catch (e) {
      return e;
    }
  })();
  assert.instance(missing, CredentialError);
  assert.match((missing as Error).message, /ENOENT/);
});

test('identity - rotation keeps the old key next to the new one; the newest signs', () => {
  const id = generateIdentity('researcher');
  const old = id.currentKey();
  const fresh = id.rotate();
  assert.is(id.keys.length, 2);
  assert.is(id.currentKey().keyId, fresh.keyId);
  assert.is.not(fresh.keyId, old.keyId);
  const p = join(dir, 'researcher.json');
  saveCredentials(id, p);
  const back = loadCredentials(p);
  assert.equal(
    back.keys.map((k) => k.keyId),
    [old.keyId, fresh.keyId],
  );
  assert.equal(
    back.publicManifest().keys.map((k) => k.key_id),
    [old.keyId, fresh.keyId],
  );
  assert.ok(id.removeKey(old.keyId));
  assert.is(id.keys.length, 1);
});

test('identity - a key outside its validity window is not used for signing', () => {
  const id = generateIdentity('a1', { notAfter: new Date(Date.now() - 1000) });
  assert.throws(() => id.currentKey(), /no signing key valid/);
  const k = id.rotate();
  assert.is(id.currentKey().keyId, k.keyId);
});

test('identity - secrets never appear in toString, inspect, JSON.stringify, errors or log lines', () => {
  const id = generateIdentity('secretive');
  const p = join(dir, 'secretive.json');
  saveCredentials(id, p);
  const secrets = secretsOf(p);
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = createLogger({ destination: sink, level: 'debug' });
  log.info({ identity: id, key: id.currentKey() }, 'identity loaded');
  log.info({ seed: 'TOPSECRET', nested: { seed: 'TOPSECRET2', secretKey: 'TOPSECRET3' } }, 'redaction');
  log.info({ creds: JSON.parse(readFileSync(p, 'utf8')) }, 'whole file');
  const texts = [
    String(id),
    inspect(id, { depth: 10 }),
    JSON.stringify(id),
    String(id.currentKey()),
    inspect(id.currentKey(), { depth: 10 }),
    JSON.stringify(id.currentKey()),
    JSON.stringify(id.keys),
    lines.join(''),
  ];
  assert.ok(lines.length === 3);
  for (const t of texts) {
    for (const s of [...secrets, 'TOPSECRET']) assert.not.ok(t.includes(s), `secret leaked into: ${t.slice(0, 200)}`);
  }
  assert.ok(lines.join('').includes('[Redacted]'));
  // sign() with a bad key argument names the argument, never the bytes
  const err = (() => {
    try {
      new SigningKey(new Uint8Array(31));
    } catch (e) {
      return e as Error;
    }
  })();
  assert.match(err!.message, /seed/);
});

test.run();
