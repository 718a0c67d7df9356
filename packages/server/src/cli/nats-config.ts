// `agentbus nats-config`: the nats-server config from the manifests.
import { Command, CommanderError, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadManifestDir } from '@agentbus/protocol/manifest';
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
    .addOption(new Option('--reload-pid <pid>', 'send SIGHUP to this nats-server pid after writing (reload without restart)').argParser(int('--reload-pid')))
    .option('--cluster', 'write one config per node of a cluster into --out-dir (routes, JetStream per node)')
    .addOption(new Option('--nodes <n>', 'cluster nodes').default(3).argParser(int('--nodes')))
    .addOption(new Option('--cluster-port <n>', 'route port (same on every node when they are separate hosts)').default(6222).argParser(int('--cluster-port')))
    .option('--route-hosts <hosts>', 'comma-separated host name of each node for the routes (e.g. nats1,nats2,nats3)')
    .option('--out-dir <dir>', 'with --cluster: write nats-1.conf … nats-N.conf here')
    .option('--tls-dir <dir>', 'with --tls and no --tls-cert: where the throwaway CA and server certificate go', '.agentbus/tls')
    .action(
      (
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
          reloadPid?: number;
          cluster?: boolean;
          nodes: number;
          clusterPort: number;
          routeHosts?: string;
          outDir?: string;
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
        if (o.cluster) {
          if (!o.outDir) throw new CommanderError(2, 'agentbus.invalidArgument', '--cluster needs --out-dir');
          const hosts = o.routeHosts?.split(',') ?? [];
          if (hosts.length && hosts.length !== o.nodes)
            throw new CommanderError(2, 'agentbus.invalidArgument', `--route-hosts lists ${hosts.length} hosts for ${o.nodes} nodes`);
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
          });
          mkdirSync(o.outDir, { recursive: true });
          nodes.forEach((n, i) => writeFileSync(join(o.outDir!, `nats-${i + 1}.conf`), n.config));
          console.error(`wrote ${nodes.length} configs to ${o.outDir}`);
          return;
        }
        const text = serverConfig(loadManifestDir(o.manifests), services(), {
          host: o.host,
          port: o.port,
          storeDir: resolve(o.storeDir),
          partitions: o.partitions,
          ...(o.httpPort ? { httpPort: o.httpPort } : {}),
          ...secure,
        });
        if (!o.out) return void process.stdout.write(text);
        writeFileSync(o.out, text);
        if (o.reloadPid) process.kill(o.reloadPid, 'SIGHUP');
        console.error(`wrote ${o.out}${o.reloadPid ? ` and reloaded nats-server ${o.reloadPid}` : ''}`);
      },
    );
}
