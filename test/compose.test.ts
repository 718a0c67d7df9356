// No Docker engine runs here, so docker-compose.yml is checked structurally: the four services,
// images, health checks, volumes, and that every agentbus command and option it uses exists.
// (The memory service's production setup runs for real in test/cli.test.ts.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { helpHasOption, textHasOption } from './helpers/cli-help.js';
import { cliArgs } from './helpers/cli-bin.js';

type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  healthcheck?: { test: string[] };
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
};
const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };

test('compose - has nats, clickhouse-server 24.x, verifier, auditor, the memory service and the config follower', () => {
  const s = compose.services;
  assert.equal(Object.keys(s).sort(), ['auditor', 'clickhouse', 'memory', 'nats', 'nats-config', 'verifier']);
  assert.is(s.memory!.image, s.verifier!.image);
  assert.is(s.memory!.depends_on!.nats!.condition, 'service_healthy');
  // the files its command names are the ones mounted, read-only
  const mem = s.memory!.command!;
  for (const opt of ['--creds', '--service-creds', '--manifests'])
    assert.ok(
      s.memory!.volumes!.some((v) => v.endsWith(`:${mem[mem.indexOf(opt) + 1]}:ro`)),
      opt,
    );
  const aud = s.auditor!.command!;
  for (const opt of ['--creds', '--system-creds', '--manifests'])
    assert.ok(
      s.auditor!.volumes!.some((v) => v.endsWith(`:${aud[aud.indexOf(opt) + 1]}:ro`)),
      `auditor ${opt}`,
    );
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
  for (const name of ['verifier', 'auditor', 'memory', 'nats-config']) {
    const cmd = compose.services[name]!.command!;
    const help = spawnSync(process.execPath, cliArgs(cmd[0]!, '--help'), { encoding: 'utf8' });
    assert.is(help.status, 0, `agentbus ${cmd[0]} --help: ${help.stderr}`);
    for (const opt of cmd.filter((a) => a.startsWith('--'))) assert.ok(helpHasOption(help.stdout, opt), `agentbus ${cmd[0]} has no ${opt}`);
  }
  const header = readFileSync('docker-compose.yml', 'utf8');
  const ncHelp = spawnSync(process.execPath, cliArgs('nats-config', '--help'), { encoding: 'utf8' }).stdout;
  for (const opt of [
    '--manifests',
    '--verifier-creds',
    '--auditor-creds',
    '--memory-creds',
    '--system-creds',
    '--host',
    '--http-port',
    '--store-dir',
    '--out',
  ]) {
    assert.ok(textHasOption(header, opt) && helpHasOption(ncHelp, opt), opt);
  }
});

test('compose - the config follower writes the file nats mounts and signals the nats-server of the nats container', () => {
  const s = compose.services as Record<string, Service & { pid?: string; cap_add?: string[] }>;
  const f = s['nats-config']!;
  const cmd = f.command!;
  const arg = (o: string) => cmd[cmd.indexOf(o) + 1];
  assert.ok(cmd.includes('--follow'));
  assert.is(f.pid, 'service:nats', 'shares the process namespace of nats');
  assert.is(arg('--reload-pid'), '1', 'nats-server is pid 1 of the nats container');
  assert.ok(f.cap_add!.includes('KILL'));
  const natsConf = s.nats!.command![s.nats!.command!.indexOf('-c') + 1];
  const hostFile = s.nats!.volumes!.find((v) => v.split(':')[1] === natsConf)!.split(':')[0];
  assert.ok(f.volumes!.includes(`${hostFile}:${arg('--out')}`), 'the follower writes the file nats reads (read-write)');
  assert.match(arg('--nats')!, /^nats:\/\/nats:4222$/);
});

test('compose - the Dockerfile entrypoint is the built CLI named in the server package bin; every package.json is copied before npm ci', () => {
  const df = readFileSync('Dockerfile', 'utf8');
  const pkg = JSON.parse(readFileSync('packages/server/package.json', 'utf8'));
  assert.match(df, /ENTRYPOINT \["node", "\/app\/packages\/server\/dist\/cli\/index\.js"\]/);
  assert.is(pkg.bin.agentbus, 'dist/cli/index.js');
  const root = JSON.parse(readFileSync('package.json', 'utf8')) as { workspaces: string[] };
  const ci = df.indexOf('RUN npm ci');
  for (const w of root.workspaces)
    assert.ok(df.indexOf(`COPY ${w}/package.json ${w}/`) >= 0 && df.indexOf(`COPY ${w}/package.json`) < ci, `${w}/package.json copied before npm ci`);
});

