// `agentbus approve`: a person (or an agent) whose manifest says `approve: [servers]` lists the
// tool calls held for approval and approves or denies one, with a signed approval.decision whose
// causation is the call (docs/design.md §11; PROTOCOL.md §15.3). What it shares with the console
// (connecting, hearing notices, showing arguments, sending the decision) is in approver.ts.
import type { SendResult } from '@agentbus/sdk/internal';
import type { PendingApproval } from '@agentbus/protocol';
import { ApproveError, connectApprover, sendDecision, unshowable, watchPending } from './approver.js';
import type { Approver, ApproverConnectOptions } from './approver.js';

export { ApproveError, showArgs, unshowable } from './approver.js';

export interface ApproveOptions extends ApproverConnectOptions {
  /** How long to collect pending notices (they repeat every second). */
  waitMs?: number;
}

/** Collect the pending notices for `waitMs`; stop early when `until` says so. */
async function collect(a: Approver, waitMs: number, until?: (n: PendingApproval) => boolean): Promise<Map<string, PendingApproval>> {
  const seen = new Map<string, PendingApproval>();
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const subs = watchPending(
    a,
    (n) => {
      seen.set(n.msg_id, n);
      if (until?.(n)) done();
    },
    () => done(),
  );
  const t = setTimeout(done, waitMs);
  await finished;
  clearTimeout(t);
  for (const s of subs) s.unsubscribe();
  return seen;
}

export async function listPending(o: ApproveOptions): Promise<PendingApproval[]> {
  const a = await connectApprover(o);
  try {
    const seen = await collect(a, o.waitMs ?? 2500);
    return [...seen.values()].sort((x, y) => x.held_at.localeCompare(y.held_at));
  } finally {
    await a.client.close();
  }
}

export async function decideApproval(
  o: ApproveOptions & { msgId: string; approve: boolean; reason?: string; sha256?: string },
): Promise<{ notice: PendingApproval; result: SendResult }> {
  const a = await connectApprover(o);
  try {
    const seen = await collect(a, o.waitMs ?? 3000, (n) => n.msg_id === o.msgId);
    const notice = seen.get(o.msgId);
    if (!notice) throw new ApproveError(`no call ${o.msgId} is held for approval (decided, expired, or never held); agentbus approve lists the held ones`);
    if (o.approve && o.sha256 !== undefined && !unshowable(notice) && !notice.args_sha256.startsWith(o.sha256))
      throw new ApproveError(`refusing to approve ${o.msgId}: its arguments are sha256:${notice.args_sha256}, not the sha256:${o.sha256}… you were shown`);
    // approving signs the digest of exactly the arguments shown (the verifier delivers only on a match)
    const result = await sendDecision(a, notice, {
      approve: o.approve,
      ...(o.reason ? { reason: o.reason } : {}),
      ...(o.approve ? { argsSha256: notice.args_sha256 } : {}),
    });
    return { notice, result };
  } finally {
    await a.client.close();
  }
}
