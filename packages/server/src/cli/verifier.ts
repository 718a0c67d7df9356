// `agentbus verifier`: the verifier service.
import { Command, CommanderError, Option } from 'commander';
import { stringify } from 'yaml';
import { createLogger } from '@agentbus/sdk/internal';
import { loadServiceCreds } from '../common/service-creds.js';
import * as D from '@agentbus/protocol';
import { CliError, int, loadContracts, readSecretFile } from './shared.js';

export function register(program: Command): void {
  program
    .command('verifier')
    .description('run the broker-side verifier (stops gracefully on SIGTERM/SIGINT)')
    .requiredOption('--manifests <dir>', 'manifests directory (reloaded on change)')
    .requiredOption('--contracts <module>', 'contracts module (JS/TS ESM exporting a registry or defineMessage values)')
    .requiredOption('--creds <file>', "verifier's service credential file")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated', 'nats://127.0.0.1:4222')
    .option('--id <id>', 'verifier instance id (default host-pid)')
    .addOption(new Option('--max-skew-ms <n>', 'accepted clock skew').default(D.DEFAULT_MAX_SKEW_MS).argParser(int('--max-skew-ms')))
    .addOption(new Option('--replay-window-ms <n>', 'how long accepted msg_ids are remembered (default 2 × skew + 5 s)').argParser(int('--replay-window-ms')))
    .addOption(
      new Option('--partitions <n>', 'sender partitions; must match nats-config --partitions').default(D.DEFAULT_PARTITIONS).argParser(int('--partitions')),
    )
    .option('--depth-key-file <file>', 'shared MAC key of the depth tokens (32+ bytes; mode 0600); all verifiers must use the same one')
    .addOption(new Option('--replicas <n>', 'replicas of the audit stream and replay bucket').default(1).argParser(int('--replicas')))
    .addOption(
      new Option('--delivery-timeout-ms <ms>', 're-forward a direct message until its recipient confirms, for this long (≥ 100); then answer "unconfirmed"')
        .default(1000)
        .argParser((v) => {
          const n = int('--delivery-timeout-ms')(v);
          if (n < 100)
            throw new CommanderError(
              2,
              'agentbus.invalidArgument',
              `--delivery-timeout-ms must be at least 100 (a recipient needs a round trip to confirm), got ${JSON.stringify(v)}`,
            );
          return n;
        }),
    )
    .addOption(
      new Option('--approval-timeout-ms <ms>', 'how long a tool call that needs approval is held before it is refused approval_timeout')
        .default(120_000)
        .argParser(int('--approval-timeout-ms')),
    )
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server (agentbus dev --tls writes <state-dir>/tls/ca.pem)')
    .addOption(
      new Option('--metrics-port <n>', 'serve Prometheus /metrics, /healthz and /readyz on this port (0: off)').default(0).argParser((v) => {
        const n = int('--metrics-port')(v);
        if (n > 65535) throw new CommanderError(2, 'agentbus.invalidArgument', `--metrics-port must be a TCP port (0-65535), got ${JSON.stringify(v)}`);
        return n;
      }),
    )
    .option('--metrics-host <host>', 'bind address of the metrics server', '127.0.0.1')
    .addOption(
      new Option('--verify-threads <n>', 'worker threads checking signatures off the event loop (0: inline; default 1 with 4+ cores, else 0)').argParser(
        (v) => {
          const n = int('--verify-threads')(v);
          if (n > 64) throw new CommanderError(2, 'agentbus.invalidArgument', `--verify-threads must be 0-64, got ${JSON.stringify(v)}`);
          return n;
        },
      ),
    )
    .addOption(
      new Option('--quarantine-ms <ms>', 'first cool-down of a sender quarantined at NATS past its rejection budget (doubles while the flood lasts)')
        .default(10_000)
        .argParser(int('--quarantine-ms')),
    )
    .addOption(new Option('--quarantine-max-ms <ms>', 'longest cool-down').default(600_000).argParser(int('--quarantine-max-ms')))
    .option('--no-quarantine', 'do not quarantine senders at NATS (they are still shed)')
    .action(
      async (o: {
        manifests: string;
        contracts: string;
        creds: string;
        nats: string;
        id?: string;
        maxSkewMs: number;
        replayWindowMs?: number;
        partitions: number;
        depthKeyFile?: string;
        replicas: number;
        deliveryTimeoutMs: number;
        approvalTimeoutMs: number;
        logLevel: string;
        metricsPort: number;
        metricsHost: string;
        tlsCa?: string;
        verifyThreads?: number;
        quarantine: boolean;
        quarantineMs: number;
        quarantineMaxMs: number;
      }) => {
        const { startVerifier } = await import('../verifier/verifier.js');
        const contracts = await loadContracts(o.contracts);
        const logger = createLogger({ name: 'verifier', level: o.logLevel });
        let v: Awaited<ReturnType<typeof startVerifier>>;
        try {
          v = await startVerifier({
            servers: o.nats.split(','),
            credentials: loadServiceCreds(o.creds),
            manifestsDir: o.manifests,
            contracts,
            logger,
            maxSkewMs: o.maxSkewMs,
            partitions: o.partitions,
            replicas: o.replicas,
            deliveryTimeoutMs: o.deliveryTimeoutMs,
            approvalTimeoutMs: o.approvalTimeoutMs,
            ...(o.id ? { id: o.id } : {}),
            quarantine: o.quarantine,
            quarantineMs: o.quarantineMs,
            quarantineMaxMs: o.quarantineMaxMs,
            ...(o.replayWindowMs ? { replayWindowMs: o.replayWindowMs } : {}),
            ...(o.verifyThreads !== undefined ? { verifyThreads: o.verifyThreads } : {}),
            ...(o.depthKeyFile ? { depthKey: readSecretFile(o.depthKeyFile) } : {}),
            ...(o.metricsPort ? { metricsPort: o.metricsPort, metricsHost: o.metricsHost } : {}),
            connectOptions: { maxReconnectAttempts: -1, reconnectTimeWait: 250, ...(o.tlsCa ? { tls: { caFile: o.tlsCa } } : {}) },
          });
        } catch (e) {
          throw new CliError(`cannot start the verifier against ${o.nats}: ${(e as Error).message}`);
        }
        console.error(`verifier ${v.id} ready on ${o.nats}${v.metricsUrl ? `; metrics on ${v.metricsUrl}/metrics` : ''}`);
        await new Promise<void>((res) => {
          const stop = () => void v.drain().then(res, res);
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
      },
    );
}
