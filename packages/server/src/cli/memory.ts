// `agentbus memory` (the memory service) and `agentbus contracts`.
import { Command, Option } from 'commander';
import { createLogger } from '@agentbus/sdk/internal';
import { registerContractsCommands } from '../ops/contracts-export.js';
import { CliError, int, projectLayout, loadContracts } from './shared.js';

export function register(program: Command): void {
  program
    .command('memory')
    .description('the memory service (docs/design.md §13): an agent (`memory`) storing namespaces in JetStream KV behind signed memory.* requests')
    .requiredOption('--creds <file>', "the memory agent's credential file (agent id memory)")
    .requiredOption('--service-creds <file>', 'its KV service credential (a NATS user with memoryPermissions)')
    .option('--manifests <dir>', "manifests directory (grants: each manifest's memory: section)", 'manifests')
    .option('--nats <urls>', 'NATS server URL(s), comma-separated', 'nats://127.0.0.1:4222')
    .addOption(new Option('--replicas <n>', 'replicas of the namespace buckets it creates (3 on a 3-node cluster)').default(1).argParser(int('--replicas')))
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o: { creds: string; serviceCreds: string; manifests: string; nats: string; replicas: number; logLevel: string }) => {
      const { startMemoryService } = await import('../memory/service.js');
      const s = await startMemoryService({
        servers: o.nats.split(','),
        credentials: o.creds,
        serviceCreds: o.serviceCreds,
        manifestsDir: o.manifests,
        replicas: o.replicas,
        logger: createLogger({ name: 'memory', level: o.logLevel }),
      }).catch((e: Error) => {
        throw new CliError(`cannot start the memory service against ${o.nats}: ${e.message}`);
      });
      console.error(`memory service ready on ${o.nats}`);
      await new Promise<void>((res) => {
        const stop = () => void s.close().then(res, res);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  registerContractsCommands(program, {
    loadContracts,
    projectDefaults: () => {
      const l = projectLayout();
      return l.projectFile ? { ...(l.contracts ? { contracts: l.contracts } : {}), manifestsDir: l.manifestsDir } : {};
    },
  });
}
