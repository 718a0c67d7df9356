// `agentbus policy check`: the verifier's tool-call checks from the manifests alone — the same
// functions decide() runs (tool listed, the pinned schema, the argument constraints) — with the
// CLI's exit codes: 0 allowed, 1 refused, 2 usage.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkPolicy } from '../packages/server/src/ops/policy-check.js';
import { cliArgs } from './helpers/cli-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-policy-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const key = { key_id: 'k1', public_key: 'A'.repeat(43) };
const user = (c: string) => `U${c.repeat(55)}`;
writeFileSync(
  join(dir, 'browser.yaml'),
  stringify({
    agent: 'browser',
    nats_user: user('B'),
    keys: [key],
    tools: [
      { server: 'fs', tools: ['read_text_file', 'list_directory'], args: { path: { path: { roots: ['/srv/project'] } } }, additional_args: 'deny' },
      {
        server: 'fetch',
        tools: ['fetch'],
        args: {
          url: { url: { schemes: ['https'], hosts: ['*.example.com', 'example.com'] } },
          max_length: { type: 'integer', min: 1, max: 100000, optional: true },
        },
      },
      { server: 'fs', tools: ['write_file'], args: { path: { path: { roots: ['/srv/project/out'] } }, content: { max_length: 10000 } }, approval: 'required' },
    ],
  }),
);
writeFileSync(
  join(dir, 'fs.yaml'),
  stringify({
    agent: 'fs',
    nats_user: user('F'),
    keys: [key],
    send: [{ to: '*', types: ['tool.result'] }],
    mcp: {
      tools: [
        {
          name: 'read_text_file',
          input_schema: { type: 'object', properties: { path: { type: 'string' }, head: { type: 'number' } }, required: ['path'] },
          sha256: '0'.repeat(64),
        },
        {
          name: 'write_file',
          input_schema: { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path', 'content'] },
          sha256: '0'.repeat(64),
        },
      ],
    },
  }),
);

const check = (tool: string, args: unknown) => {
  const [server, name] = tool.split('.') as [string, string];
  return checkPolicy({ manifestsDir: dir, agent: 'browser', server, tool: name, args });
};

test('policy check - allowed calls', () => {
  for (const [tool, args] of [
    ['fs.read_text_file', { path: '/srv/project/README.md' }],
    ['fs.read_text_file', { path: '/srv/project/docs/a b.md' }],
    ['fetch.fetch', { url: 'https://docs.example.com/page?q=1' }],
    ['fetch.fetch', { url: 'https://example.com/', max_length: 5000 }],
  ] as const) {
    const v = check(tool, args);
    assert.is(v.verdict, 'allowed', `${tool} ${JSON.stringify(args)}: ${v.reason} ${v.detail}`);
    assert.is(v.approval, false);
  }
  const w = check('fs.write_file', { path: '/srv/project/out/x.txt', content: 'hi' });
  assert.is(w.verdict, 'allowed');
  assert.is(w.approval, true, 'write_file needs approval');
});

test("policy check - refused: each with the verifier's reason, the argument named", () => {
  const cases: [string, unknown, string, string?][] = [
    ['fs.delete_file', { path: '/srv/project/a' }, 'tool_not_allowed'],
    ['shell.exec', { cmd: 'id' }, 'tool_not_allowed'],
    ['fs.read_text_file', { path: '/etc/passwd' }, 'argument_refused', 'args.path'],
    ['fs.read_text_file', { path: '/srv/project/../../etc/passwd' }, 'argument_refused', 'args.path'],
    ['fs.read_text_file', { path: '/srv/project/%2e%2e/%2e%2e/etc/passwd' }, 'argument_refused', 'args.path'],
    ['fs.read_text_file', { path: '/srv/project/%252e%252e/etc' }, 'argument_refused', 'args.path'],
    ['fs.read_text_file', { path: '/srv/project2/secrets' }, 'argument_refused', 'args.path'],
    ['fs.read_text_file', { path: '/srv/project/\uff0e\uff0e/etc' }, 'argument_refused', 'args.path'],
    ['fs.read_text_file', { path: 'relative/path' }, 'argument_refused', 'args.path'],
    ['fs.read_text_file', { path: '/srv/project/a', extra: 1 }, 'argument_refused', 'args.extra'],
    ['fs.read_text_file', { path: 42 }, 'schema_invalid'],
    ['fetch.fetch', { url: 'http://169.254.169.254/latest/meta-data/' }, 'argument_refused', 'args.url'],
    ['fetch.fetch', { url: 'https://2852039166/' }, 'argument_refused', 'args.url'],
    ['fetch.fetch', { url: 'https://[::ffff:169.254.169.254]/' }, 'argument_refused', 'args.url'],
    ['fetch.fetch', { url: 'https://user:pw@docs.example.com/' }, 'argument_refused', 'args.url'],
    ['fetch.fetch', { url: 'https://example.com.evil.io/' }, 'argument_refused', 'args.url'],
    ['fetch.fetch', { url: 'file:///etc/passwd' }, 'argument_refused', 'args.url'],
    ['fetch.fetch', { url: 'https://localhost/' }, 'argument_refused', 'args.url'],
    ['fetch.fetch', { url: 'https://docs.example.com/', max_length: 10_000_000 }, 'argument_refused', 'args.max_length'],
    ['fs.write_file', { path: '/srv/project/a.txt', content: 'x' }, 'argument_refused', 'args.path'],
  ];
  for (const [tool, args, reason, argument] of cases) {
    const v = check(tool, args);
    assert.is(v.verdict, 'refused', `${tool} ${JSON.stringify(args)} was allowed`);
    assert.is(v.reason, reason, `${tool} ${JSON.stringify(args)}: ${v.detail}`);
    if (argument) assert.is(v.argument, argument, `${tool} ${JSON.stringify(args)}: ${v.detail}`);
  }
  // fetch pins no tools: checked by policy, with a note saying what was not
  assert.match(check('fetch.fetch', { url: 'https://example.com/' }).notes.join(' '), /no manifest for server fetch/);
});

const cli = (args: string[], input?: string) =>
  spawnSync(process.execPath, cliArgs('policy', 'check', '--manifests', dir, '--agent', 'browser', ...args), { encoding: 'utf8', input, timeout: 60_000 });

test('policy check - the CLI: exit 0 allowed, 1 refused (reason and argument printed), 2 usage; --json; --args from stdin', () => {
  const ok = cli(['--tool', 'fs.read_text_file', '--args', '{"path":"/srv/project/a.md"}']);
  assert.is(ok.status, 0, ok.stderr);
  assert.is(ok.stdout.trim(), 'allowed');
  const no = cli(['--tool', 'fs.read_text_file', '--args', '{"path":"/srv/project/../etc/shadow"}', '--json']);
  assert.is(no.status, 1, no.stderr);
  const j = JSON.parse(no.stdout);
  assert.is(j.verdict, 'refused');
  assert.is(j.reason, 'argument_refused');
  assert.is(j.argument, 'args.path');
  const stdin = cli(['--tool', 'fetch.fetch', '--args', '-'], '{"url":"http://[::1]/"}');
  assert.is(stdin.status, 1);
  assert.match(stdin.stdout, /^refused: argument_refused args\.url: /);
  for (const bad of [
    ['--tool', 'fsread', '--args', '{}'],
    ['--tool', 'fs.read_text_file', '--args', '{nope'],
  ]) {
    const r = cli(bad);
    assert.is(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1);
  }
});

test.run();