test('compose - the 3-node cluster variant: three NATS nodes with health checks, R3 verifiers, commands exist', () => {
  const c = parse(readFileSync('docker-compose.cluster.yml', 'utf8'), { merge: true }) as { services: Record<string, Service & { command?: string[] }> };
  assert.equal(Object.keys(c.services).sort(), [
    'auditor',
    'clickhouse',
    'memory',
    'nats1',
    'nats1-config',
    'nats2',
    'nats2-config',
    'nats3',
    'nats3-config',
    'verifier',
  ]);
  // one config follower beside each node: that node's file, that node's nats-server
  const ncHelp0 = spawnSync(process.execPath, cliArgs('nats-config', '--help'), { encoding: 'utf8' }).stdout;
  for (const n of ['1', '2', '3']) {
    const f = c.services[`nats${n}-config`] as Service & { pid?: string };
    const fc = f.command!;
    const arg = (o: string) => fc[fc.indexOf(o) + 1];
    assert.is(arg('--node'), n);
    assert.is(f.pid, `service:nats${n}`);
    assert.is(arg('--nats'), `nats://nats${n}:4222`);
    assert.ok(fc.includes('--follow') && arg('--reload-pid') === '1');
    const dirMount = f.volumes!.find((v) => v.split(':')[1] === arg('--out-dir'))!;
    assert.ok(
      c.services[`nats${n}`]!.volumes!.some((v) => v.startsWith(`${dirMount.split(':')[0]}/nats-${n}.conf:`)),
      `nats${n} reads what its follower writes`,
    );
    for (const opt of fc.filter((a) => a.startsWith('--'))) assert.ok(helpHasOption(ncHelp0, opt), opt);
  }
  const mem = c.services.memory!.command!;
  assert.is(mem[mem.indexOf('--replicas') + 1], '3', 'the memory buckets are R3 on the cluster');
  const memHelp = spawnSync(process.execPath, cliArgs('memory', '--help'), { encoding: 'utf8' }).stdout;
  for (const opt of mem.filter((a) => a.startsWith('--'))) assert.ok(helpHasOption(memHelp, opt), opt);
  for (const n of ['nats1', 'nats2', 'nats3']) {
    assert.ok(c.services[n]!.healthcheck?.test.length, `${n} health check`);
    assert.ok(c.services[n]!.volumes!.some((v) => v.includes(`nats-${n.slice(-1)}.conf`)));
  }
  const cmd = c.services.verifier!.command!;
  assert.is(cmd[cmd.indexOf('--replicas') + 1], '3');
  const help = spawnSync(process.execPath, cliArgs('verifier', '--help'), { encoding: 'utf8' }).stdout;
  for (const opt of cmd.filter((a) => a.startsWith('--'))) assert.ok(helpHasOption(help, opt), opt);
  const header = readFileSync('docker-compose.cluster.yml', 'utf8');
  const ncHelp = spawnSync(process.execPath, cliArgs('nats-config', '--help'), { encoding: 'utf8' }).stdout;
  for (const opt of ['--cluster', '--nodes', '--route-hosts', '--out-dir', '--http-port'])
    assert.ok(textHasOption(header, opt) && helpHasOption(ncHelp, opt), opt);
});

test('compose - nats-config --cluster writes node configs whose routes name the other nodes', async () => {
  const { mkdtempSync, readdirSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const d = mkdtempSync(join(tmpdir(), 'agentbus-cluster-'));
  const run = (...a: string[]) => spawnSync(process.execPath, cliArgs(...a), { encoding: 'utf8' });
  run('keygen', 'verifier', '--service', '--creds-dir', d);
  run('keygen', 'auditor', '--service', '--creds-dir', d);
  run('keygen', 'a1', '--creds-dir', d, '--manifests', join(d, 'm'));
  // the cluster configs as docker-compose.cluster.yml's header generates them, into `outDir`
  const cluster = (outDir: string, ...extra: string[]) =>
    run(
      'nats-config',
      '--cluster',
      '--nodes',
      '3',
      ...extra,
      '--route-hosts',
      'nats1,nats2,nats3',
      '--host',
      '0.0.0.0',
      '--store-dir',
      '/data/jetstream',
      '--manifests',
      join(d, 'm'),
      '--verifier-creds',
      join(d, 'verifier.creds.json'),
      '--auditor-creds',
      join(d, 'auditor.creds.json'),
      '--out-dir',
      outDir,
    );
  const r = cluster(join(d, 'out'));
  assert.is(r.status, 0, r.stderr);
  assert.equal(readdirSync(join(d, 'out')).sort(), ['nats-1.conf', 'nats-2.conf', 'nats-3.conf']);
  const n1 = readFileSync(join(d, 'out', 'nats-1.conf'), 'utf8');
  assert.match(n1, /routes: \["nats-route:\/\/nats2:6222", "nats-route:\/\/nats3:6222"\]/);
  assert.match(n1, /server_name: "agentbus_n1"/);
  assert.match(n1, /accounts \{\n  AGENTBUS \{/);
  // --node: that node's file only (the follower beside node 2), the same text
  const two = cluster(join(d, 'only2'), '--node', '2');
  assert.is(two.status, 0, two.stderr);
  assert.equal(readdirSync(join(d, 'only2')), ['nats-2.conf']);
  assert.is(readFileSync(join(d, 'only2', 'nats-2.conf'), 'utf8'), readFileSync(join(d, 'out', 'nats-2.conf'), 'utf8'));
  const bad = cluster(join(d, 'x'), '--node', '4');
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--node goes with --cluster and is 1…3, got 4/);
});

test.run();
