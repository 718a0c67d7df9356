// Tool calls (issue 15): the round trip of one call through the bus (caller → verifier →
// `mcp serve` wrapper → the official filesystem MCP server → signed tool.result back) beside the
// same call to the same MCP server directly over stdio, and the cost of the policy check alone.
//   node --import tsx bench/tools.ts [--json]   (also part of npm run bench)
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startBus } from '../test/helpers/bus.js';
import { startMcpServer } from '../packages/server/src/mcp/definitions.js';
import { pinServer } from '../packages/server/src/mcp/pin.js';
import { startToolServer } from '../packages/server/src/mcp/serve.js';
import { filesystemServerCommand } from '../packages/server/src/devbus/demo.js';
import { loadToolPolicy, checkToolCall } from '../packages/protocol/src/tools/index.js';
import { hopTaps, hopFigures } from './hops.js';
import { report } from './util.js';
import type { Figure } from './util.js';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

export async function toolFigures(o: { calls?: number } = {}): Promise<Figure[]> {
  const calls = o.calls ?? 300;
  const root = mkdtempSync(join(tmpdir(), 'agentbus-bench-tools-'));
  mkdirSync(join(root, 'project'));
  writeFileSync(join(root, 'project', 'a.txt'), 'hello '.repeat(40));
  const command = filesystemServerCommand(join(root, 'project'));
  const args = { path: join(root, 'project', 'a.txt') };
  const figures: Figure[] = [];
  // direct: the MCP SDK client over stdio
  const direct = await startMcpServer(command, { stderr: 'ignore' });
  const d: number[] = [];
  try {
    for (let i = 0; i < calls + 20; i++) {
      const t = performance.now();
      await direct.client.callTool({ name: 'read_text_file', arguments: args });
      if (i >= 20) d.push(performance.now() - t);
    }
  } finally {
    await direct.close();
  }
  // through the bus
  const bus = await startBus({
    agents: {
      caller: {
        send: [],
        rate: { per_second: 1e5, burst: 1e5 },
        tools: [{ server: 'fs', tools: ['read_text_file'], args: { path: { path: { roots: [join(root, 'project')] } } } }],
      },
      fs: { send: [{ to: '*', types: ['tool.result'] }], rate: { per_second: 1e5, burst: 1e5 } },
    },
  });
  const b: number[] = [];
  try {
    await pinServer({ agent: 'fs', manifestsDir: bus.manifestsDir, command, stderr: 'ignore' });
    const t0 = Date.now();
    while ((bus.verifiers[0]!.policy.agents.get('fs')?.mcpTools.size ?? 0) === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    await bus.reloadNats();
    const server = await startToolServer({
      agent: 'fs',
      credentials: bus.credsPath('fs'),
      manifestsDir: bus.manifestsDir,
      servers: bus.url,
      command,
      stderr: 'ignore',
      logger: pino({ level: 'silent' }),
    });
    const caller = await bus.agent('caller');
    try {
      for (let i = 0; i < calls + 20; i++) {
        const t = performance.now();
        await caller.callTool('fs', 'read_text_file', args, { timeoutMs: 10_000 });
        if (i >= 20) b.push(performance.now() - t);
      }
      // the same call by hop (issue 30 item 4), after the timed run (the taps add subscribers)
      const taps = await hopTaps(bus, 'caller', 'fs');
      for (let i = 0; i < calls; i++) await taps.measure(() => caller.callTool('fs', 'read_text_file', args, { timeoutMs: 10_000 }));
      await taps.close();
      figures.push(...hopFigures('tool_call', 'calls', taps.hops));
    } finally {
      await caller.close();
      await server.stop();
    }
  } finally {
    await bus.stop();
    rmSync(root, { recursive: true, force: true });
  }
  figures.push({
    name: 'tool_call_rtt_ms',
    value: quantile(b, 0.5),
    unit: `ms, median of ${calls} calls through the bus (p99 ${quantile(b, 0.99).toFixed(2)})`,
  });
  figures.push({
    name: 'tool_call_direct_rtt_ms',
    value: quantile(d, 0.5),
    unit: `ms, median of ${calls} calls to the same MCP server over stdio (p99 ${quantile(d, 0.99).toFixed(2)})`,
  });
  figures.push({ name: 'tool_call_rtt_over_direct', value: quantile(b, 0.5) / quantile(d, 0.5), unit: 'ratio' });
  // the policy check alone: a typical rule with a path, a URL, an enum, a range and a pattern
  const policy = loadToolPolicy([
    {
      server: 'fs',
      tools: ['read_file', 'write_file', 'list_*'],
      args: {
        path: { path: { roots: ['/srv/project', '/data/shared'] } },
        source: { url: { schemes: ['https'], hosts: ['*.example.com'] }, optional: true },
        mode: { enum: ['r', 'w'] },
        limit: { type: 'integer', min: 0, max: 1000 },
        label: { pattern: '[a-z][a-z0-9_-]*', max_length: 64 },
      },
    },
  ]);
  const pargs = {
    path: '/srv/project/out/reports/summary.md',
    source: 'https://api.example.com/v1/items?page=2',
    mode: 'w',
    limit: 50,
    label: 'weekly_report-7',
  };
  const n = 20_000;
  for (let i = 0; i < 2000; i++) checkToolCall(policy, 'fs', 'write_file', pargs);
  const t = performance.now();
  for (let i = 0; i < n; i++) checkToolCall(policy, 'fs', 'write_file', pargs);
  figures.push({
    name: 'policy_check_us',
    value: ((performance.now() - t) * 1000) / n,
    unit: 'µs per call (5 constrained arguments: path, URL, enum, range, pattern)',
  });
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) report(await toolFigures(), process.argv.includes('--json'));
