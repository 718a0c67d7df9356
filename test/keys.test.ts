// Live key rotation: a new key is added to the credential file and the manifest, both keys
// verify during the overlap, revoking the old one stops it on every verifier within a second,
// and traffic signed with the new key is never dropped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sealEnvelope } from '../packages/protocol/src/envelope.js';
import { loadCredentials } from '../packages/sdk/src/identity.js';
import { Ack, Reason, Verdict } from '../packages/protocol/src/proto.js';
import { startBus, sleep, waitFor } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { verifiersLoaded } from './helpers/reload.js';
import { cliArgs } from './helpers/cli-bin.js';

let bus: TestBus;
test.before(async () => {
  bus = await startBus({
    verifiers: 2,
    agents: { planner: { send: [{ to: 'coder', types: ['task.assign'] }], rate: { per_second: 1000, burst: 1000 } }, coder: {} },
  });
});
test.after(async () => bus.stop());

function cli(...args: string[]) {
  return spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8' });
}

test('keys - rotate, overlap, revoke: the old key stops within a second, new-key traffic never drops', async () => {
  const credsDir = join(bus.dir, 'creds');
  const planner = await bus.agent('planner', { timeoutMs: 1000, retries: 3 });
  const coder = await bus.agent('coder');
  const raw = await bus.rawAgent('planner');
  const oldId = loadCredentials(bus.credsPath('planner'));
  const oldKey = oldId.currentKey();
  const sendWith = async (k: typeof oldKey) =>
    Ack.decode(
      (
        await raw.request(
          'agentbus.in.planner',
          sealEnvelope({
            sender: 'planner',
            keyId: k.keyId,
            sign: k.sign,
            recipient: 'coder',
            type: 'task.assign',
            payload: new TextEncoder().encode('{"title":"x","priority":1}'),
            contentType: 'application/json',
          }).bytes,
          { timeout: 3000 },
        )
      ).data,
    );

  // steady traffic through the SDK during the whole rotation
  let stop = false;
  const failures: unknown[] = [];
  let sent = 0;
  const traffic = (async () => {
    while (!stop) {
      try {
        await planner.send('coder', 'task.assign', { title: `m${sent}`, priority: 1 });
        sent++;
      } catch (e) {
        failures.push(e);
      }
      await sleep(20);
    }
  })();
  let received = 0;
  void (async () => {
    for await (const _ of coder.inbox()) received++;
  })();

  void credsDir;
  const { rotateKey, revokeKey } = await import('../packages/server/src/ops/keys.js');
  let rot!: ReturnType<typeof rotateKey>;
  try {
    rot = rotateKey({ credsPath: bus.credsPath('planner'), manifestsDir: bus.manifestsDir, graceMs: 1500 });
    assert.match(readFileSync(join(bus.manifestsDir, 'planner.yaml'), 'utf8'), new RegExp(rot.keyId));
    await waitFor(() => bus.verifiers.every((v) => v.policy.agents.get('planner')!.keys.has(rot.keyId)), 2000, 'verifiers know the new key');
    // overlap: both keys verify once the new one is valid
    await sleep(1600);
    const newKey = loadCredentials(bus.credsPath('planner')).keys.find((k) => k.keyId === rot.keyId)!;
    assert.is((await sendWith(oldKey)).verdict, Verdict.VERDICT_ACCEPTED, 'old key during overlap');
    assert.is((await sendWith(newKey)).verdict, Verdict.VERDICT_ACCEPTED, 'new key during overlap');
    // the SDK client switches to the new key by itself
    await waitFor(() => planner.identity.currentKey().keyId === rot.keyId, 3000, 'client uses the new key');
    // revoke the old key: stopped on every verifier within a second
    const t0 = Date.now();
    revokeKey({ agent: 'planner', keyId: oldKey.keyId, manifestsDir: bus.manifestsDir, credsPath: bus.credsPath('planner') });
    await verifiersLoaded(bus, 'planner', t0 + 1000 - Date.now()); // both verifiers, by the deadline
    for (let i = 0; i < 4; i++) assert.is((await sendWith(oldKey)).reason, Reason.REASON_REVOKED_KEY);
    assert.is((await sendWith(newKey)).verdict, Verdict.VERDICT_ACCEPTED);
    await sleep(300);
  } finally {
    stop = true; // (a failed assertion above must not leave the traffic running: the file would time out instead of failing)
  }
  await traffic;
  assert.is(failures.length, 0, `new-key traffic dropped: ${failures.map(String).join('; ')}`);
  assert.ok(sent > 20);
  await waitFor(() => received >= sent, 3000, 'all delivered');
  assert.equal(
    loadCredentials(bus.credsPath('planner')).keys.map((k) => k.keyId),
    [rot.keyId],
  );
});

test('keys - the CLI rotates and revokes with its default file names', () => {
  const dir = join(bus.dir, 'cli');
  assert.is(cli('keygen', 'alice', '--creds-dir', join(dir, 'creds'), '--manifests', join(dir, 'manifests')).status, 0);
  const r = cli('keys', 'rotate', 'alice', '--creds-dir', join(dir, 'creds'), '--manifests', join(dir, 'manifests'));
  assert.is(r.status, 0, r.stderr);
  const keyIds = loadCredentials(join(dir, 'creds', 'alice.creds.json')).keys.map((k) => k.keyId);
  assert.is(keyIds.length, 2);
  const v = cli('keys', 'revoke', 'alice', keyIds[0]!, '--manifests', join(dir, 'manifests'));
  assert.is(v.status, 0, v.stderr);
  assert.match(readFileSync(join(dir, 'manifests', 'alice.yaml'), 'utf8'), /revoked: true/);
  assert.is(cli('manifest', 'check', join(dir, 'manifests')).status, 0);
  const bad = cli('keys', 'revoke', 'alice', 'knope', '--manifests', join(dir, 'manifests'));
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /no key knope/);
});

test.run();
