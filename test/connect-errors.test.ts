// A bus that is not there: connectAgent throws one typed error (BusConnectionError) whose message
// is one line naming the address(es) tried and `agentbus dev` — not a raw NATS ConnectionError —
// and the project's example.mjs, run with no bus, says so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectAgent } from '../packages/sdk/src/client.js';
import { BusConnectionError } from '../packages/sdk/src/errors.js';
import { generateIdentity, saveCredentials } from '../packages/sdk/src/identity.js';
import { contracts } from './helpers/contracts.js';
import { freePort } from './helpers/nats-server.js';
import { builtCliIsFresh } from './helpers/cli-bin.js';

const repo = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'agentbus-connect-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('connect - nothing listening: one BusConnectionError, one line naming the address and agentbus dev', async () => {
  const url = `nats://127.0.0.1:${await freePort()}`;
  const e = await connectAgent({ servers: url, credentials: generateIdentity('alice'), verifyEndToEnd: false, contracts }).then(
    (c) => c.close().then(() => undefined),
    (x: Error) => x,
  );
  assert.instance(e, BusConnectionError, String(e));
  assert.is(e!.name, 'BusConnectionError');
  assert.is(e!.message.split('\n').length, 1, e!.message);
  assert.match(e!.message, new RegExp(`^cannot connect to the bus at ${url.replace(/[.]/g, '\\.')}: connection refused.*npx agentbus dev`));
  assert.equal((e as BusConnectionError).servers, [url]);
  // the NATS error is kept, but not where printing the error shows it
  assert.ok((e as BusConnectionError).natsError);
  assert.not.ok(Object.keys(e!).includes('natsError'));
  // several addresses: all named
  const other = `nats://127.0.0.1:${await freePort()}`;
  const two = await connectAgent({ servers: [url, other], credentials: generateIdentity('alice'), verifyEndToEnd: false, contracts }).then(
    (c) => c.close().then(() => undefined),
    (x: Error) => x,
  );
  assert.instance(two, BusConnectionError);
  assert.match(two!.message, `the bus at any of ${url}, ${other}`);
});

test('connect - the project example run with no bus running prints the one line, not a NATS stack', async () => {
  // the built SDK, as a project imports it (node_modules of the clone)
  if (!builtCliIsFresh()) execFileSync('npm', ['run', 'build', '--silent'], { cwd: repo, stdio: 'pipe' });
  const proj = join(dir, 'proj');
  mkdirSync(join(proj, '.agentbus', 'creds'), { recursive: true });
  mkdirSync(join(proj, 'manifests'));
  symlinkSync(join(repo, 'node_modules'), join(proj, 'node_modules'));
  for (const f of ['example.mjs', 'contracts.mjs']) copyFileSync(join(repo, 'packages/server/src/examples/quickstart', f), join(proj, f));
  for (const a of ['alice', 'bob']) saveCredentials(generateIdentity(a), join(proj, '.agentbus', 'creds', `${a}.creds.json`));
  const url = `nats://127.0.0.1:${await freePort()}`;
  const r = spawnSync(process.execPath, ['example.mjs'], { cwd: proj, encoding: 'utf8', env: { ...process.env, AGENTBUS_SERVERS: url }, timeout: 30_000 });
  assert.is.not(r.status, 0);
  assert.match(r.stderr, new RegExp(`BusConnectionError: cannot connect to the bus at ${url.replace(/[.]/g, '\\.')}: connection refused.*npx agentbus dev`));
  assert.not.match(r.stderr, /^ConnectionError/m, r.stderr);
  assert.not.match(r.stderr, /\[cause\]/, r.stderr);
});

test.run();
