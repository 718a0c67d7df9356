// `agentbus policy check`: a tool call's verdict from the manifests alone.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { projectLayout } from './shared.js';

export function register(program: Command): void {
  const policyCmd = program.command('policy').description('test tool-call policies without a bus');
  policyCmd
    .command('check')
    .description(
      "a tool call's verdict from the manifests alone, with the verifier's checks (tool listed, pinned schema, argument constraints); exit 0 allowed, 1 refused, 2 usage",
    )
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .requiredOption('--agent <agent>', 'the calling agent')
    .requiredOption('--tool <server.tool>', 'the tool, as SERVER.TOOL (e.g. fs.read_text_file)')
    .option('--args <json>', 'the arguments: a JSON object, @FILE, or - (stdin)', '{}')
    .option('--json', 'print the verdict as one JSON object')
    .action(async (o: { manifests?: string; agent: string; tool: string; args: string; json?: boolean }) => {
      const dot = o.tool.indexOf('.');
      if (dot <= 0 || dot === o.tool.length - 1)
        throw new CommanderError(2, 'agentbus.invalidArgument', `--tool must be SERVER.TOOL, got ${JSON.stringify(o.tool)}`);
      let text = o.args;
      try {
        if (text === '-') text = readFileSync(0, 'utf8');
        else if (text.startsWith('@')) text = readFileSync(text.slice(1), 'utf8');
      } catch (e) {
        throw new CommanderError(2, 'agentbus.invalidArgument', `--args: cannot read ${text} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      let args: unknown;
      try {
        args = JSON.parse(text);
      } catch (e) {
        throw new CommanderError(2, 'agentbus.invalidArgument', `--args must be JSON: ${(e as Error).message.split('\n')[0]}`);
      }
      const { checkPolicy } = await import('../ops/policy-check.js');
      const manifestsDir = o.manifests ?? projectLayout().manifestsDir;
      const v = checkPolicy({ manifestsDir, agent: o.agent, server: o.tool.slice(0, dot), tool: o.tool.slice(dot + 1), args });
      if (o.json) console.log(JSON.stringify(v));
      else {
        console.log(
          v.verdict === 'allowed'
            ? `allowed${v.approval ? ', held for approval' : ''}`
            : `refused: ${v.reason}${v.argument ? ` ${v.argument}` : ''}: ${v.detail}`,
        );
        for (const n of v.notes) console.error(`note: ${n}`);
      }
      if (v.verdict === 'refused') process.exitCode = 1;
    });
}
