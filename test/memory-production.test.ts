// The memory service set up as docker-compose.yml's header says, for real (no Docker here): keygen
// of the services, of `memory` (its identity, manifest and KV user) and of an agent; nats-config
// with --memory-creds; nats-server on that config; `agentbus verifier` and `agentbus memory` as
// processes with the compose file's options; then an agent's put and get through them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { spawnNatsServer, freePort } from '../packages/server/src/common/nats-process.js';
import type { NatsProcess } from '../packages/server/src/common/nats-process.js';
import { connectAgent } from '../packages/sdk/src/client.js';
import { createLogger } from '../packages/sdk/src/log.js';
import { contracts } from './helpers/bus.js';
import { cliArgs } from './helpers/cli-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-memprod-'));
const creds = join(dir, 'creds');
const manifests = join(dir, 'manifests');
const procs: ChildProcess[] = [];
let nats: NatsProcess | undefined;

const cli = (...args: string[]) => spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', timeout: 30_000 });

/** Start a long-running CLI command; resolves once its stderr matches `ready`. */
function daemon(args: string[], ready: RegExp): Promise<ChildProcess> {
  const p = spawn(process.execPath, cliArgs(...args), { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(p);
  let err = '';
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`${args[0]} not ready in 20 s: ${err}`)), 20_000);
    p.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      if (ready.test(err)) {
        clearTimeout(t);
        res(p);
      }
    });
    p.once('exit', (c) => rej(new Error(`${args[0]} exited ${c}: ${err}`)));
  });
}

test.after(async () => {
  for (const p of procs) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the compose setup of the memory service works for real: keygen memory, nats-config --memory-creds, agentbus memory', async () => {
  for (const s of ['verifier', 'auditor']) assert.is(cli('keygen', s, '--service', '--creds-dir', creds, '--manifests', manifests).status, 0);
  const mem = cli('keygen', 'memory', '--creds-dir', creds, '--manifests', manifests);
  assert.is(mem.status, 0, mem.stderr);
  for (const f of ['memory.creds.json', 'memory-kv.creds.json']) assert.is(statSync(join(creds, f)).mode & 0o777, 0o600, f);
  const m = parse(readFileSync(join(manifests, 'memory.yaml'), 'utf8')) as { send: { to: string; types: string[] }[] };
  assert.equal(m.send, [{ to: '*', types: ['memory.result', 'memory.event'] }]);
  // a second keygen memory writes nothing
  const again = cli('keygen', 'memory', '--creds-dir', creds, '--manifests', manifests);
  assert.is(again.status, 1);
  assert.match(again.stderr, /exists; use --force/);
  assert.is(cli('keygen', 'alice', '--creds-dir', creds, '--manifests', manifests).status, 0);

  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  const nc = cli(
    'nats-config',
    '--manifests',
    manifests,
    '--verifier-creds',
    join(creds, 'verifier.creds.json'),
    '--auditor-creds',
    join(creds, 'auditor.creds.json'),
    '--memory-creds',
    join(creds, 'memory-kv.creds.json'),
    '--port',
    String(port),
    '--store-dir',
    join(dir, 'js'),
    '--out',
    conf,
  );
  assert.is(nc.status, 0, nc.stderr);
  const text = readFileSync(conf, 'utf8');
  assert.match(
    text,
    /# memory \(KV store\)\n\s+\{ nkey: "U[A-Z2-7]+", permissions: \{\n\s+publish: \{ allow: \["\$JS\.API\.>", "\$KV\.>"[^\n]*deny: \[[^\n]*"\$JS\.API\.\*\.\*\.AUDIT"/,
  );
  nats = await spawnNatsServer(conf);
  const url = `nats://127.0.0.1:${port}`;

  const depthKey = join(creds, 'depth.key');
  writeFileSync(depthKey, randomBytes(32));
  chmodSync(depthKey, 0o600);
  await daemon(
    [
      'verifier',
      '--nats',
      url,
      '--manifests',
      manifests,
      '--contracts',
      'test/helpers/contracts.ts',
      '--creds',
      join(creds, 'verifier.creds.json'),
      '--depth-key-file',
      depthKey,
    ],
    /ready on/,
  );
  await daemon(
    ['memory', '--nats', url, '--manifests', manifests, '--creds', join(creds, 'memory.creds.json'), '--service-creds', join(creds, 'memory-kv.creds.json')],
    /memory service ready/,
  );

  const alice = await connectAgent({
    servers: url,
    credentials: join(creds, 'alice.creds.json'),
    contracts,
    manifestsDir: manifests,
    logger: createLogger({ level: 'silent' }),
  });
  try {
    const rev = await alice.memory().put('plan', { step: 1 });
    assert.equal(await alice.memory().get('plan'), { key: 'plan', value: { step: 1 }, revision: rev });
  } finally {
    await alice.close();
  }
  assert.ok(existsSync(join(dir, 'js')), 'the KV values are in the JetStream store directory');
});

test.run();
