// `agentbus approve`: a person (or an agent) whose manifest says `approve: [servers]` lists the
// tool calls held for approval and approves or denies one, with a signed approval.decision whose
// causation is the call (docs/design.md §11; PROTOCOL.md §15.3).
import { connectAgent, ContractRegistry } from '@agentbus/sdk/internal';
import type { AgentClient, InboundMessage, SendResult } from '@agentbus/sdk/internal';
import { SUBJECT_APPROVAL_PENDING_PREFIX, APPROVAL_TYPE, approvalArgs, approvalArgsSha256, parseStrictJson } from '@agentbus/protocol';
import { loadManifestDir } from '@agentbus/protocol/manifest';
import type { PendingApproval } from '@agentbus/protocol';
import { ApprovalContract } from '../common/tool-contracts.js';

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
    client = await connectAgent({
      servers: o.servers,
      credentials: o.credsFile,
      manifestsDir: o.manifestsDir,
      contracts: new ContractRegistry([ApprovalContract]),
      ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}),
    });
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
async function collect(
  client: AgentClient,
  subjects: string[],
  waitMs: number,
  until?: (n: PendingApproval) => boolean,
): Promise<Map<string, PendingApproval>> {
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

/**
 * Why a notice's arguments cannot be approved as shown, or undefined: they must be the canonical
 * JSON of one unambiguous value, whole, with the digest the notice states (docs/design.md §15).
 */
export function unshowable(n: PendingApproval): string | undefined {
  if (typeof n.args !== 'string' || typeof n.args_sha256 !== 'string') return 'the notice carries no arguments to show';
  const p = parseStrictJson(n.args);
  if (!p.ok) return `its arguments are not one unambiguous JSON value (${p.detail})`;
  if (approvalArgs(p.value) !== n.args) return 'its arguments are not in canonical form (cut or altered)';
  if (approvalArgsSha256(n.args) !== n.args_sha256) return 'its arguments do not have the digest the notice states';
  return undefined;
}

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Variation_Selector}\u00a0\u2000-\u200a\u3000]/gu;

/**
 * The arguments as a person reads them: indented JSON of the canonical arguments, with every
 * character that does not show (format, bidi, zero-width, tag, control, private-use, odd spaces)
 * written as an escape, so two different calls never look the same.
 */
export function showArgs(canonical: string): string {
  const p = parseStrictJson(canonical);
  const text = p.ok ? JSON.stringify(p.value, null, 2) : canonical;
  return text.replace(INVISIBLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

export async function decideApproval(
  o: ApproveOptions & { msgId: string; approve: boolean; reason?: string; sha256?: string },
): Promise<{ notice: PendingApproval; result: SendResult }> {
  const { client, subjects } = await connect(o);
  try {
    const seen = await collect(client, subjects, o.waitMs ?? 3000, (n) => n.msg_id === o.msgId);
    const notice = seen.get(o.msgId);
    if (!notice) throw new ApproveError(`no call ${o.msgId} is held for approval (decided, expired, or never held); agentbus approve lists the held ones`);
    if (notice.caller === client.agentId)
      throw new ApproveError(`${client.agentId} made the call ${o.msgId} and may not decide it (four eyes): another approver must`);
    const token = notice.tokens[client.agentId];
    if (!token) throw new ApproveError(`the notice of ${o.msgId} carries no token for ${client.agentId}: may it approve calls of ${notice.server}?`);
    if (o.approve) {
      const why = unshowable(notice);
      if (why) throw new ApproveError(`refusing to approve ${o.msgId}: ${why}`);
      if (o.sha256 !== undefined && !notice.args_sha256.startsWith(o.sha256))
        throw new ApproveError(`refusing to approve ${o.msgId}: its arguments are sha256:${notice.args_sha256}, not the sha256:${o.sha256}… you were shown`);
    }
    // causation = the call, proven by the depth token the verifier minted for this approver
    const causation = { msgId: o.msgId, depthToken: token, depth: notice.depth, traceparent: '' } as unknown as InboundMessage;
    // approving signs the digest of exactly the arguments shown (the verifier delivers only on a match)
    const result = await client.send(
      notice.server,
      APPROVAL_TYPE,
      { msg_id: o.msgId, approve: o.approve, ...(o.approve ? { args_sha256: notice.args_sha256 } : {}), ...(o.reason ? { reason: o.reason } : {}) },
      { causation },
    );
    return { notice, result };
  } finally {
    await client.close();
  }
}
