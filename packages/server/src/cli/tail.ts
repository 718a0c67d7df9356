// `agentbus tail`: live verdicts and alerts.
import { Command, CommanderError } from 'commander';
import { CliError, projectLayout } from './shared.js';

export function register(program: Command): void {
  program
    .command('tail')
    .description('watch the bus live: every verdict (one line each) and every alert, as the read-only observer (Ctrl-C stops)')
    .option('--agent <id>', 'only messages this agent sent or was sent (and alerts naming it)')
    .option(
      '--verdict <list>',
      'only these verdicts: accepted, rejected, duplicate, shed, would-refuse (comma-separated or repeated; rejected includes shed; would-refuse: delivered in monitor mode although policy refuses it)',
      (v: string, prev: string[] | undefined) => [
        ...(prev ?? []),
        ...v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      ],
    )
    .option('--alerts-only', 'only alerts, no verdicts')
    .option('--json', 'one JSON object per line (kind: verdict | alert)')
    .option(
      '--state-dir <dir>',
      "the dev bus's state directory: its observer credential, and bus.json for the URL (default: the project's, else .agentbus/dev)",
    )
    .option('--creds <file>', "observer's service credential file (default <state-dir>/creds/observer.creds.json)")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server (agentbus dev --tls writes <state-dir>/tls/ca.pem)')
    .action(
      async (opts: {
        agent?: string;
        verdict?: string[];
        alertsOnly?: boolean;
        json?: boolean;
        stateDir?: string;
        creds?: string;
        nats?: string;
        tlsCa?: string;
      }) => {
        const { runTail, checkTailArguments, TailError } = await import('../ops/tail.js');
        const o = { ...opts, stateDir: projectLayout(opts.stateDir).stateDir };
        try {
          checkTailArguments(o);
        } catch (e) {
          throw new CommanderError(2, 'agentbus.invalidArgument', (e as Error).message);
        }
        try {
          await runTail(o);
        } catch (e) {
          if (e instanceof TailError) throw new CliError(e.message);
          throw e;
        }
      },
    );
}
