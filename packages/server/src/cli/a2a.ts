// `agentbus a2a init|token|pin|serve` (docs/design.md §17, docs/a2a.md).
import { Option } from 'commander';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { CliError, int, projectLayout, busEndpoint, agentName, loadContracts } from './shared.js';

const DEFAULT_CONFIG = 'a2a.yaml';

/** The gateway config: --config, else the project's ("a2a" in agentbus.json), else ./a2a.yaml. */
function configPath(given: string | undefined, stateDir?: string): string {
  if (given) return resolve(given);
  const l = projectLayout(stateDir);
  return l.a2aConfig ?? resolve(l.root, DEFAULT_CONFIG);
}

export function register(program: Command): void {
  const a2a = program
    .command('a2a')
    .description('the A2A gateway: expose bus agents to A2A clients (signed Agent Cards, external principals) and call pinned external A2A agents');
  const errors = async <T>(f: () => Promise<T> | T): Promise<T> => {
    const { A2aConfigError } = await import('../a2a/config.js');
    const { A2aGatewayError } = await import('../a2a/serve.js');
    const { A2aPinError } = await import('../a2a/pin.js');
    const { CardKeyError } = await import('../a2a/card.js');
    try {
      return await f();
    } catch (e) {
      if (e instanceof A2aConfigError || e instanceof A2aGatewayError || e instanceof A2aPinError || e instanceof CardKeyError) throw new CliError(e.message);
      throw e;
    }
  };

  a2a
    .command('init')
    .description("make the gateway's identity, card signing key, manifest (a2a.gateway) and config file — each only if missing")
    .option('--config <file>', `the gateway config to write (default: the project's "a2a", else ./${DEFAULT_CONFIG})`)
    .option('--agent <name>', 'the gateway agent', agentName, 'a2a')
    .option('--port <n>', 'the port it listens on (loopback)', int('--port'), 8700)
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .action(async (o: { config?: string; agent: string; port: number; manifests?: string }) => {
      const { prepareA2a } = await import('../a2a/dev.js');
      const l = projectLayout();
      const r = await errors(() =>
        prepareA2a({
          manifestsDir: o.manifests ? resolve(o.manifests) : l.manifestsDir,
          credsDir: l.credsDir,
          configFile: configPath(o.config),
          agent: o.agent,
          port: o.port,
        }),
      );
      console.log(
        r.created.length
          ? `gateway ${r.agent}: made ${r.created.join(', ')}`
          : `gateway ${r.agent}: everything exists already (${r.configFile}, ${r.manifestFile})`,
      );
      console.log(
        `next: a principal (agentbus keygen NAME, a2a: { principal: { gateway: ${r.agent} } } in its manifest), then agentbus a2a token --principal NAME`,
      );
    });

  a2a
    .command('token')
    .description('a new bearer token for an external principal: its SHA-256 goes into the config, the token is printed once and stored nowhere')
    .requiredOption('--principal <name>', 'the principal (an agent whose manifest has a2a.principal.gateway)', agentName)
    .option('--config <file>', `the gateway config (default: the project's "a2a", else ./${DEFAULT_CONFIG})`)
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .action(async (o: { principal: string; config?: string; manifests?: string }) => {
      const { addToken } = await import('../a2a/dev.js');
      const l = projectLayout();
      const file = configPath(o.config);
      const t = await errors(() =>
        addToken({ configFile: file, principal: o.principal, manifestsDir: o.manifests ? resolve(o.manifests) : l.manifestsDir, credsDir: l.credsDir }),
      );
      console.error(`${o.principal}: token added to ${file} (sha256 ${t.sha256}); restart the gateway to use it. The token (shown once):`);
      console.log(t.token);
    });

  a2a
    .command('pin')
    .description("fetch a remote Agent Card, verify its signature (its jku's key, same origin, or --key) and pin it in the gateway's manifest")
    .argument('<url>', "the remote agent's base URL (its card is <url>/.well-known/agent-card.json)")
    .option('--key <file>', 'the public key the card must verify against (a JWK or JWK Set), instead of its jku')
    .option('--gateway <name>', 'the gateway agent whose manifest holds the pins', agentName, 'a2a')
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .action(async (url: string, o: { key?: string; gateway: string; manifests?: string }) => {
      const { pinCard, pinSummary } = await import('../a2a/pin.js');
      const manifestsDir = o.manifests ? resolve(o.manifests) : projectLayout().manifestsDir;
      const r = await errors(() => pinCard({ url, manifestsDir, gateway: o.gateway, ...(o.key ? { keyFile: o.key } : {}) }));
      console.log(pinSummary(r));
    });

  a2a
    .command('serve')
    .description('run the gateway: signed Agent Cards and A2A endpoints for exposed agents, the send_message tool for outbound calls (Ctrl-C stops)')
    .option('--config <file>', `the gateway config (default: the project's "a2a", else ./${DEFAULT_CONFIG})`)
    .addOption(new Option('--port <n>', "listen on this port instead of the config's (0: any free one)").argParser(int('--port')))
    .option('--contracts <module>', "contracts module (the skills' types; default: the project's)")
    .option('--manifests <dir>', "manifests directory (default: the running dev bus's, the project's, or .agentbus/dev/manifests)")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--state-dir <dir>', "the dev bus's state directory (bus.json; default: the project's, else .agentbus/dev)")
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server')
    .action(async (o: { config?: string; port?: number; contracts?: string; manifests?: string; nats?: string; stateDir?: string; tlsCa?: string }) => {
      const { startA2aFromConfig } = await import('../a2a/dev.js');
      const { ContractRegistry } = await import('@agentbus/sdk/internal');
      const l = projectLayout(o.stateDir);
      const where = await busEndpoint(o);
      const contractsFile = o.contracts ?? l.contracts;
      const contracts = contractsFile ? await loadContracts(contractsFile) : new ContractRegistry();
      const gw = await errors(async () => {
        try {
          return await startA2aFromConfig({
            configFile: configPath(o.config, o.stateDir),
            manifestsDir: where.manifestsDir,
            credsDir: l.credsDir,
            servers: where.servers,
            contracts,
            ...(where.connectOptions ? { connectOptions: where.connectOptions } : {}),
            ...(o.port !== undefined ? { port: o.port } : {}),
          });
        } catch (e) {
          if (e instanceof Error && /ECONNREFUSED|CONNECTION_REFUSED|timeout/i.test(e.message))
            throw new CliError(`cannot reach the bus at ${where.servers.join(',')}: is it running (agentbus dev)? (${e.message})`);
          throw e;
        }
      });
      console.error(`${gw.agent}: A2A gateway on ${gw.baseUrl} (cards at ${gw.baseUrl}/agents/<agent>/.well-known/agent-card.json); Ctrl-C stops`);
      await new Promise<void>((res) => {
        const stop = () => void gw.stop().then(res);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
