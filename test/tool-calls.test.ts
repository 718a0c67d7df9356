// Tool calls through a real nats-server and verifier (docs/design.md §11): the tools: policy with its
// constraints, and the approval hold — granted, denied, timed out — with the approval and the
// decision in the audit trail, linked to the call. The tool server here is a bus agent that
// answers tool.result (the MCP wrapper around a real MCP server: test/mcp.test.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { Delivery, Reason, reasonName, Verdict } from '../packages/protocol/src/proto.js';
import type { IAuditEvent, IDeliveryRecord } from '../packages/protocol/src/proto.js';
import { toHex } from '../packages/protocol/src/envelope.js';
import { SUBJECT_APPROVAL_PENDING_PREFIX } from '../packages/protocol/src/tools/definition.js';
import type { PendingApproval } from '../packages/protocol/src/tools/definition.js';
import { parseEnvelope } from '../packages/protocol/src/envelope.js';
import { RejectedError } from '../packages/sdk/src/errors.js';
import { ContractRegistry } from '../packages/sdk/src/contracts.js';
import type { InboundMessage } from '../packages/sdk/src/client.js';
import { ApprovalContract, ToolResultContract, toolContracts } from '../packages/server/src/common/tool-contracts.js';
import { Policy, loadManifestDir } from '../packages/protocol/src/manifest.js';
import { startBus, waitFor, sleep } from './helpers/bus.js';
import type { TestBus } from './helpers/bus.js';
import { headerOf } from './helpers/audit-rows.js';
import { cliArgs } from './helpers/cli-bin.js';

const schema = { type: 'object', properties: { path: { type: 'string' } }, required: ['path'], additionalProperties: false };
let bus: TestBus;
let registry: ContractRegistry;

test.before(async () => {
  bus = await startBus({
    verifierOptions: { approvalTimeoutMs: 12_000 },
    agents: {
      alice: {
        send: [],
        tools: [
          { server: 'fs', tools: ['read_file'], args: { path: { path: { roots: ['/srv/project'] } } } },
          { server: 'fs', tools: ['delete_file'], args: { path: { path: { roots: ['/srv/project'] } } }, approval: 'required' },
        ],
      },
      fs: {
        send: [{ to: '*', types: ['tool.result'] }],
        mcp: { tools: ['read_file', 'delete_file'].map((name) => ({ name, input_schema: schema, sha256: '0'.repeat(64) })) },
      },
      boss: { send: [], approve: ['fs'] },
      mallory: { send: [] },
    },
  });
  // the SDK clients seal tool calls and approvals with the contracts the verifier derives
  const tc = toolContracts(new Policy(loadManifestDir(bus.manifestsDir)));
  registry = new ContractRegistry([tc.get('tool.fs.read_file')!, tc.get('tool.fs.delete_file')!, ToolResultContract, ApprovalContract]);
});
test.after(async () => bus?.stop());

/** Every audit event and delivery record in the stream so far. */
async function trail(): Promise<{ events: IAuditEvent[]; deliveries: IDeliveryRecord[] }> {
  const batches = await bus.auditBatches();
  return { events: batches.flatMap((b) => b.events), deliveries: batches.flatMap((b) => b.deliveries) };
}
/** The fs tool server: answers every call with a tool.result naming the tool and path. */
async function startFs(): Promise<{ calls: string[]; stop(): Promise<void> }> {
  const fs = await bus.agent('fs', { contracts: registry });
  const calls: string[] = [];
  void (async () => {
    for await (const m of fs.inbox()) {
      calls.push(`${m.type} ${(m.payload as { path: string }).path}`);
      await fs.reply(m, 'tool.result', { content: [{ type: 'text', text: `did ${m.type} on ${(m.payload as { path: string }).path}` }] });
    }
  })();
  return { calls, stop: () => fs.close() };
}

