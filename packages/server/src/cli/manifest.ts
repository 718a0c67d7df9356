// `agentbus manifest check`.
import { Command } from 'commander';
import { join } from 'node:path';
import { APPROVAL_TYPE, compileGlobs } from '@agentbus/protocol';
import { loadManifestDir, loadProjectDefaults } from '@agentbus/protocol/manifest';
import { builtinMemoryContract, builtinToolContract } from '@agentbus/sdk/internal';
import { CheckFailed, loadContracts } from './shared.js';

/** The types every bus has, that no contracts module lists: memory.*, tool.result, tool.<server>.<tool>, approval.decision. */
function isBuiltinType(type: string): boolean {
  return type === APPROVAL_TYPE || builtinMemoryContract(type) !== undefined || builtinToolContract(type) !== undefined;
}

export function register(program: Command): void {
  const manifest = program.command('manifest').description('work with agent manifests');
  manifest
    .command('check')
    .description('validate every manifest in a directory (and, with --contracts, that their types exist)')
    .argument('<dir>', 'manifests directory')
    .option('--contracts <module>', 'contracts module to check message types against')
    .action(async (dir: string, o: { contracts?: string }) => {
      const ms = loadManifestDir(dir);
      const agents = new Set(ms.map((m) => m.agent));
      // every finding, not only the first: one line each on stderr, then exit 1
      const findings: string[] = [];
      for (const m of ms) {
        m.send.forEach((r, i) => {
          if (!r.to.includes('*') && !agents.has(r.to)) findings.push(`${join(dir, m.agent)} at send.${i}.to: no manifest for recipient ${r.to} in ${dir}`);
        });
      }
      if (o.contracts) {
        const reg = await loadContracts(o.contracts);
        for (const m of ms) {
          m.send.forEach((r, i) => {
            for (const t of r.types)
              if (!t.includes('*') && !reg.has(t) && !isBuiltinType(t))
                findings.push(`${join(dir, m.agent)} at send.${i}.types: ${t} has no contract in ${o.contracts}`);
          });
        }
      }
      if (findings.length) {
        for (const f of findings) console.error(`agentbus: ${f}`);
        throw new CheckFailed();
      }
      // four eyes (docs/design.md §15): the verifier never lets the caller decide its own held call,
      // so an approver that can also call the server approves nothing of its own — say so
      for (const m of ms) {
        if (!m.approve.length) continue;
        const mayApprove = compileGlobs(m.approve);
        for (const srv of agents) {
          if (!mayApprove(srv)) continue;
          if (m.tools.some((r) => compileGlobs([r.server])(srv)))
            console.error(
              `warning: ${join(dir, m.agent)}: ${m.agent} may approve calls of ${srv} (approve:) and may call ${srv}'s tools (tools:); it can never approve its own calls (four eyes), so another approver must be listed for them`,
            );
        }
      }
      // monitor mode (docs/design.md §18): policy is not enforced for these agents — say so, every time
      const defaults = loadProjectDefaults(dir);
      if (defaults.enforce === 'monitor')
        console.error(`warning: ${defaults.file}: the project default is enforce: monitor (every manifest without enforce: of its own)`);
      for (const m of ms)
        if (m.enforce === 'monitor')
          console.error(
            `warning: ${join(dir, m.agent)}: ${m.agent} is in MONITOR MODE: what its policy refuses is delivered and recorded as "would refuse" (agentbus audit would-refuse); identity, signature, replay and freshness are still enforced. Enforce with enforce: enforce`,
          );
      console.log(`${ms.length} manifest(s) ok: ${ms.map((m) => m.agent).join(', ')}`);
    });
}
