// `agentbus dev`: a local bus (nats-server, verifier, auditor, memory).
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { loadManifestDir, monitorAgents } from '@agentbus/protocol/manifest';
import type { DevBus } from '../devbus/dev.js';
import { CliError, int, importContracts, projectLayout, loadContracts, tlsFromOptions, tlsOptions } from './shared.js';
import type { TlsCliOptions } from './shared.js';

/** `agentbus dev`'s own tail: rejections and alerts on its terminal, at most 10 lines a second. */
async function watchOnTerminal(bus: DevBus): Promise<{ stop(): Promise<void> }> {
  const { startTail } = await import('../ops/tail.js');
  const color = !!process.stdout.isTTY && !process.env.NO_COLOR;
  let budget = 10;
  let dropped = 0;
  const tick = setInterval(() => {
    if (dropped) console.log(`  … and ${dropped} more (agentbus tail shows every one)`);
    dropped = 0;
    budget = 10;
  }, 1000);
  tick.unref();
  const tail = await startTail({
    servers: bus.urls,
    credentials: bus.observerCreds,
    // rejections, and what monitor mode delivered although policy refuses it
    verdicts: ['rejected', 'would-refuse'],
    color,
    connectOptions: bus.connectOptions,
    write: (line) => {
      if (budget > 0) {
        budget--;
        console.log(line);
      } else dropped++;
    },
  });
  return {
    async stop() {
      clearInterval(tick);
      await tail.stop();
    },
  };
}

/** What `agentbus dev` prints: only what exists, with the exact values an agent needs. */
export function devBanner(
  bus: DevBus,
  o: { project: string | undefined; example: boolean; contractsPath: string; metricsPort: number; jsKeyEnv: string },
): string {
  const manifests = loadManifestDir(bus.manifestsDir);
  const agents = manifests.map((m) => m.agent);
  const monitored = monitorAgents(manifests);
  const w = Math.max(0, ...agents.map((a) => a.length));
  const creds = agents.map((a, i) => {
    const p = bus.credsPath(a);
    return `${i ? '               ' : ''}${a.padEnd(w)}  ${existsSync(p) ? p : `(no credential file here: agentbus keygen ${a}, or copy it to ${p})`}`;
  });
  const caFile = bus.tls?.caFile;
  const lines = [
    `agentbus dev bus running — ${o.project ? `project ${o.project}` : o.example ? 'the example scenario (research team); `agentbus init DIR` makes a project of your own' : 'your contracts and manifests'}`,
    `  servers:     ${bus.url}${bus.urls.length > 1 ? ` (cluster of ${bus.urls.length}, JetStream replicas ${bus.replicas})` : ''}`,
    `  contracts:   ${resolve(o.contractsPath)} (reloaded on change)`,
    `  manifests:   ${bus.manifestsDir} (reloaded on change; nats-server too)`,
    `  credentials: ${creds.length ? creds.join('\n') : '(no agents yet: agentbus keygen NAME)'}`,
    `  connect:     connectAgent({ servers: ${JSON.stringify(bus.url)}, credentials: ${JSON.stringify(agents[0] ? bus.credsPath(agents[0]) : bus.credsPath('NAME'))}, manifestsDir: ${JSON.stringify(bus.manifestsDir)}, contracts${caFile ? `, connectOptions: { tls: { caFile: ${JSON.stringify(caFile)} } }` : ''} })`,
    `  watch:       agentbus tail${o.project ? '' : ` --state-dir ${bus.stateDir}`}   (live verdicts and alerts)`,
    ...(bus.console
      ? [
          `  console:     ${bus.console.url}   (live verdicts, graph, alerts, trails${bus.console.approver ? `; approvals signed as ${bus.console.approver}` : ''})`,
        ]
      : []),
    `  audit store: ${bus.auditor ? `${bus.storePath} (query it while the bus runs: agentbus audit top${o.project ? '' : ` --state-dir ${bus.stateDir}`})` : '(auditor off)'}`,
  ];
  // docs/design.md §18: never silent about policy that is not enforced
  if (monitored.length)
    lines.push(
      `  MONITOR MODE: ${monitored.join(', ')} — policy refusals are delivered and recorded as "would refuse" (agentbus audit would-refuse); identity, signature, replay and freshness are enforced. Enforce: enforce: enforce in the manifest`,
    );
  if (o.metricsPort) lines.push(`  metrics:     http://127.0.0.1:${o.metricsPort}/metrics (verifier), http://127.0.0.1:${o.metricsPort + 1}/metrics (auditor)`);
  lines.push(`  logs:        ${bus.logFile}`);
  if (bus.tls)
    lines.push(
      `  tls:         required; clients trust ${caFile ?? 'the system CAs'}${caFile ? `\n               nats CLI: nats --server ${bus.urls[0]} --tlsca ${caFile} ...` : ''}`,
    );
  if (bus.storeEncrypted)
    lines.push(
      `  jetstream:   encrypted at rest (chachapoly), key ${bus.jsKeyGenerated ? `generated into nats-server's environment only: set $${o.jsKeyEnv} to keep the store across restarts` : `from $${o.jsKeyEnv}`}`,
    );
  lines.push('Ctrl-C to stop.');
  return lines.join('\n');
}

