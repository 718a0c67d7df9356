// `agentbus init`: a project of your own.
import { Command } from 'commander';
import { join, resolve } from 'node:path';
import { CliError } from './shared.js';

export function register(program: Command): void {
  program
    .command('init')
    .description('make a project of your own: contracts, two agents with keys and manifests, an example; `agentbus dev` inside it runs it')
    .argument('[dir]', 'project directory (created if missing)', '.')
    .option('--python', 'also a Python example (example.py) and the contracts as JSON Schema it loads (contracts.json)')
    .option(
      '--ts',
      'a TypeScript project: contracts.ts, example.ts and a tsconfig.json (tsc compiles them into dist/; a payload that breaks its contract is a compile error)',
    )
    .action(async (dir: string, o: { python?: boolean; ts?: boolean }) => {
      const { initProject, InitError, writePythonContracts, pythonSdkDir } = await import('../devbus/init.js');
      let r: ReturnType<typeof initProject>;
      try {
        r = initProject(dir, { python: !!o.python, ts: !!o.ts });
        if (o.python) {
          await writePythonContracts(r.dir);
          r.files = [...r.files, 'contracts.json'].sort();
        }
      } catch (e) {
        if (e instanceof InitError) throw new CliError(e.message);
        throw e;
      }
      const steps: [string, string][] = [
        ...(resolve(dir) === process.cwd() ? [] : [[`cd ${dir}`, 'the project'] as [string, string]]),
        ['npm install', `the SDK and the agentbus CLI for this project${o.ts ? ', and TypeScript' : ''}`],
        ...(o.ts
          ? [
              ['npx tsc', 'compile contracts.ts and example.ts into dist/ (the bus loads dist/contracts.js; npx tsc --watch keeps it current)'] as [
                string,
                string,
              ],
            ]
          : []),
        ['npx agentbus dev', 'terminal 1: the bus, on nats://127.0.0.1:4222'],
        [o.ts ? 'node dist/example.js' : 'node example.mjs', 'terminal 2: alice and bob talk; one message is refused, with its reason'],
        // the Python SDK is not on PyPI yet: from the clone's python/ directory
        ...(o.python
          ? [
              [`pip install -e ${pythonSdkDir() ?? '<agentbus clone>/python'}`, 'the Python SDK (agentbus-sdk, not on PyPI yet), from the clone'] as [
                string,
                string,
              ],
              ['python example.py', 'the same, in Python (contracts.json: npx agentbus contracts export -o contracts.json after a change)'] as [string, string],
            ]
          : []),
        ['npx agentbus audit top', 'the audit trail, read from the running bus'],
      ];
      const w = Math.max(...steps.map(([c]) => c.length)) + 2;
      console.log(
        `agentbus project in ${r.dir}: agents ${r.agents.join(', ')}; files ${r.files.join(', ')}\nnext:\n${steps.map(([c, why]) => `  ${c.padEnd(w)}# ${why}`).join('\n')}`,
      );
    });
}