/** boss, a person at `agentbus approve`: waits for the pending notice of this call, decides. */
async function decide(msgId: string, approve: boolean, as = 'boss'): Promise<{ ack: unknown; notice: PendingApproval }> {
  const raw = await bus.rawAgent(as);
  const notice = await new Promise<PendingApproval>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no pending notice')), 5000);
    raw.subscribe(`${SUBJECT_APPROVAL_PENDING_PREFIX}fs`, {
      callback: (_e, m) => {
        const n = JSON.parse(new TextDecoder().decode(m.data)) as PendingApproval;
        if (n.msg_id === msgId) {
          clearTimeout(t);
          resolve(n);
        }
      },
    });
  });
  await raw.close();
  const approver = await bus.agent(as, { contracts: registry });
  const causation = { msgId, depthToken: notice.tokens[as] ?? '', depth: notice.depth, traceparent: '' } as unknown as InboundMessage;
  const ack = await approver
    .send('fs', 'approval.decision', { msg_id: msgId, approve, ...(approve ? { args_sha256: notice.args_sha256 } : { reason: 'not today' }) }, { causation })
    .catch((e: unknown) => e);
  await approver.close();
  return { ack, notice };
}

test('tool calls - an allowed call is delivered to its server and answered; refused ones name their reason', async () => {
  const fs = await startFs();
  const alice = await bus.agent('alice', { contracts: registry });
  const answer = await alice.request('fs', 'tool.fs.read_file', { path: '/srv/project/notes.txt' }, { timeoutMs: 3000 });
  assert.is(answer.type, 'tool.result');
  assert.match(JSON.stringify(answer.payload), /did tool\.fs\.read_file on \/srv\/project\/notes\.txt/);
  const e = await alice.send('fs', 'tool.fs.read_file', { path: '/etc/passwd' }).catch((x: unknown) => x);
  assert.instance(e, RejectedError);
  assert.is((e as RejectedError).reasonName, 'argument_refused');
  assert.match((e as RejectedError).detail, /args\.path/);
  assert.equal(fs.calls, ['tool.fs.read_file /srv/project/notes.txt'], 'a refused call reached the tool server');
  await alice.close();
  await fs.stop();
});

test('tool calls - approval required: held (the server sees nothing) until the approver approves; the approval is audited with causation = the call', async () => {
  const fs = await startFs();
  const alice = await bus.agent('alice', { contracts: registry });
  const started = Date.now();
  let msgId = '';
  const call = alice.request('fs', 'tool.fs.delete_file', { path: '/srv/project/old.txt' }, { timeoutMs: 8000 });
  // find the held call's msg_id in the audit trail
  await waitFor(
    async () => {
      const ev = (await trail()).events.find(
        (x) => x.detail === 'held for approval' && headerOf(x)?.type === 'tool.fs.delete_file' && Number(x.verifiedAtMs) >= started - 1000,
      );
      if (ev) msgId = toHex(headerOf(ev)!.msgId);
      return !!ev;
    },
    5000,
    'the held call in the audit trail',
  );
  await sleep(300);
  assert.equal(fs.calls, [], 'a held call reached the tool server before approval');
  const { ack, notice } = await decide(msgId, true);
  assert.not.instance(ack, Error, String(ack));
  assert.is((ack as { delivered: boolean }).delivered, true, 'the approver was not told its approval reached the held call');
  assert.is(notice.caller, 'alice');
  assert.is(notice.tool, 'delete_file');
  assert.match(notice.args, /old\.txt/);
  const answer = await call;
  assert.match(JSON.stringify(answer.payload), /did tool\.fs\.delete_file on \/srv\/project\/old\.txt/);
  assert.equal(fs.calls, ['tool.fs.delete_file /srv/project/old.txt']);
  const t = await trail();
  const approved = t.deliveries.find((d) => toHex(d.msgId!) === msgId && d.delivery === Delivery.DELIVERY_APPROVED);
  assert.ok(approved, 'no APPROVED decision record for the call');
  assert.match(approved!.detail ?? '', /approved by boss \(approval [0-9a-f]{32}\)/);
  const approval = t.events.find((x) => headerOf(x)?.type === 'approval.decision' && toHex(headerOf(x)!.causationId) === msgId);
  assert.ok(approval, 'the approval is not in the audit trail linked to the call');
  assert.is(approval!.verdict, Verdict.VERDICT_ACCEPTED);
  await alice.close();
  await fs.stop();
});

