// `agentbus nats-config`: the nats-server config from the manifests.
import { Command, CommanderError, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dirSignature, loadManifestDir } from '@agentbus/protocol/manifest';
import { serverConfig, clusterConfigs } from '../common/natsconfig.js';
import { loadServiceCreds } from '../common/service-creds.js';
import * as D from '@agentbus/protocol';
import { makeDevCertificates } from '../common/tls.js';
import { CliError, int, tlsFromOptions, tlsOptions } from './shared.js';
import type { TlsCliOptions } from './shared.js';

export function register(program: Command): void {
  tlsOptions(program.command('nats-config'), '--tls-dir')
    .description('generate the nats-server config (authorization from the manifests, JetStream on)')
    .requiredOption('--manifests <dir>', 'manifests directory')
    .requiredOption('--verifier-creds <file>', "verifier's service credential file")
    .requiredOption('--auditor-creds <file>', "auditor's service credential file")
    .option('--observer-creds <file>', "read-only observer's service credential file (agentbus tail: alerts and audit events, publishes nothing)")
    .option('--memory-creds <file>', "the memory service's KV credential (memory-kv.creds.json, written by `keygen memory`)")
    .option(
      '--system-creds <file>',
      "the system-account user (`keygen system --service`): the auditor's --system-creds, for connect/disconnect events; only $SYS events and CONNZ",
    )
    .option('--host <host>', 'listen address', '127.0.0.1')
    .addOption(new Option('--port <n>', 'client port').default(4222).argParser(int('--port')))
    .option('--store-dir <dir>', 'JetStream store directory', '.agentbus/jetstream')
    .addOption(new Option('--http-port <n>', 'monitoring port (/healthz, /varz)').argParser(int('--http-port')))
    .addOption(
      new Option('--partitions <n>', 'sender partitions (verifiers must use the same number)').default(D.DEFAULT_PARTITIONS).argParser(int('--partitions')),
    )
    .option('--out <file>', 'write here instead of stdout')
    .addOption(
      new Option(
        '--reload-pid <pids>',
        'send SIGHUP to this nats-server pid (comma-separated: several local nodes) after writing (reload without restart)',
      ).argParser(pidList),
    )
    .option(
      '--follow',
      'keep running: rewrite the config(s) and reload --reload-pid whenever the manifests or the quarantine bucket change (a sender past its rejection budget loses its NATS user for its cool-down; docs/design.md §9); needs --out (or --cluster --out-dir) and --reload-pid',
    )
    .option(
      '--nats <urls>',
      'with --follow: the bus whose quarantine bucket to watch, as the verifier (--verifier-creds); default nats://<host or 127.0.0.1>:<port>',
    )
    .option('--cluster', 'write one config per node of a cluster into --out-dir (routes, JetStream per node)')
    .addOption(new Option('--nodes <n>', 'cluster nodes').default(3).argParser(int('--nodes')))
    .addOption(new Option('--cluster-port <n>', 'route port (same on every node when they are separate hosts)').default(6222).argParser(int('--cluster-port')))
    .option('--route-hosts <hosts>', 'comma-separated host name of each node for the routes (e.g. nats1,nats2,nats3)')
    .option('--out-dir <dir>', 'with --cluster: write nats-1.conf … nats-N.conf here')
    .addOption(new Option('--node <n>', "with --cluster: write only this node's nats-<n>.conf (a follower beside that node)").argParser(int('--node')))
    .option('--tls-dir <dir>', 'with --tls and no --tls-cert: where the throwaway CA and server certificate go', '.agentbus/tls')
    .action(
      async (
        o: {
          manifests: string;
          verifierCreds: string;
          auditorCreds: string;
          observerCreds?: string;
          memoryCreds?: string;
          systemCreds?: string;
          host: string;
          port: number;
          httpPort?: number;
          partitions: number;
          storeDir: string;
          out?: string;
          reloadPid?: number[];
          follow?: boolean;
          nats?: string;
          cluster?: boolean;
          nodes: number;
          clusterPort: number;
          routeHosts?: string;
          outDir?: string;
          node?: number;
          tlsDir: string;
        } & TlsCliOptions,
      ) => {
        // TLS and encryption at rest (the config names the key's variable, never the key)
        const tlsArg = tlsFromOptions(o);
        let tls: { certFile: string; keyFile: string; caFile?: string } | undefined;
        if (tlsArg === 'dev') {
          try {
            tls = makeDevCertificates(o.tlsDir, { hosts: [o.host, ...(o.cluster ? (o.routeHosts?.split(',') ?? []) : [])] });
          } catch (e) {
            throw new CliError((e as Error).message);
          }
          console.error(`TLS: throwaway CA ${tls.caFile} (clients trust it: nats.js tls: { caFile }, nats CLI --tlsca)`);
        } else tls = tlsArg;
        const secure = { ...(tls ? { tls } : {}), ...(o.encryptStore ? { encryptStore: true, jsKeyEnv: o.jsKeyEnv } : {}) };
        const services = () => ({
          verifier: [loadServiceCreds(o.verifierCreds).natsPublicKey],
          auditor: [loadServiceCreds(o.auditorCreds).natsPublicKey],
          ...(o.observerCreds ? { observer: [loadServiceCreds(o.observerCreds).natsPublicKey] } : {}),
          ...(o.memoryCreds ? { memory: [loadServiceCreds(o.memoryCreds).natsPublicKey] } : {}),
          ...(o.systemCreds ? { system: [loadServiceCreds(o.systemCreds).natsPublicKey] } : {}),
        });
        if (o.encryptStore)
          console.error(
            `JetStream encrypted at rest: start nats-server with $${o.jsKeyEnv} set (32+ letters and digits, starting with a letter); keep the key: the store is unreadable without it`,
          );
        if (o.cluster && !o.outDir) throw new CommanderError(2, 'agentbus.invalidArgument', '--cluster needs --out-dir');
        const hosts = o.routeHosts?.split(',') ?? [];
        if (o.cluster && hosts.length && hosts.length !== o.nodes)
          throw new CommanderError(2, 'agentbus.invalidArgument', `--route-hosts lists ${hosts.length} hosts for ${o.nodes} nodes`);
        if (o.follow && !(o.out || o.cluster))
          throw new CommanderError(2, 'agentbus.invalidArgument', '--follow needs --out (or --cluster --out-dir): the file(s) nats-server reads');
        if (o.follow && !o.reloadPid) throw new CommanderError(2, 'agentbus.invalidArgument', '--follow needs --reload-pid: the nats-server(s) to reload');
        if (o.node !== undefined && (!o.cluster || o.node < 1 || o.node > o.nodes))
          throw new CommanderError(2, 'agentbus.invalidArgument', `--node goes with --cluster and is 1…${o.nodes}, got ${o.node}`);
        if (o.nats && !o.follow) throw new CommanderError(2, 'agentbus.invalidArgument', '--nats goes with --follow');
        // Render the config(s) with these agents quarantined (left out of the users for their cool-down).
        const render = (quarantined: string[] = []): string => {
          if (o.cluster) {
            const same = hosts.length > 0; // separate hosts: same ports on each
            const nodes = clusterConfigs(loadManifestDir(o.manifests), services(), {
              nodes: o.nodes,
              host: o.host,
              ports: Array.from({ length: o.nodes }, (_, i) => (same ? o.port : o.port + i)),
              clusterPorts: Array.from({ length: o.nodes }, (_, i) => (same ? o.clusterPort : o.clusterPort + i)),
              storeDirs: Array.from({ length: o.nodes }, (_, i) => (same ? resolve(o.storeDir) : join(resolve(o.storeDir), `n${i + 1}`))),
              partitions: o.partitions,
              ...(o.httpPort ? { httpPorts: Array.from({ length: o.nodes }, (_, i) => (same ? o.httpPort! : o.httpPort! + i)) } : {}),
              ...(same ? { routeHosts: hosts } : {}),
              ...secure,
              quarantined,
            });
            mkdirSync(o.outDir!, { recursive: true });
            if (o.node !== undefined) {
              const f = join(o.outDir!, `nats-${o.node}.conf`);
              writeFileSync(f, nodes[o.node - 1]!.config);
              return f;
            }
            nodes.forEach((n, i) => writeFileSync(join(o.outDir!, `nats-${i + 1}.conf`), n.config));
            return `${nodes.length} configs to ${o.outDir}`;
          }
          const text = serverConfig(loadManifestDir(o.manifests), services(), {
            host: o.host,
            port: o.port,
            storeDir: resolve(o.storeDir),
            partitions: o.partitions,
            ...(o.httpPort ? { httpPort: o.httpPort } : {}),
            ...secure,
            quarantined,
          });
          if (!o.out) {
            process.stdout.write(text);
            return '';
          }
          // written in place (not renamed): a bind-mounted single file keeps its inode
          writeFileSync(o.out, text);
          return o.out;
        };
        const reload = () => {
          for (const pid of o.reloadPid ?? []) {
            try {
              process.kill(pid, 'SIGHUP');
            } catch (e) {
              throw new CliError(
                `cannot reload nats-server ${pid}: ${(e as NodeJS.ErrnoException).code === 'ESRCH' ? 'no such process' : (e as Error).message}`,
              );
            }
          }
        };
        const wrote = render();
        if (!wrote) return;
        reload();
        console.error(`wrote ${wrote}${o.reloadPid ? ` and reloaded nats-server ${o.reloadPid.join(', ')}` : ''}`);
        if (o.follow) await follow(o, tls, render, reload);
      },
    );
}

