// `agentbus demo`: the example scenario.
import { Command } from 'commander';
import { stringify } from 'yaml';
import { CliError } from './shared.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the example scenario on a dev bus: a team of agents, one prompt-injected, every attack shown')
    .option('--json', 'print the summary as one JSON object (progress goes to stderr)')
    .option('--state-dir <dir>', 'where the bus keeps its state (default: a new temp dir)')
    .action(async (o: { json?: boolean; stateDir?: string }) => {
      const { runDemo, printSummary } = await import('../devbus/demo.js');
      const { DevBusError } = await import('../devbus/dev.js');
      const print = o.json ? (l: string) => process.stderr.write(l + '\n') : (l: string) => console.log(l);
      let s: Awaited<ReturnType<typeof runDemo>>;
      try {
        s = await runDemo({ print, ...(o.stateDir ? { stateDir: o.stateDir } : {}) });
      } catch (e) {
        if (e instanceof DevBusError) throw new CliError(e.message);
        throw e;
      }
      if (o.json) console.log(JSON.stringify(s));
      else printSummary(s);
      if (s.attacks.some((a) => !a.blocked) || (s.audit.findings ?? 0) > 0) process.exitCode = 1;
    });
}
