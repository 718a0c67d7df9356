// `agentbus approve`: a person (or an agent) whose manifest says `approve: [servers]` lists the
// tool calls held for approval and approves or denies one, with a signed approval.decision whose
// causation is the call (docs/design.md §11; PROTOCOL.md §15.3).
import { connectAgent, ContractRegistry } from '@agentbus/sdk/internal';
import type { AgentClient, InboundMessage, SendResult } from '@agentbus/sdk/internal';
import { loadManifestDir, SUBJECT_APPROVAL_PENDING_PREFIX, APPROVAL_TYPE } from '@agentbus/protocol';
import type { PendingApproval } from '@agentbus/protocol';
import { ApprovalContract } from './tool-contracts.js';

export class ApproveError extends Error {
  override name = 'ApproveError';
}

export interface ApproveOptions {
  servers: string | string[];
  credsFile: string;
  manifestsDir: string;
  connectOptions?: Record<string, unknown>;
  /** How long to collect pending notices (they repeat every second). */
  waitMs?: number;
}

async function connect(o: ApproveOptions): Promise<{ client: AgentClient; subjects: string[] }> {
  let client: AgentClient;
  try {
    client = await connectAgent({ servers: o.servers, credentials: o.credsFile, manifestsDir: o.manifestsDir, contracts: new ContractRegistry([ApprovalContract]), ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}) });
  } catch (e) {
    throw new ApproveError(`cannot connect to ${String(o.servers)}: ${(e as Error).message}`);
  }
  const me = loadManifestDir(o.manifestsDir).find((m) => m.agent === client.agentId);
  const globs = me?.approve ?? [];
  if (globs.length === 0) {
    await client.close();
    throw new ApproveError(`${client.agentId} may not approve tool calls: its manifest has no approve: list`);
  }
  const subjects = globs.some((g) => g.includes('*')) ? [`${SUBJECT_APPROVAL_PENDING_PREFIX}*`] : globs.map((g) => `${SUBJECT_APPROVAL_PENDING_PREFIX}${g}`);
  return { client, subjects };
}

/** Collect the pending notices for `waitMs`; stop early when `until` says so. */
async function collect(client: AgentClient, subjects: string[], waitMs: number, until?: (n: PendingApproval) => boolean): Promise<Map<string, PendingApproval>> {
  const seen = new Map<string, PendingApproval>();
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const subs = subjects.map((s) =>
    client.nc.subscribe(s, {
      callback: (err, m) => {
        if (err) return done();
        try {
          const n = JSON.parse(new TextDecoder().decode(m.data)) as PendingApproval;
          seen.set(n.msg_id, n);
          if (until?.(n)) done();
        } catch {
          /* not a notice */
        }
      },
    }),
  );
  const t = setTimeout(done, waitMs);
  await finished;
  clearTimeout(t);
  for (const s of subs) s.unsubscribe();
  return seen;
}

export async function listPending(o: ApproveOptions): Promise<PendingApproval[]> {
  const { client, subjects } = await connect(o);
  try {
    const seen = await collect(client, subjects, o.waitMs ?? 2500);
    return [...seen.values()].sort((a, b) => a.held_at.localeCompare(b.held_at));
  } finally {
    await client.close();
  }
}

export async function decideApproval(o: ApproveOptions & { msgId: string; approve: boolean; reason?: string }): Promise<{ notice: PendingApproval; result: SendResult }> {
  const { client, subjects } = await connect(o);
  try {
    const seen = await collect(client, subjects, o.waitMs ?? 3000, (n) => n.msg_id === o.msgId);
    const notice = seen.get(o.msgId);
    if (!notice) throw new ApproveError(`no call ${o.msgId} is held for approval (decided, expired, or never held); agentbus approve lists the held ones`);
    const token = notice.tokens[client.agentId];
    if (!token) throw new ApproveError(`the notice of ${o.msgId} carries no token for ${client.agentId}: may it approve calls of ${notice.server}?`);
    // causation = the call, proven by the depth token the verifier minted for this approver
    const causation = { msgId: o.msgId, depthToken: token, depth: notice.depth, traceparent: '' } as unknown as InboundMessage;
    const result = await client.send(notice.server, APPROVAL_TYPE, { msg_id: o.msgId, approve: o.approve, ...(o.reason ? { reason: o.reason } : {}) }, { causation });
    return { notice, result };
  } finally {
    await client.close();
  }
}
