// `agentbus guard scan`.
import { Command, CommanderError } from 'commander';
import { CliError } from './shared.js';

export function register(program: Command): void {
  program
    .command('guard')
    .description('content guards: invisible text, control characters and credentials in a payload, as the verifier finds them')
    .command('scan')
    .description('scan a payload (UTF-8 JSON, walked string by string; else one string); exit 0 clean, 1 findings, 2 usage')
    .argument('[file]', 'the payload file, or - for stdin', '-')
    .option('--json', 'print { "findings": [...], "clean": bool }')
    .action(async (file: string, o: { json?: boolean }) => {
      if (file === '-' && process.stdin.isTTY) throw new CommanderError(2, 'agentbus.invalidArgument', 'give a FILE, or pipe the payload into - (stdin)');
      const { runGuardScan, GuardScanError } = await import('../ops/guard-scan.js');
      try {
        process.exitCode = runGuardScan({ file, ...o });
      } catch (e) {
        throw e instanceof GuardScanError ? new CliError(e.message) : e;
      }
    });
}
