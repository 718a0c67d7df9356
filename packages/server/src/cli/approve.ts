// `agentbus approve`: list held tool calls, approve or deny one.
import { Command, CommanderError, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CliError, int, projectLayout } from './shared.js';

export function register(program: Command): void {
  program
    .command('approve')
    .description('tool calls held for approval: list them (no msg_id), or approve one (--deny to deny it), signed as an agent whose manifest has approve:')
    .argument('[msg_id]', 'the held call to decide (32 hex); without it: list the held calls')
    .option('--deny', 'deny the call instead of approving it')
    .option('--sha256 <hex>', 'approve only if the arguments are the ones listed: their sha256 (or a prefix of it, at least 8 hex) as the list showed it')
    .option('--reason <text>', 'why (recorded in the audit trail; at most 500 characters)')
    .option('--as <agent>', "approve as this agent: its credential file in the project's credentials directory")
    .option('--creds <file>', "the approver's credential file (instead of --as)")
    .option('--manifests <dir>', "manifests directory (default: the project's, or .agentbus/dev/manifests)")
    .option('--nats <urls>', 'NATS server URL(s) (default: the running dev bus, else nats://127.0.0.1:4222)')
    .addOption(new Option('--wait-ms <n>', 'how long to listen for held calls (they are announced every second)').default(2500).argParser(int('--wait-ms')))
    .option('--json', 'print JSON')
    .action(
      async (
        msgId: string | undefined,
        o: { deny?: boolean; sha256?: string; reason?: string; as?: string; creds?: string; manifests?: string; nats?: string; waitMs: number; json?: boolean },
      ) => {
        if (o.sha256 !== undefined && !/^[0-9a-f]{8,64}$/.test(o.sha256))
          throw new CommanderError(2, 'agentbus.invalidArgument', `--sha256: 8 to 64 lower-case hex characters, got ${JSON.stringify(o.sha256)}`);
        if (msgId !== undefined && !/^[0-9a-f]{32}$/.test(msgId))
          throw new CommanderError(2, 'agentbus.invalidArgument', `msg_id must be 32 lower-case hex characters, got ${JSON.stringify(msgId)}`);
        if (!o.as === !o.creds) throw new CommanderError(2, 'agentbus.invalidArgument', 'give --as AGENT or --creds FILE (the approver)');
        if (msgId === undefined && (o.deny || o.reason || o.sha256))
          throw new CommanderError(2, 'agentbus.invalidArgument', '--deny, --reason and --sha256 go with a msg_id');
        if (o.reason && o.reason.length > 500) throw new CommanderError(2, 'agentbus.invalidArgument', '--reason: at most 500 characters');
        const l = projectLayout();
        const { runningBus } = await import('../common/bus-state.js');
        const bus = runningBus(l.stateDir);
        const opts = {
          servers: (o.nats ?? bus?.servers ?? 'nats://127.0.0.1:4222').split(','),
          credsFile: o.creds ?? join(l.credsDir, `${o.as}.creds.json`),
          manifestsDir: o.manifests ?? bus?.manifests_dir ?? l.manifestsDir,
          waitMs: o.waitMs,
          ...(bus?.tls_ca ? { connectOptions: { tls: { caFile: bus.tls_ca } } } : {}),
        };
        if (!existsSync(opts.credsFile)) throw new CliError(`${opts.credsFile}: no such credential file`);
        const { listPending, decideApproval, ApproveError, showArgs, unshowable } = await import('../ops/approve.js');
        try {
          if (msgId === undefined) {
            const held = await listPending(opts);
            if (o.json) console.log(JSON.stringify(held, null, 2));
            else if (!held.length) console.log('no tool calls are held for approval');
            else {
              // every argument in full, invisible characters escaped: what is approved is what is shown
              for (const n of held) {
                const why = unshowable(n);
                console.log(`${n.msg_id}  ${n.caller} → ${n.server}.${n.tool}  (held since ${n.held_at}, expires ${n.expires_at})`);
                console.log(why ? `  cannot be approved: ${why}` : `  arguments (sha256:${n.args_sha256}):\n${showArgs(n.args).replace(/^/gm, '    ')}`);
              }
            }
            return;
          }
          const r = await decideApproval({
            ...opts,
            msgId,
            approve: !o.deny,
            ...(o.reason ? { reason: o.reason } : {}),
            ...(o.sha256 ? { sha256: o.sha256 } : {}),
          });
          if (o.json)
            console.log(
              JSON.stringify({ msg_id: msgId, decision: o.deny ? 'denied' : 'approved', applied: r.result.delivered, approval_msg_id: r.result.msgId }),
            );
          else {
            console.log(
              `${o.deny ? 'denied' : 'approved'} ${msgId} (${r.notice.caller} → ${r.notice.server}.${r.notice.tool}); approval ${r.result.msgId}${r.result.delivered ? '' : ' — but it was not applied (no verifier held the call any more, or the arguments changed; see agentbus audit trail)'}`,
            );
            if (!o.deny) console.log(`  arguments approved (sha256:${r.notice.args_sha256}):\n${showArgs(r.notice.args).replace(/^/gm, '    ')}`);
          }
          if (!r.result.delivered) process.exitCode = 1;
        } catch (e) {
          if (e instanceof ApproveError || (e as Error).name === 'RejectedError') throw new CliError((e as Error).message);
          throw e;
        }
      },
    );
}
