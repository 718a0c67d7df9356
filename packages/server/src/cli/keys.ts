// `agentbus keys rotate|revoke|release`.
import { Command, CommanderError, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadServiceCreds } from '../common/service-creds.js';
import * as D from '@agentbus/protocol';
import { CliError, int, withLayoutDirs, projectLayout } from './shared.js';

export function register(program: Command): void {
  const keys = program.command('keys').description('rotate and revoke agent signing keys (live: no restart)');
  keys
    .command('rotate')
    .description("add a new signing key to the agent's credential file and manifest; old keys stay valid until revoked")
    .argument('<agent>', 'agent id')
    .option('--creds-dir <dir>', "credential files directory (default: the project's, or .agentbus/dev/creds)")
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .addOption(
      new Option('--grace-ms <n>', 'the new key is valid from now + this, so every verifier knows it first').default(5000).argParser(int('--grace-ms')),
    )
    .addOption(new Option('--old-valid-for-ms <n>', 'end the old keys this long after now (default: until revoked)').argParser(int('--old-valid-for-ms')))
    .action(async (agent: string, opts: { credsDir?: string; manifests?: string; graceMs: number; oldValidForMs?: number }) => {
      const o = { ...opts, ...withLayoutDirs(opts) };
      const { rotateKey } = await import('../ops/keys.js');
      const r = rotateKey({
        credsPath: join(o.credsDir, `${agent}.creds.json`),
        manifestsDir: o.manifests,
        graceMs: o.graceMs,
        ...(o.oldValidForMs !== undefined ? { oldNotAfter: new Date(Date.now() + o.oldValidForMs) } : {}),
      });
      console.log(
        `${agent}: new key ${r.keyId} valid from ${r.notBefore.toISOString()}; old keys ${r.oldKeys.join(', ')} still valid (revoke with: agentbus keys revoke ${agent} KEYID)`,
      );
    });
  keys
    .command('revoke')
    .description('revoke a key in the manifest (every verifier stops accepting it within a second)')
    .argument('<agent>', 'agent id')
    .argument('<keyid>', 'key id')
    .option('--creds-dir <dir>', 'also drop the key from this credential files directory')
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .action(async (agent: string, keyId: string, opts: { credsDir?: string; manifests?: string }) => {
      const o = { ...opts, manifests: opts.manifests ?? projectLayout().manifestsDir };
      const { revokeKey } = await import('../ops/keys.js');
      revokeKey({ agent, keyId, manifestsDir: o.manifests, ...(o.credsDir ? { credsPath: join(o.credsDir, `${agent}.creds.json`) } : {}) });
      console.log(`${agent}: key ${keyId} revoked`);
    });

  keys
    .command('release')
    .description("end an agent's quarantine at NATS now (a sender past its rejection budget is cut off at NATS for a cool-down; this lets it back in)")
    .argument('<agent>', 'agent id')
    .option(
      '--state-dir <dir>',
      "the dev bus's state directory: its verifier credential, and bus.json for the URL (default: the project's, else .agentbus/dev)",
    )
    .option('--creds <file>', "a verifier's service credential file (default <state-dir>/creds/verifier.creds.json)")
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (default: "servers" in <state-dir>/bus.json, else nats://127.0.0.1:4222)')
    .option('--tls-ca <file>', 'CA certificate to trust for a TLS nats-server')
    .action(async (agent: string, o: { stateDir?: string; creds?: string; nats?: string; tlsCa?: string }) => {
      if (!D.AGENT_ID_RE.test(agent)) throw new CommanderError(2, 'agentbus.invalidArgument', `not an agent id: ${JSON.stringify(agent)}`);
      const l = projectLayout(o.stateDir);
      const { runningBus } = await import('../common/bus-state.js');
      const bus = runningBus(l.stateDir);
      const credsFile = o.creds ?? join(l.stateDir, 'creds', 'verifier.creds.json');
      if (!existsSync(credsFile)) throw new CliError(`${credsFile}: no such credential file (give --creds, a verifier's service credential)`);
      const servers = (o.nats ?? bus?.servers ?? 'nats://127.0.0.1:4222').split(',');
      const ca = o.tlsCa ?? bus?.tls_ca;
      const { connect, nkeyAuthenticator } = await import('@nats-io/transport-node');
      const { releaseQuarantine } = await import('../common/quarantine.js');
      let nc: Awaited<ReturnType<typeof connect>>;
      try {
        nc = await connect({
          servers,
          authenticator: nkeyAuthenticator(loadServiceCreds(credsFile).natsSeed()),
          inboxPrefix: '_INBOX_verifier',
          ...(ca ? { tls: { caFile: ca } } : {}),
        });
      } catch (e) {
        throw new CliError(`cannot connect to ${servers.join(',')}: ${(e as Error).message}`);
      }
      try {
        const r = await releaseQuarantine(nc, agent, `cli:${process.env.USER ?? 'operator'}`);
        if (r.released)
          console.log(
            `${agent}: released (was quarantined until ${new Date(r.previousUntil!).toISOString()}); it may connect again once the nats-server configs are reloaded`,
          );
        else console.log(`${agent}: not quarantined${r.record ? ` (last quarantine ended ${new Date(r.record.until_ms).toISOString()})` : ''}`);
      } finally {
        await nc.close();
      }
    });
}
