// `agentbus mcp pin|serve|proxy`.
import { Command, CommanderError, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, int, withLayoutDirs, projectLayout, busEndpoint, agentName } from './shared.js';

/**
 * `agentbus mcp pin|serve|proxy` (docs/design.md §11). The MCP server's command line comes last, after
 * `--` (or after the first word that is not one of our options): options after it are its own.
 */
export function register(program: Command): void {
  // options after a subcommand belong to it (so `--version` after the server command is the server's)
  program.enablePositionalOptions();
  const mcp = program
    .command('mcp')
    .description("tool servers on the bus (MCP): pin a server's tools, serve them as an agent, use them from any MCP client")
    .enablePositionalOptions();
  const toolErrors = async <T>(f: () => Promise<T>): Promise<T> => {
    const { PinError } = await import('../mcp/pin.js');
    const { ToolServerError } = await import('../mcp/serve.js');
    const { McpStartError } = await import('../mcp/definitions.js');
    try {
      return await f();
    } catch (e) {
      if (e instanceof PinError || e instanceof ToolServerError || e instanceof McpStartError) throw new CliError(e.message);
      throw e;
    }
  };
  const timeoutOption = () => new Option('--call-timeout-ms <n>', 'how long one tool call may take').argParser(int('--call-timeout-ms'));

  mcp
    .command('pin')
    .description(
      "start an MCP server, list its tools and pin them (name, description, input schema, sha256) in the agent's manifest, with the send rule its replies need",
    )
    .requiredOption('--agent <name>', 'the tool server agent (its manifest must exist: agentbus keygen NAME)', agentName)
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .argument('<command...>', 'the MCP server command line (stdio), after --')
    .passThroughOptions()
    .action(async (command: string[], opts: { agent: string; manifests?: string }) => {
      const { pinServer, pinSummary } = await import('../mcp/pin.js');
      const manifestsDir = opts.manifests ?? projectLayout().manifestsDir;
      const r = await toolErrors(() => pinServer({ agent: opts.agent, manifestsDir, command }));
      console.log(pinSummary(opts.agent, r));
    });

  mcp
    .command('serve')
    .description(
      'run an MCP server as a bus agent: refuses tools that differ from the pinned ones; answers each tool.<agent>.<tool> call with a tool.result reply (Ctrl-C stops)',
    )
    .requiredOption('--agent <name>', 'the tool server agent', agentName)
    .option('--creds <file>', "its credential file (default: <creds-dir>/<agent>.creds.json, the project's or .agentbus/dev/creds)")
    .option(
      '--manifests <dir>',
      "manifests directory: the agent's pinned tools and its callers' path roots (default: the running dev bus's, the project's, or .agentbus/dev/manifests)",
    )
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--state-dir <dir>', "the dev bus's state directory (bus.json; default: the project's, else .agentbus/dev)")
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server')
    .addOption(timeoutOption().default(60_000))
    .argument('<command...>', 'the MCP server command line (stdio), after --')
    .passThroughOptions()
    .action(
      async (
        command: string[],
        opts: { agent: string; creds?: string; manifests?: string; nats?: string; stateDir?: string; tlsCa?: string; callTimeoutMs: number },
      ) => {
        const { startToolServer } = await import('../mcp/serve.js');
        const where = await busEndpoint(opts);
        const creds = opts.creds ?? join(withLayoutDirs({ manifests: where.manifestsDir }).credsDir, `${opts.agent}.creds.json`);
        if (!existsSync(creds)) throw new CliError(`no credential file ${creds} (agentbus keygen ${opts.agent}, or --creds FILE)`);
        const s = await toolErrors(async () => {
          try {
            return await startToolServer({
              agent: opts.agent,
              credentials: creds,
              manifestsDir: where.manifestsDir,
              servers: where.servers,
              command,
              callTimeoutMs: opts.callTimeoutMs,
              ...(where.connectOptions ? { connectOptions: where.connectOptions } : {}),
            });
          } catch (e) {
            if (e instanceof Error && /ECONNREFUSED|CONNECTION_REFUSED|timeout/i.test(e.message))
              throw new CliError(`cannot reach the bus at ${where.servers.join(',')}: is it running (agentbus dev)? (${e.message})`);
            throw e;
          }
        });
        console.error(
          `${opts.agent}: serving ${s.tools.length} tool(s) of \`${command.join(' ')}\` on ${where.servers.join(',')} (${s.tools.join(', ')}); Ctrl-C stops`,
        );
        const stop = () => void s.stop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const why = await s.done;
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
        if (why !== 'stopped') throw new CliError(why);
      },
    );

  mcp
    .command('proxy')
    .description(
      "a local stdio MCP server exposing a tool server's pinned tools; calls go through the bus signed as the credential file's agent (point any MCP client at this command)",
    )
    .requiredOption('--server <name>', 'the tool server (agent) whose tools to expose', agentName)
    .option('--creds <file>', "the calling agent's credential file")
    .option('--agent <name>', 'or: the calling agent, whose credential file is <creds-dir>/<agent>.creds.json', agentName)
    .option('--manifests <dir>', "manifests directory (default: the running dev bus's, the project's, or .agentbus/dev/manifests)")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--state-dir <dir>', "the dev bus's state directory (bus.json; default: the project's, else .agentbus/dev)")
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server')
    .addOption(timeoutOption().default(30_000))
    .action(
      async (opts: {
        server: string;
        creds?: string;
        agent?: string;
        manifests?: string;
        nats?: string;
        stateDir?: string;
        tlsCa?: string;
        callTimeoutMs: number;
      }) => {
        if (!opts.creds === !opts.agent)
          throw new CommanderError(2, 'agentbus.invalidArgument', 'give the calling agent: --creds FILE or --agent NAME (one of them)');
        const { startProxy } = await import('../mcp/proxy.js');
        const where = await busEndpoint(opts);
        const creds = opts.creds ?? join(withLayoutDirs({ manifests: where.manifestsDir }).credsDir, `${opts.agent}.creds.json`);
        if (!existsSync(creds)) throw new CliError(`no credential file ${creds}`);
        let p: Awaited<ReturnType<typeof startProxy>>;
        try {
          p = await startProxy({
            credentials: creds,
            server: opts.server,
            manifestsDir: where.manifestsDir,
            servers: where.servers,
            callTimeoutMs: opts.callTimeoutMs,
            ...(where.connectOptions ? { connectOptions: where.connectOptions } : {}),
          });
        } catch (e) {
          if ((e as Error).name === 'CredentialError') throw e;
          throw new CliError(`cannot start the proxy for ${opts.server}: ${(e as Error).message}`);
        }
        const stop = () => void p.stop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await p.done;
      },
    );
}
