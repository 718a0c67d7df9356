// `agentbus keygen`: an identity and its manifest.
import { Command, CommanderError } from 'commander';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateIdentity, saveCredentials } from '@agentbus/sdk/internal';
import { MEMORY_KV_CREDS, memoryManifest } from '../memory/manifest.js';
import { generateServiceCreds, writeServicePublicKey } from '../common/service-creds.js';
import * as D from '@agentbus/protocol';
import { CliError, withLayoutDirs } from './shared.js';

export function register(program: Command): void {
  program
    .command('keygen')
    .description('generate an agent identity: a credential file (mode 0600) and its manifest skeleton')
    .argument('<agent>', 'agent id, [a-z0-9][a-z0-9_-]{0,63}')
    .option('--creds-dir <dir>', "where to write <agent>.creds.json (default: the project's or the dev bus's, <state-dir>/creds — where `agentbus dev` looks)")
    .option('--manifests <dir>', "where to write <agent>.yaml, public parts only (default: the project's, or .agentbus/dev/manifests)")
    .option('--service', 'generate a service credential (verifier, auditor, observer or system) instead of an agent identity')
    .option('--force', 'overwrite existing files')
    .action((agent: string, opts: { credsDir?: string; manifests?: string; service?: boolean; force?: boolean }) => {
      const o = withLayoutDirs(opts);
      const credsPath = join(o.credsDir, `${agent}.creds.json`);
      const manifestPath = join(o.manifests, `${agent}.yaml`);
      // both files or neither: every check before the first write
      if (existsSync(credsPath) && !o.force) throw new CliError(`${credsPath} exists; use --force to overwrite`);
      if (!o.service && existsSync(manifestPath) && !o.force) throw new CliError(`${manifestPath} exists; use --force to overwrite`);
      mkdirSync(o.credsDir, { recursive: true, mode: 0o700 });
      if (o.service) {
        const s = generateServiceCreds(agent, credsPath);
        // the observer signs nothing: its key must not join the keys `audit verify` trusts
        if (agent === 'observer')
          return void console.log(`wrote ${credsPath} (nats user ${s.natsPublicKey}; keep it secret, mode 0600); give it to nats-config --observer-creds`);
        // nor does the system-account user (the auditor's connection follower)
        if (agent === 'system')
          return void console.log(
            `wrote ${credsPath} (nats user ${s.natsPublicKey}; keep it secret, mode 0600); give it to nats-config --system-creds and auditor --system-creds`,
          );
        // its audit public key, where `audit verify --manifests DIR` finds it (DIR/services/)
        const pubPath = join(o.manifests, 'services', `${agent}.json`);
        writeServicePublicKey(s, pubPath);
        console.log(`wrote ${credsPath} (nats user ${s.natsPublicKey}; keep it secret, mode 0600) and ${pubPath} (its audit public key)`);
        return;
      }
      let id: ReturnType<typeof generateIdentity>;
      try {
        id = generateIdentity(agent);
      } catch (e) {
        throw new CommanderError(2, 'agentbus.invalidArgument', (e as Error).message);
      }
      if (agent === D.MEMORY_SERVICE) {
        // the memory service: its agent identity, the manifest it needs (it answers anyone), and its KV-only NATS user
        const kvPath = join(o.credsDir, MEMORY_KV_CREDS);
        if (existsSync(kvPath) && !o.force) throw new CliError(`${kvPath} exists; use --force to overwrite`);
        saveCredentials(id, credsPath);
        mkdirSync(o.manifests, { recursive: true });
        writeFileSync(manifestPath, stringify(memoryManifest(id)));
        generateServiceCreds('memory', kvPath);
        console.log(
          `wrote ${credsPath} and ${kvPath} (keep both secret, mode 0600; the second is its JetStream KV user: give it to nats-config --memory-creds) and ${manifestPath}`,
        );
        id.destroy();
        return;
      }
      saveCredentials(id, credsPath);
      mkdirSync(o.manifests, { recursive: true });
      const pub = id.publicManifest();
      writeFileSync(
        manifestPath,
        stringify({
          agent,
          nats_user: pub.nats_user,
          keys: pub.keys,
          send: [],
          rate: { per_second: D.DEFAULT_RATE_PER_SECOND, burst: D.DEFAULT_BURST },
          max_payload_bytes: D.DEFAULT_MAX_PAYLOAD_BYTES,
          max_depth: D.DEFAULT_MAX_DEPTH,
        }),
      );
      console.log(`wrote ${credsPath} (keep it secret, mode 0600) and ${manifestPath} (edit its send rules)`);
      id.destroy();
    });
}
