// `agentbus contracts export` (docs/design.md §16): the registry's contracts as zod's own JSON Schema, with
// the built-in types (memory.*, tool.result, approval.decision) and the pinned tools of the
// manifests; the shape decisions.json uses. The Python SDK loads this file (python/tests).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defineMessage, createRegistry } from '../packages/sdk/src/contracts.js';
import { exportContracts } from '../packages/server/src/ops/contracts-export.js';
import { cliArgs } from './helpers/cli-bin.js';

test('contracts export - JSON Schema of every contract, built-ins marked, metadata declared', () => {
  const reg = createRegistry(
    defineMessage('task.assign', z.strictObject({ title: z.string().min(1), priority: z.number().int().default(1) }), { metadata: ['ticket_id'] }),
    defineMessage('deploy.request', z.object({ service: z.string() }), { critical: true }),
  );
  const e = exportContracts(reg);
  assert.is(e.agentbus_contracts, 1);
  const task = e.contracts['task.assign']!;
  assert.is(task.builtin, false);
  assert.equal(task.metadata, ['ticket_id']);
  assert.equal((task.json_schema as { required: string[] }).required, ['title']); // input form: a default is optional
  assert.is((task.json_schema as { additionalProperties: boolean }).additionalProperties, false);
  assert.equal(e.contracts['deploy.request']!.required_metadata, ['rationale', 'prompt_version']);
  for (const t of [
    'memory.get',
    'memory.put',
    'memory.delete',
    'memory.list',
    'memory.watch',
    'memory.unwatch',
    'memory.result',
    'memory.event',
    'tool.result',
    'approval.decision',
  ]) {
    assert.ok(e.contracts[t]?.builtin, t);
    assert.is(e.contracts[t]!.content_type, 'application/json');
  }
});

test('contracts export - the CLI writes the project registry and the pinned tools of the manifests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-export-'));
  try {
    writeFileSync(
      join(dir, 'fs.yaml'),
      `agent: fs\nnats_user: U${'A'.repeat(55)}\nkeys: [{ key_id: k1, public_key: ${'A'.repeat(43)} }]\nmcp:\n  tools:\n    - { name: read_file, input_schema: { type: object, properties: { path: { type: string } }, required: [path] }, sha256: "${'0'.repeat(64)}" }\n`,
    );
    const out = join(dir, 'contracts.json');
    const r = spawnSync(
      process.execPath,
      cliArgs('contracts', 'export', '--contracts', 'packages/server/src/examples/quickstart/contracts.mjs', '--manifests', dir, '-o', out),
      { encoding: 'utf8' },
    );
    assert.is(r.status, 0, r.stderr);
    const e = JSON.parse(readFileSync(out, 'utf8'));
    assert.ok(e.contracts['note.send'] && !e.contracts['note.send'].builtin);
    assert.equal(e.contracts['tool.fs.read_file'].json_schema.required, ['path']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
