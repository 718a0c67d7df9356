#!/usr/bin/env node
// The `agentbus` command: one file per command in this folder (shared helpers in shared.ts).
// Mistakes in arguments: one line, exit 2. Operational failures (server unreachable, bad
// manifest): one line naming what to fix, exit 1. No stack traces.
import { Command, CommanderError } from 'commander';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ManifestError } from '@agentbus/protocol';
import { CliError } from './shared.js';
import { register as initCommand } from './init.js';
import { register as keygenCommand } from './keygen.js';
import { register as manifestCommand } from './manifest.js';
import { register as natsconfigCommand } from './nats-config.js';
import { register as verifierCommand } from './verifier.js';
import { register as memoryCommand } from './memory.js';
import { register as keysCommand } from './keys.js';
import { register as devCommand } from './dev.js';
import { register as tailCommand } from './tail.js';
import { register as approveCommand } from './approve.js';
import { register as consoleCommand } from './console.js';
import { register as policyCommand } from './policy.js';
import { register as guardCommand } from './guard.js';
import { register as demoCommand } from './demo.js';
import { register as mcpCommand } from './mcp.js';
import { register as a2aCommand } from './a2a.js';
import { registerAuditorCommands } from './audit.js';

export { CliError, loadContracts, readSecretFile } from './shared.js';

export function buildProgram(): Command {
  const program = new Command();
  program.name('agentbus').description('A signed, verified, audited message bus for AI agents on NATS').version('0.1.0');
  program.showHelpAfterError(false);

  initCommand(program);
  keygenCommand(program);
  manifestCommand(program);
  natsconfigCommand(program);
  verifierCommand(program);
  memoryCommand(program);
  keysCommand(program);
  devCommand(program);
  tailCommand(program);
  approveCommand(program);
  consoleCommand(program);
  policyCommand(program);
  guardCommand(program);
  demoCommand(program);
  mcpCommand(program);
  a2aCommand(program);
  registerAuditorCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  // every command at every depth: commander errors become exceptions (exit 2 below), one line each
  const out = { writeErr: (s: string) => process.stderr.write(s.split('\n')[0] + '\n') };
  const override = (c: Command): void => {
    c.exitOverride();
    c.configureOutput(out);
    c.commands.forEach(override);
  };
  override(program);
  try {
    process.exitCode = undefined;
    await program.parseAsync(argv);
    // an action may have set a failing exit code (a failed check); keep it
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if ((e as Error).name === 'CheckFailed') return 1; // its findings are printed already
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.code === 'agentbus.invalidArgument') process.stderr.write(`agentbus: error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof ManifestError || e instanceof CliError || (e as Error).name === 'CredentialError') {
      process.stderr.write(`agentbus: ${(e as Error).message}\n`);
      return 1;
    }
    process.stderr.write(`agentbus: ${(e as Error).message ?? String(e)}\n`);
    return 1;
  }
}

// Run when executed directly — also through the npm bin symlink (`npx agentbus`).
const isMain = (() => {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
})();
if (isMain) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