function pidList(v: string): number[] {
  const pids = v.split(',').map((x) => Number(x.trim()));
  if (!pids.length || pids.some((n) => !Number.isInteger(n) || n <= 0))
    throw new CommanderError(2, 'agentbus.invalidArgument', `--reload-pid takes process ids (comma-separated), got ${JSON.stringify(v)}`);
  return pids;
}

/**
 * `--follow`: the production config follower (agentbus dev and the test buses run the same one
 * in-process). Watches the quarantine bucket as the verifier and the manifests directory; on
 * each change rewrites the config(s) and reloads the server(s). Runs until SIGINT/SIGTERM.
 */
async function follow(
  o: { manifests: string; verifierCreds: string; host: string; port: number; nats?: string },
  tls: { caFile?: string } | undefined,
  render: (quarantined: string[]) => string,
  reload: () => void,
): Promise<void> {
  const { connect, nkeyAuthenticator } = await import('@nats-io/transport-node');
  const { followQuarantine } = await import('../common/quarantine.js');
  const host = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  const servers = (o.nats ?? `${tls ? 'tls' : 'nats'}://${host}:${o.port}`).split(',').map((x) => x.trim());
  let nc: Awaited<ReturnType<typeof connect>>;
  try {
    nc = await connect({
      servers,
      authenticator: nkeyAuthenticator(loadServiceCreds(o.verifierCreds).natsSeed()),
      inboxPrefix: '_INBOX_verifier',
      name: 'agentbus-nats-config-follow',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      ...(tls?.caFile ? { tls: { caFile: tls.caFile } } : {}),
    });
  } catch (e) {
    throw new CliError(`--follow cannot connect to ${servers.join(', ')}: ${(e as Error).message}`);
  }
  let quarantined: string[] = [];
  const apply = (why: string) => {
    let wrote: string;
    try {
      wrote = render(quarantined);
    } catch (e) {
      // an invalid manifest (or a failed write) keeps the last good config: the servers keep running it
      console.error(`${new Date().toISOString()} ${why}: config kept: ${(e as Error).message}`);
      return;
    }
    try {
      reload();
      console.error(`${new Date().toISOString()} ${why}: wrote ${wrote} and reloaded`);
    } catch (e) {
      // written, but a server is gone (killed, restarted under another pid): it reads the file when it starts
      console.error(`${new Date().toISOString()} ${why}: wrote ${wrote}, not reloaded: ${(e as Error).message}`);
    }
  };
  const follower = await followQuarantine(nc, async (active) => {
    const added = active.filter((a) => !quarantined.includes(a));
    const gone = quarantined.filter((a) => !active.includes(a));
    quarantined = active;
    apply(
      [added.length ? `quarantined at NATS: ${added.join(', ')}` : '', gone.length ? `released from quarantine: ${gone.join(', ')}` : '']
        .filter(Boolean)
        .join('; ') || 'quarantine bucket read',
    );
  });
  let sig = dirSignature(o.manifests);
  const watch = setInterval(() => {
    const now = dirSignature(o.manifests);
    if (now === sig) return;
    sig = now;
    apply('manifests changed');
  }, 500);
  console.error(`following the manifests in ${o.manifests} and the quarantine bucket on ${servers.join(', ')} (Ctrl-C to stop)`);
  await new Promise<void>((res) => {
    process.once('SIGINT', res);
    process.once('SIGTERM', res);
  });
  clearInterval(watch);
  await follower.stop();
  await nc.close().catch(() => undefined);
}
