// `agentbus a2a init|token|pin` and `agentbus dev` with the gateway enabled by the project file
// ("a2a": "a2a.yaml"): the CLI makes the gateway's identity, card key, manifest and config, adds a
// principal's token (stored as its SHA-256 only), pins a remote card (refusing one whose
// signature does not verify), and `agentbus dev` starts the gateway, through which the official
// A2A client reaches a bus agent of the project.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import { SendMessageRequest } from '@a2a-js/sdk';
import type { Message } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client';
import { connectAgent } from '../packages/sdk/src/client.js';
import { ContractRegistry } from '../packages/sdk/src/contracts.js';
import { tokenSha256 } from '../packages/server/src/a2a/config.js';
import { cliArgs } from './helpers/cli-bin.js';
import { waitFor } from './helpers/bus.js';
import { startRemoteAgent } from './helpers/a2a-remote.js';

const root = process.cwd();
// async: the remote A2A agent runs in this process, and must answer while the CLI runs
const run = (cwd: string, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> =>
  new Promise((res) => {
    const c = spawn(process.execPath, cliArgs(...args), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('exit', (code) => res({ code, out, err }));
  });

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-a2a-cli-'));
  const sdk = pathToFileURL(join(root, 'packages/sdk/dist/index.js')).href;
  // the built-in a2a.* contracts are the project's only ones
  writeFileSync(join(dir, 'contracts.mjs'), `import { A2A_CONTRACTS } from '${sdk}';\nexport const contracts = A2A_CONTRACTS;\n`);
  writeFileSync(join(dir, 'agentbus.json'), JSON.stringify({ contracts: 'contracts.mjs', manifests: 'manifests', a2a: 'a2a.yaml' }));
  mkdirSync(join(dir, 'manifests'));
  return dir;
}

function editManifest(dir: string, agent: string, extra: Record<string, unknown>) {
  const f = join(dir, 'manifests', `${agent}.yaml`);
  writeFileSync(f, stringify({ ...(parseYaml(readFileSync(f, 'utf8')) as object), ...extra }));
}

test('a2a init, token, pin: made once, token stored hashed, a card pinned only when its signature verifies', async () => {
  const dir = project();
  const remote = await startRemoteAgent();
  try {
    const init = await run(dir, 'a2a', 'init', '--port', '0');
    assert.is(init.code, 0, init.err);
    assert.match(init.out, /gateway a2a: made .*a2a\.creds\.json.*a2a-card-key\.json.*a2a\.yaml/);
    const cfg = parseYaml(readFileSync(join(dir, 'a2a.yaml'), 'utf8')) as { card_key: string; principals: unknown[] };
    assert.equal(cfg.principals, []);
    assert.is((await run(dir, 'a2a', 'init')).out.includes('everything exists already'), true);
    // a token for an agent that is not a principal of this gateway: refused, one line, exit 1
    assert.is((await run(dir, 'keygen', 'acme')).code, 0);
    const bad = await run(dir, 'a2a', 'token', '--principal', 'acme');
    assert.is(bad.code, 1);
    assert.match(bad.err, /acme is not a principal of a2a \(add a2a: \{ principal: \{ gateway: a2a \} \}\)/);
    editManifest(dir, 'acme', { a2a: { principal: { gateway: 'a2a' } } });
    const t = await run(dir, 'a2a', 'token', '--principal', 'acme');
    assert.is(t.code, 0, t.err);
    const token = t.out.trim();
    assert.match(token, /^a2a_[A-Za-z0-9_-]{43}$/);
    const text = readFileSync(join(dir, 'a2a.yaml'), 'utf8');
    assert.not.ok(text.includes(token), 'the token itself is not stored');
    assert.ok(text.includes(tokenSha256(token)), 'its sha256 is');
    // pin: the remote's card, verified against its jku key
    const pin = await run(dir, 'a2a', 'pin', remote.url);
    assert.is(pin.code, 0, pin.err);
    assert.match(pin.out, new RegExp(`${remote.url.replace(/[./]/g, '\\$&')}: "Remote helper" pinned .* \\(new\\); card sha256 [0-9a-f]{64}`));
    const gw = parseYaml(readFileSync(join(dir, 'manifests', 'a2a.yaml'), 'utf8')) as { a2a: { gateway: { pins: { url: string }[] } } };
    assert.equal(
      gw.a2a.gateway.pins.map((p) => p.url),
      [remote.url],
    );
    // a card re-signed by a key its jku does not serve is not pinned
    const { ed25519Key } = await import('./helpers/a2a-remote.js');
    remote.serve(await remote.sign(remote.card, ed25519Key()));
    const refused = await run(dir, 'a2a', 'pin', remote.url);
    assert.is(refused.code, 1);
    assert.match(refused.err, /no public key for the card's signature/);
  } finally {
    await remote.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('agentbus dev starts the gateway when the project enables it: the official client reaches a project agent through it', async () => {
  const dir = project();
  try {
    for (const a of ['acme', 'helper']) assert.is((await run(dir, 'keygen', a)).code, 0);
    editManifest(dir, 'acme', { a2a: { principal: { gateway: 'a2a' } }, send: [{ to: 'helper', types: ['a2a.message'] }] });
    editManifest(dir, 'helper', { a2a: { expose: { description: 'helps' } }, send: [{ to: 'acme', types: ['a2a.reply'] }] });
    assert.is((await run(dir, 'a2a', 'init', '--port', '0')).code, 0);
    const token = (await run(dir, 'a2a', 'token', '--principal', 'acme')).out.trim();
    const dev = spawn(process.execPath, cliArgs('dev', '--port', '0', '--no-auditor', '--quiet'), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let devOut = '';
    dev.stdout!.on('data', (d) => (devOut += d));
    dev.stderr!.on('data', (d) => (devOut += d));
    try {
      await waitFor(() => /A2A gateway a2a on (http:\/\/\S+)/.test(devOut) || dev.exitCode !== null, 60_000, 'the gateway up');
      const base = /A2A gateway a2a on (http:\/\/\S+)/.exec(devOut)?.[1];
      assert.ok(base, devOut.slice(-1500));
      await waitFor(() => devOut.includes('Ctrl-C to stop.'), 30_000, 'the dev bus up');
      const servers = /servers:\s+(\S+)/.exec(devOut)![1]!;
      const helper = await connectAgent({
        servers,
        credentials: join(dir, '.agentbus', 'creds', 'helper.creds.json'),
        contracts: new ContractRegistry(),
        manifestsDir: join(dir, 'manifests'),
      });
      void (async () => {
        for await (const m of helper.inbox())
          if (m.type === 'a2a.message') await helper.reply(m, 'a2a.reply' as never, { parts: [{ kind: 'text', text: 'hello, outside' }] } as never);
      })().catch(() => undefined);
      const fetchImpl: typeof fetch = (input, init) => {
        const headers = new Headers(init?.headers);
        headers.set('Authorization', `Bearer ${token}`);
        return fetch(input, { ...init, headers });
      };
      const factory = new ClientFactory(
        ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl })] }),
      );
      const client = await factory.createFromUrl(`${base}/agents/helper/`);
      const answer = (await client.sendMessage(
        SendMessageRequest.fromJSON({ message: { messageId: 'm-1', role: 'ROLE_USER', parts: [{ text: 'hi' }] } }),
      )) as Message;
      assert.equal(
        answer.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')),
        ['hello, outside'],
      );
      await helper.close();
    } finally {
      dev.kill('SIGINT');
      await new Promise((r) => dev.once('exit', r));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a2a serve: the gateway as its own process next to a running dev bus (a project without the "a2a" key); a card served; SIGTERM stops it', async () => {
  const dir = project();
  writeFileSync(join(dir, 'agentbus.json'), JSON.stringify({ contracts: 'contracts.mjs', manifests: 'manifests' }));
  const procs: ReturnType<typeof spawn>[] = [];
  const start = (...args: string[]) => {
    const c = spawn(process.execPath, cliArgs(...args), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    procs.push(c);
    return { c, out: () => out };
  };
  try {
    assert.is((await run(dir, 'keygen', 'helper')).code, 0);
    editManifest(dir, 'helper', { a2a: { expose: { name: 'Helper' } } });
    // the gateway's manifest exists before the bus starts (its NATS user is in the first config)
    assert.is((await run(dir, 'a2a', 'init', '--config', 'gw.yaml', '--port', '0')).code, 0);
    const dev = start('dev', '--port', '0', '--no-auditor', '--quiet');
    await waitFor(() => dev.out().includes('Ctrl-C to stop.') || dev.c.exitCode !== null, 60_000, 'the dev bus up');
    assert.not.match(dev.out(), /A2A gateway/); // not enabled by the project
    const serve = start('a2a', 'serve', '--config', 'gw.yaml');
    await waitFor(() => /A2A gateway on (http:\/\/\S+) /.test(serve.out()) || serve.c.exitCode !== null, 30_000, `a2a serve up: ${serve.out()}`);
    const base = /A2A gateway on (http:\/\/\S+) /.exec(serve.out())![1]!;
    const card = (await (await fetch(`${base}/agents/helper/.well-known/agent-card.json`)).json()) as { name: string; signatures: unknown[] };
    assert.is(card.name, 'Helper');
    assert.is(card.signatures.length, 1);
    serve.c.kill('SIGTERM');
    assert.is(await new Promise((r) => serve.c.once('exit', r)), 0);
    dev.c.kill('SIGINT');
    await new Promise((r) => dev.c.once('exit', r));
  } finally {
    for (const c of procs) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
