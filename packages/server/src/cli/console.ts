// `agentbus console`: the live web console of a running bus (docs/console.md).
import { Command, CommanderError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, int, projectLayout } from './shared.js';

interface ConsoleCliOptions {
  stateDir?: string;
  nats?: string;
  creds?: string;
  manifests?: string;
  tlsCa?: string;
  approver?: string;
  approverCreds?: string;
  approvals: boolean;
  store?: string;
  history: boolean;
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  users?: string;
  allowOrigin?: string[];
}

export function register(program: Command): void {
  program
    .command('console')
    .description('serve the live web console of a running bus: verdicts, graph, alerts, trails, and approvals in the browser (Ctrl-C stops)')
    .option('--state-dir <dir>', "the dev bus to watch: its bus.json, observer credential and store (default: the project's, else .agentbus/dev)")
    .option('--nats <urls>', 'NATS server URL(s) (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--creds <file>', "the observer's service credential (default <state-dir>/creds/observer.creds.json)")
    .option('--manifests <dir>', "manifests directory (default: the running bus's, else the project's)")
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server (default: the running dev bus says)')
    .option(
      '--approver <agent>',
      'decide held calls as this agent (its manifest has approve:), credential in the credentials directory (default: the first such agent there)',
    )
    .option('--approver-creds <file>', "the approver's credential file (instead of --approver)")
    .option('--no-approvals', 'no approvals: watch only')
    .option('--store <dir|url>', "the audit store for history (default: the running bus's, as `agentbus audit` finds it)")
    .option('--no-history', 'no audit store: live data only')
    .option('--host <addr>', 'listen address (anything but loopback needs --tls-cert, --tls-key and --users)', '127.0.0.1')
    .addOption(new Option('--port <n>', 'listen port (0: any free port)').default(4280).argParser(int('--port')))
    .option('--tls-cert <file>', "the console's HTTPS certificate (PEM)")
    .option('--tls-key <file>', "the console's HTTPS private key (PEM)")
    .option('--users <file>', 'who may log in: one "NAME TOKEN" per line (mode 600); required off loopback')
    .option(
      '--allow-origin <origin>',
      'also answer to this origin (scheme://host[:port], e.g. behind a reverse proxy); repeatable',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .action(async (o: ConsoleCliOptions) => {
      if (!!o.tlsCert !== !!o.tlsKey) throw new CommanderError(2, 'agentbus.invalidArgument', '--tls-cert and --tls-key go together');
      if (o.approver && o.approverCreds) throw new CommanderError(2, 'agentbus.invalidArgument', 'give --approver AGENT or --approver-creds FILE, not both');
      await runConsole(o);
    });
}

async function runConsole(o: ConsoleCliOptions): Promise<void> {
  const l = projectLayout(o.stateDir);
  const { runningBus } = await import('../common/bus-state.js');
  const bus = runningBus(l.stateDir);
  const servers = o.nats ?? bus?.servers ?? 'nats://127.0.0.1:4222';
  const manifestsDir = o.manifests ?? bus?.manifests_dir ?? l.manifestsDir;
  const credsDir = bus?.creds_dir ?? l.credsDir;
  const credsPath = o.creds ?? join(l.stateDir, 'creds', 'observer.creds.json');
  if (!existsSync(credsPath))
    throw new CliError(
      `no observer credential at ${credsPath} (agentbus dev writes it there; else pass --creds F, made with: agentbus keygen observer --service)`,
    );
  for (const f of [o.tlsCa, o.tlsCert, o.tlsKey, o.users, o.approverCreds]) if (f && !existsSync(f)) throw new CliError(`${f}: no such file`);
  const tlsCa = o.tlsCa ?? bus?.tls_ca;
  const { loadServiceCreds } = await import('../common/service-creds.js');
  const { readUsersFile } = await import('../console/auth.js');
  const { startConsole, ConsoleConfigError } = await import('../console/server.js');
  // the approver: given, or the first agent with an approve: list whose credential is here
  let approverCreds: string | undefined;
  if (o.approvals) {
    if (o.approverCreds) approverCreds = o.approverCreds;
    else {
      const { defaultApprover } = await import('../devbus/dev.js');
      const name = o.approver ?? defaultApprover(manifestsDir, credsDir);
      if (name) approverCreds = join(credsDir, `${name}.creds.json`);
      if (o.approver && !existsSync(approverCreds!)) throw new CliError(`${approverCreds}: no credential file for --approver ${o.approver}`);
    }
  }
  // the audit store, found as `agentbus audit` finds it; none: live data only
  let store: import('../auditor/store.js').AuditStore | undefined;
  let storeNote = 'none (live data only)';
  if (o.history) {
    const { resolveStore } = await import('./audit.js');
    try {
      const where = resolveStore({ ...(o.store ? { store: o.store } : {}), ...(o.stateDir ? { stateDir: o.stateDir } : {}) });
      if (where.kind === 'live') {
        const { openLiveStore } = await import('../auditor/live-store.js');
        const { DEFAULT_DATABASE } = await import('../auditor/defaults.js');
        store = openLiveStore({ url: where.url, token: where.token, database: DEFAULT_DATABASE, holder: where.holder });
        storeNote = `the store of ${where.holder}`;
      } else {
        const { openMigratedStore } = await import('../auditor/service.js');
        const { storeConfigSchema } = await import('../auditor/config.js');
        store = await openMigratedStore(storeConfigSchema.parse({ url: where.url }));
        storeNote = where.url;
      }
    } catch (e) {
      if (o.store) throw new CliError((e as Error).message);
      storeNote = `none (${(e as Error).message.split('\n')[0]})`;
    }
  }
  let c: Awaited<ReturnType<typeof startConsole>>;
  try {
    c = await startConsole({
      servers: servers.split(','),
      observer: loadServiceCreds(credsPath),
      manifestsDir,
      ...(tlsCa ? { connectOptions: { tls: { caFile: tlsCa } } } : {}),
      ...(store ? { store } : {}),
      ...(approverCreds ? { approverCredsFile: approverCreds } : {}),
      host: o.host,
      port: o.port,
      ...(o.tlsCert && o.tlsKey ? { tls: { certFile: o.tlsCert, keyFile: o.tlsKey } } : {}),
      ...(o.users ? { users: readUsersFile(o.users, statSync(o.users).mode) } : {}),
      ...(o.allowOrigin?.length ? { allowedOrigins: o.allowOrigin } : {}),
      log: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
    });
  } catch (e) {
    await store?.close().catch(() => undefined);
    if (e instanceof ConsoleConfigError || (e as Error).name === 'TailError') throw new CliError((e as Error).message);
    throw e;
  }
  console.log(
    [
      `agentbus console: ${c.url}`,
      `  bus:       ${servers} (read as the observer)`,
      `  approvals: ${c.approver ? `signed as ${c.approver}` : o.approvals ? 'off (no agent with an approve: list and a credential here: --approver NAME)' : 'off (--no-approvals)'}`,
      `  history:   ${storeNote}`,
      `  login:     ${o.users ? `users of ${o.users}` : 'none (loopback only; decisions name the local user)'}`,
      'Ctrl-C to stop.',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await c.close();
  await store?.close().catch(() => undefined);
}
