// No Docker engine runs here, so docker-compose.yml is checked structurally: the four services,
// images, health checks, volumes, and that every agentbus command and option it uses exists.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';

type Service = { image?: string; build?: unknown; command?: string[]; healthcheck?: { test: string[] }; volumes?: string[]; depends_on?: Record<string, { condition: string }> };
const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };

test('compose - has nats, clickhouse-server 24.x, verifier and auditor', () => {
  const s = compose.services;
  assert.equal(Object.keys(s).sort(), ['auditor', 'clickhouse', 'nats', 'verifier']);
  assert.match(s.nats!.image!, /^nats:2\./);
  assert.match(s.clickhouse!.image!, /^clickhouse\/clickhouse-server:24\./);
  assert.ok(s.verifier!.build, 'verifier builds the image');
  assert.is(s.auditor!.image, s.verifier!.image);
});

test('compose - health checks, volumes and start order', () => {
  const s = compose.services;
  for (const name of ['nats', 'clickhouse']) assert.ok(s[name]!.healthcheck?.test.length, `${name} health check`);
  assert.ok(s.nats!.volumes!.some((v) => v.startsWith('nats-data:')));
  assert.ok(s.clickhouse!.volumes!.some((v) => v.startsWith('clickhouse-data:')));
  assert.ok('nats-data' in compose.volumes && 'clickhouse-data' in compose.volumes);
  assert.is(s.verifier!.depends_on!.nats!.condition, 'service_healthy');
  assert.is(s.auditor!.depends_on!.clickhouse!.condition, 'service_healthy');
});

test('compose - every agentbus command and option it uses exists in the CLI', () => {
  for (const name of ['verifier', 'auditor']) {
    const cmd = compose.services[name]!.command!;
    const help = spawnSync(process.execPath, ['--import', 'tsx', 'bus/cli.ts', cmd[0]!, '--help'], { encoding: 'utf8' });
    assert.is(help.status, 0, `agentbus ${cmd[0]} --help: ${help.stderr}`);
    for (const opt of cmd.filter((a) => a.startsWith('--'))) assert.ok(help.stdout.includes(opt), `agentbus ${cmd[0]} has no ${opt}`);
  }
  const header = readFileSync('docker-compose.yml', 'utf8');
  const ncHelp = spawnSync(process.execPath, ['--import', 'tsx', 'bus/cli.ts', 'nats-config', '--help'], { encoding: 'utf8' }).stdout;
  for (const opt of ['--manifests', '--verifier-creds', '--auditor-creds', '--host', '--http-port', '--store-dir', '--out']) {
    assert.ok(header.includes(opt) && ncHelp.includes(opt), opt);
  }
});

test('compose - the Dockerfile entrypoint is the built CLI named in package.json bin', () => {
  const df = readFileSync('Dockerfile', 'utf8');
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  assert.match(df, /ENTRYPOINT \["node", "\/app\/dist\/bus\/cli\.js"\]/);
  assert.is(pkg.bin.agentbus, 'dist/bus/cli.js');
});

test.run();
