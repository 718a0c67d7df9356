// `agentbus contracts export`: the registry's contracts as JSON Schema, for clients in other
// languages (docs/design.md §16: one source of truth, no hand-copied schemas). Each JSON contract's schema
// is zod's own JSON Schema output (`z.toJSONSchema`, draft 2020-12, the *input* form: what a
// sender may pass), with the built-in types every agent can use — memory.*, tool.result,
// approval.decision — and, given the manifests, every tool a server's manifest pins
// (`tool.<server>.<tool>`, its pinned inputSchema as it is). The shape of one contract is the
// one protocol/vectors/decisions.json uses (PROTOCOL.md §14). What JSON Schema cannot say (a zod
// refine, e.g. the memory namespace rule) is not in the export; the verifier still checks it.
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { Command } from 'commander';
import { toolType } from '@agentbus/protocol';
import { loadManifestDir, Policy } from '@agentbus/protocol/manifest';
import { MEMORY_CONTRACTS, A2A_CONTRACTS } from '@agentbus/sdk/internal';
import type { AnyContract, ContractRegistry } from '@agentbus/sdk/internal';
import { ApprovalContract, ToolResultContract } from '../common/tool-contracts.js';

export const CONTRACTS_EXPORT_VERSION = 1;

export interface ExportedContract {
  content_type: string;
  /** JSON Schema (draft 2020-12) of the payload; null for a protobuf contract. */
  json_schema: Record<string, unknown> | null;
  metadata: string[];
  required_metadata: string[];
  critical: boolean;
  description: string;
  /** true for the types every bus has (memory.*, tool.*, approval.decision), not the project's registry. */
  builtin: boolean;
}

export interface ContractsExport {
  agentbus_contracts: typeof CONTRACTS_EXPORT_VERSION;
  /** `tool.<server>.<tool>` types not pinned here: any JSON object (the verifier checks the pinned schema). */
  tool_call_schema: Record<string, unknown>;
  contracts: Record<string, ExportedContract>;
}

function jsonSchemaOf(c: AnyContract): Record<string, unknown> | null {
  const schema = (c as { schema?: unknown }).schema;
  if (!(schema instanceof z.ZodType)) return null;
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

function entry(c: AnyContract, builtin: boolean, jsonSchema = jsonSchemaOf(c)): ExportedContract {
  return {
    content_type: c.contentType,
    json_schema: jsonSchema,
    metadata: [...c.metadata],
    required_metadata: [...c.requiredMetadata],
    critical: c.critical,
    description: c.description,
    builtin,
  };
}

/** The export of `registry` (plus the built-in types, plus the pinned tools of `manifestsDir`). */
export function exportContracts(registry: ContractRegistry, manifestsDir?: string): ContractsExport {
  const contracts: Record<string, ExportedContract> = {};
  for (const t of registry.types()) contracts[t] = entry(registry.get(t)!, false);
  for (const t of MEMORY_CONTRACTS.types()) contracts[t] ??= entry(MEMORY_CONTRACTS.get(t)!, true);
  for (const t of A2A_CONTRACTS.types()) contracts[t] ??= entry(A2A_CONTRACTS.get(t)!, true);
  contracts[ToolResultContract.type] ??= entry(ToolResultContract, true);
  contracts[ApprovalContract.type] ??= entry(ApprovalContract, true);
  if (manifestsDir) {
    for (const [server, a] of new Policy(loadManifestDir(manifestsDir)).agents) {
      for (const [name, tool] of a.mcpTools) {
        contracts[toolType(server, name)] = {
          content_type: 'application/json',
          json_schema: tool.input_schema as Record<string, unknown>,
          metadata: [],
          required_metadata: [],
          critical: false,
          description: `tool ${name} of ${server}: its pinned inputSchema`,
          builtin: true,
        };
      }
    }
  }
  const sorted = Object.fromEntries(
    Object.keys(contracts)
      .sort()
      .map((k) => [k, contracts[k]!]),
  );
  return {
    agentbus_contracts: CONTRACTS_EXPORT_VERSION,
    tool_call_schema: { type: 'object' },
    contracts: sorted,
  };
}

export interface ContractsCommandDeps {
  loadContracts(path: string): Promise<ContractRegistry>;
  /** The project's contracts module and manifests directory (inside a project), else undefined. */
  projectDefaults(): { contracts?: string; manifestsDir?: string };
}

/** `agentbus contracts export [--contracts M] [--manifests D] [-o FILE]`. */
export function registerContractsCommands(program: Command, deps: ContractsCommandDeps): void {
  const cmd = program.command('contracts').description('the message types of a contracts module, for other languages');
  cmd
    .command('export')
    .description(
      "write the contracts as JSON Schema (zod's own output), the built-in types included (memory.*, tool.result, approval.decision, and with manifests the pinned tools): what the Python SDK loads",
    )
    .option('--contracts <module>', "contracts module (default: the project's)")
    .option('--manifests <dir>', "manifests directory, for the pinned tool.<server>.<tool> types (default: the project's)")
    .option('--no-manifests', 'leave the pinned tools out')
    .option('-o, --out <file>', 'write here instead of stdout')
    .action(async (o: { contracts?: string; manifests?: string | false; out?: string }) => {
      const d = deps.projectDefaults();
      const path = o.contracts ?? d.contracts;
      if (!path) throw new Error('no contracts module: pass --contracts, or run inside a project (agentbus init)');
      const registry = await deps.loadContracts(path);
      const manifests = o.manifests === false ? undefined : (o.manifests ?? d.manifestsDir);
      const text = JSON.stringify(exportContracts(registry, manifests), null, 2) + '\n';
      if (o.out) {
        writeFileSync(o.out, text);
        console.error(`wrote ${Object.keys(JSON.parse(text).contracts).length} contracts to ${o.out}`);
      } else process.stdout.write(text);
    });
}