export function register(program: Command): void {
  tlsOptions(program.command('dev'), '<state-dir>/tls')
    .description(
      'run a complete local bus: nats-server, verifier and auditor on embedded chDB (Ctrl-C stops all); inside a project (agentbus.json, from `agentbus init`) it runs that project, else the example scenario',
    )
    .option('--state-dir <dir>', "credentials, JetStream, the audit store and logs (default: the project's, else .agentbus/dev)")
    .option('--contracts <module>', "contracts module (default: the project's, else the example scenario)")
    .option('--manifests <dir>', "manifests directory (default: the project's, else <state-dir>/manifests)")
    .option('--policy <file>', "policy file: agents without credentials get generated ones (default: the example scenario's, outside a project)")
    .addOption(new Option('--port <n>', 'client port (0: any free port)').default(4222).argParser(int('--port')))
    .addOption(new Option('--nodes <n>', 'nats-server nodes: 1, or a cluster (3: JetStream replicas 3)').default(1).argParser(int('--nodes')))
    .addOption(
      new Option('--metrics-port <n>', "serve the verifier's /metrics, /healthz, /readyz on this port and the auditor's on port + 1")
        .default(0)
        .argParser(int('--metrics-port')),
    )
    .option('--no-auditor', 'run without the auditor')
    .addOption(
      new Option('--console-port <n>', 'serve the console (agentbus console) on 127.0.0.1 at this port (0: any free port)')
        .default(4280)
        .argParser(int('--console-port')),
    )
    .option('--no-console', 'do not serve the console')
    .option('--quiet', 'do not print rejections and alerts on this terminal (agentbus tail shows everything)')
    .action(
      async (
        o: {
          stateDir?: string;
          contracts?: string;
          manifests?: string;
          policy?: string;
          port: number;
          nodes: number;
          metricsPort: number;
          auditor: boolean;
          consolePort: number;
          console: boolean;
          quiet?: boolean;
        } & TlsCliOptions,
      ) => {
        const tlsArg = tlsFromOptions(o);
        const secure = {
          ...(tlsArg ? { tls: tlsArg === 'dev' ? true : tlsArg } : {}),
          ...(o.encryptStore ? { encryptStore: true, jsKeyEnv: o.jsKeyEnv } : {}),
        };
        const { startDevBus, DevBusError } = await import('../devbus/dev.js');
        const { defaultExampleDir, prepareExampleProject } = await import('../devbus/demo.js');
        const where = projectLayout(o.stateDir);
        const ex = defaultExampleDir();
        const example = !where.projectFile && !o.contracts && !o.manifests;
        const contractsPath = o.contracts ?? where.contracts ?? [join(ex, 'contracts.js'), join(ex, 'contracts.ts')].find((f) => existsSync(f))!;
        const contracts = await loadContracts(contractsPath);
        const manifestsDir = o.manifests ? resolve(o.manifests) : where.manifestsDir;
        const policy = o.policy ?? (example ? join(ex, 'policy.yaml') : undefined);
        const notify = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
        let bus: DevBus;
        // One signal listener for the whole run, never removed and re-added: between a removal
        // and the next registration a Ctrl-C is lost (or kills the process with the bus half
        // stopped). While the bus starts, a signal is remembered (its parts are not stoppable
        // half-made: it finishes starting, then stops); after that it stops everything.
        let interrupted = false;
        let onStop: (() => void) | undefined;
        const onSignal = () => {
          if (onStop) onStop();
          else interrupted = true;
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          bus = await startDevBus({
            stateDir: where.stateDir,
            manifestsDir,
            contracts,
            contractsFile: contractsPath,
            loadContracts: importContracts,
            notify,
            ...(where.a2aConfig && !o.manifests ? { a2aConfig: where.a2aConfig } : {}),
            withAuditor: o.auditor,
            port: o.port,
            nodes: o.nodes,
            metricsPort: o.metricsPort,
            ...(o.console ? { console: { port: o.consolePort } } : {}),
            ...(policy ? { policyFile: policy } : {}),
            ...secure,
            // the example's tool rules name its project directory
            ...(example ? { policyVars: { AGENTBUS_PROJECT: prepareExampleProject(where.stateDir) } } : {}),
          });
        } catch (e) {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          if (e instanceof DevBusError) throw new CliError(e.message);
          throw new CliError(`cannot start the dev bus: ${(e as Error).message}`);
        }
        if (interrupted) {
          await bus.stop();
          console.log('stopped');
          return;
        }
        const started = bus;
        console.log(devBanner(bus, { project: where.projectFile, example, contractsPath, metricsPort: o.metricsPort, jsKeyEnv: o.jsKeyEnv }));
        // the terminal is not silent: every rejection and alert, one line each (at most 10 a second)
        const watch: Promise<{ stop(): Promise<void> } | undefined> = o.quiet
          ? Promise.resolve(undefined)
          : watchOnTerminal(bus).catch((e: Error) => void notify(`not watching rejections and alerts: ${e.message}`));
        // Ctrl-C from here on stops everything, also while the watch is still starting: the
        // watch gets a bounded time to start and to stop, then the bus stops; a second Ctrl-C
        // while stopping changes nothing (every stop step is bounded too)
        await new Promise<void>((res) => {
          const bounded = <T>(p: Promise<T>, ms: number) =>
            Promise.race([p, new Promise<undefined>((r) => void (setTimeout(r, ms) as unknown as NodeJS.Timeout).unref())]);
          onStop = () => {
            onStop = () => undefined;
            void bounded(watch, 3000)
              .then((w) => (w ? bounded(w.stop(), 3000) : undefined))
              .then(() => started.stop())
              .then(res, res);
          };
        });
        console.log('stopped');
        // everything is stopped; a client still reconnecting (a watch that never finished
        // starting) must not keep the process alive
        setTimeout(() => process.exit(), 2000).unref();
      },
    );
}