test('tool calls - approval denied, and timed out: refused with their reasons, recorded, never delivered', async () => {
  const fs = await startFs();
  const alice = await bus.agent('alice', { contracts: registry });
  const started = Date.now();
  const denied = alice.send('fs', 'tool.fs.delete_file', { path: '/srv/project/a.txt' }).catch((x: unknown) => x);
  let msgId = '';
  await waitFor(
    async () => {
      const ev = (await trail()).events.find(
        (x) => x.detail === 'held for approval' && (headerOf(x)?.payloadSha256 ?? []).length && Number(x.verifiedAtMs) >= started - 50,
      );
      if (ev) msgId = toHex(headerOf(ev)!.msgId);
      return !!ev;
    },
    5000,
    'the held call',
  );
  await decide(msgId, false);
  const e = await denied;
  assert.instance(e, RejectedError, String(e));
  assert.is((e as RejectedError).reasonName, 'approval_denied');
  assert.match((e as RejectedError).detail, /denied by boss .*: not today/);
  // nobody decides: approval_timeout after the verifier's 12 s
  const t0 = Date.now();
  const late = await alice.send('fs', 'tool.fs.delete_file', { path: '/srv/project/b.txt' }).catch((x: unknown) => x);
  assert.instance(late, RejectedError, String(late));
  assert.is((late as RejectedError).reasonName, 'approval_timeout');
  assert.ok(Date.now() - t0 >= 11_900, 'refused before the hold timed out');
  await sleep(200);
  assert.equal(fs.calls, [], 'a call that was not approved reached the tool server');
  const recs = (await trail()).deliveries.filter((d) => d.delivery === Delivery.DELIVERY_DENIED);
  assert.ok(recs.some((d) => toHex(d.msgId!) === msgId && d.reason === Reason.REASON_APPROVAL_DENIED));
  assert.ok(recs.some((d) => d.reason === Reason.REASON_APPROVAL_TIMEOUT));
  await alice.close();
  await fs.stop();
});

test('tool calls - agentbus approve: lists the held call, approves it; the caller gets its result', async () => {
  const fs = await startFs();
  const alice = await bus.agent('alice', { contracts: registry });
  const call = alice.request('fs', 'tool.fs.delete_file', { path: '/srv/project/by-cli.txt' }, { timeoutMs: 20_000 }).catch((e: unknown) => e);
  const args = cliArgs('approve', '--creds', bus.credsPath('boss'), '--manifests', bus.manifestsDir, '--nats', bus.url);
  const run = (extra: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn(process.execPath, [...args, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (code) => resolve({ code, out, err }));
    });
  const list = await run(['--json', '--wait-ms', '1200']);
  assert.is(list.code, 0, list.err);
  const held = (JSON.parse(list.out) as PendingApproval[]).find((n) => n.args.includes('by-cli.txt'));
  assert.ok(held, list.out);
  const ok = await run([held!.msg_id]);
  assert.is(ok.code, 0, ok.err);
  assert.match(ok.out, new RegExp(`^approved ${held!.msg_id} \\(alice → fs\\.delete_file\\)`));
  const answer = await call;
  assert.not.instance(answer, Error, String(answer));
  assert.match(JSON.stringify((answer as InboundMessage).payload), /by-cli\.txt/);
  // deciding it again: no call held any more, exit 1 with one line
  const again = await run([held!.msg_id, '--wait-ms', '1500']);
  assert.is(again.code, 1);
  assert.match(again.err, /no call [0-9a-f]{32} is held for approval/);
  await alice.close();
  await fs.stop();
});

test('tool calls - an agent without approve: for the server can neither approve nor see the held calls', async () => {
  const mallory = await bus.agent('mallory', { contracts: registry });
  const e = await mallory.send('fs', 'approval.decision', { msg_id: '0'.repeat(32), approve: true, args_sha256: '0'.repeat(64) }).catch((x: unknown) => x);
  assert.instance(e, RejectedError);
  assert.is((e as RejectedError).reasonName, reasonName(Reason.REASON_DESTINATION_NOT_ALLOWED));
  assert.match((e as RejectedError).detail, /mallory may not approve calls of fs/);
  await mallory.close();
  const raw = await bus.rawAgent('mallory');
  const errs: string[] = [];
  const sub = raw.subscribe(`${SUBJECT_APPROVAL_PENDING_PREFIX}fs`, {
    callback: (err) => {
      if (err) errs.push(String(err));
    },
  });
  await raw.flush().catch(() => undefined);
  await sleep(300);
  const closed = await Promise.race([
    sub.closed.then(
      (x) => String(x ?? 'closed'),
      (x: unknown) => String(x),
    ),
    sleep(500).then(() => ''),
  ]);
  assert.match(errs.join(' ') + closed, /[Pp]ermission/);
  await raw.close();
  void parseEnvelope;
});

test.run();
