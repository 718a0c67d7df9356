// One manifest-key parser (docs/design.md §14): the verifier's policy, the SDK's end-to-end check and
// `audit verify` read keys with the same schema and validity rule, so they cannot disagree —
// a bad `not_after` is refused by each, never read as a key that does not expire.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Reason, readManifestKeys, ManifestError } from '../packages/protocol/src/index.js';
import { loadManifestDir, Policy } from '../packages/protocol/src/manifest.js';
import { PeerKeys } from '../packages/sdk/src/keys.js';
import { generateIdentity } from '../packages/sdk/src/identity.js';
import { loadManifestKeys } from '../packages/server/src/auditor/verify.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-mkeys-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const id = generateIdentity('alice');
const key = id.currentKey().publicInfo();
const manifest = (extra: Record<string, unknown>) => ({ agent: 'alice', nats_user: id.natsPublicKey, keys: [{ ...key, ...extra }] });

test('manifest keys - a valid window: all three readers give the same answer before, inside and after it', () => {
  const d = join(dir, 'ok');
  mkdirSync(join(d, 'services'), { recursive: true }); // a subdirectory (verifier keys) is not a manifest
  writeFileSync(join(d, 'alice.yaml'), stringify(manifest({ not_before: '2026-01-01T00:00:00Z', not_after: '2026-06-01T00:00:00Z' })));
  const policy = new Policy(loadManifestDir(d));
  const peers = new PeerKeys(d);
  for (const [at, want] of [
    [Date.parse('2025-12-31T00:00:00Z'), Reason.REASON_EXPIRED_KEY],
    [Date.parse('2026-03-01T00:00:00Z'), 'key'],
    [Date.parse('2026-07-01T00:00:00Z'), Reason.REASON_EXPIRED_KEY],
  ] as const) {
    for (const r of [policy.resolveKey('alice', key.key_id, at), peers.resolve('alice', key.key_id, at)]) {
      if (want === 'key') assert.instance(r, Uint8Array);
      else assert.is(r, want);
    }
  }
  assert.is(peers.resolve('alice', 'k-nope', Date.now()), Reason.REASON_UNKNOWN_KEY);
  assert.is(peers.resolve('bob', key.key_id, Date.now()), Reason.REASON_UNKNOWN_SENDER);
  assert.ok(loadManifestKeys(d).has(`alice\u0000${key.key_id}`));
});

test('manifest keys - a bad not_after is refused by every reader, never a key that never expires', () => {
  const d = join(dir, 'bad');
  mkdirSync(d);
  writeFileSync(join(d, 'alice.yaml'), stringify(manifest({ not_after: 'next tuesday' })));
  assert.throws(
    () => loadManifestDir(d),
    (e: Error) => e instanceof ManifestError && /keys\.0\.not_after/.test(e.message),
  );
  assert.throws(
    () => readManifestKeys(d),
    (e: Error) => e instanceof ManifestError && /keys\.0\.not_after/.test(e.message),
  );
  assert.throws(() => loadManifestKeys(d), /keys\.0\.not_after/);
  // the receiver skips the file: the sender is unknown to it, not trusted forever
  assert.is(new PeerKeys(d).resolve('alice', key.key_id, Date.parse('2100-01-01T00:00:00Z')), Reason.REASON_UNKNOWN_SENDER);
});

test.run();
