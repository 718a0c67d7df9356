// What every approver front end shares — `agentbus approve` (ops/approve.ts) and the console's
// approvals (console/approvals.ts): connecting as an agent whose manifest says `approve:`, hearing
// the pending notices of held calls, showing their arguments so that two different calls never
// look the same, and sending one signed approval.decision whose causation is the call
// (docs/design.md §11, §15; PROTOCOL.md §15.3). The verifier decides that message like any other.
import { connectAgent, ContractRegistry, UndeliveredError } from '@agentbus/sdk/internal';
import type { AgentClient, InboundMessage, SendResult } from '@agentbus/sdk/internal';
import { SUBJECT_APPROVAL_PENDING_PREFIX, APPROVAL_TYPE, approvalArgs, approvalArgsSha256, parseStrictJson } from '@agentbus/protocol';
import { loadManifestDir } from '@agentbus/protocol/manifest';
import type { PendingApproval } from '@agentbus/protocol';
import type { Subscription } from '@nats-io/transport-node';
import { ApprovalContract } from '../common/tool-contracts.js';

export class ApproveError extends Error {
  override name = 'ApproveError';
}

export interface ApproverConnectOptions {
  servers: string | string[];
  credsFile: string;
  manifestsDir: string;
  connectOptions?: Record<string, unknown>;
}

export interface Approver {
  client: AgentClient;
  /** The pending-notice subjects this approver may hear (its manifest's `approve:` servers). */
  subjects: string[];
}

/** Connect as an approver: an agent whose manifest has an `approve:` list (else ApproveError). */
export async function connectApprover(o: ApproverConnectOptions): Promise<Approver> {
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

/**
 * Hear the pending notices (each held call is announced every second while it is held):
 * `onNotice` for each one that parses; `onClosed` when a subscription ends with an error (e.g.
 * NATS refused it). Returns the subscriptions (unsubscribe them to stop).
 */
export function watchPending(a: Approver, onNotice: (n: PendingApproval) => void, onClosed?: (subject: string, e: Error) => void): Subscription[] {
  return a.subjects.map((s) => {
    const sub = a.client.nc.subscribe(s, {
      callback: (err, m) => {
        if (err) return;
        let n: PendingApproval;
        try {
          n = JSON.parse(new TextDecoder().decode(m.data)) as PendingApproval;
        } catch {
          return; // not a notice
        }
        if (n && typeof n === 'object' && typeof n.msg_id === 'string') onNotice(n);
      },
    });
    void sub.closed.then((e) => {
      if (e instanceof Error) onClosed?.(s, e);
    });
    return sub;
  });
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
 * written as an escape, so two different calls never look the same. The indentation's line
 * breaks are the only ones left as they are (a line break inside a string is JSON's `\n`).
 */
export function showArgs(canonical: string): string {
  const p = parseStrictJson(canonical);
  const text = p.ok ? JSON.stringify(p.value, null, 2) : canonical;
  // the indentation's line breaks stay as they are: a line break inside a string is already JSON's escape
  return text.replace(INVISIBLE, (c) => (c === '\n' && p.ok ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`));
}

export interface Decision {
  approve: boolean;
  reason?: string;
  /**
   * Approving: the SHA-256 (64 hex) of the canonical arguments that were shown, signed as is.
   * The verifier delivers the call only if it is the held call's (docs/design.md §15).
   */
  argsSha256?: string;
}

/**
 * Send one decision on a held call, as this approver: refused here (ApproveError) when it could
 * not be valid — the approver made the call (four eyes), the notice has no token for it, or an
 * approval of arguments that cannot be shown whole. Everything else is the verifier's to decide.
 */
export async function sendDecision(a: Approver, notice: PendingApproval, d: Decision): Promise<SendResult> {
  const me = a.client.agentId;
  if (notice.caller === me) throw new ApproveError(`${me} made the call ${notice.msg_id} and may not decide it (four eyes): another approver must`);
  const token = notice.tokens?.[me];
  if (!token) throw new ApproveError(`the notice of ${notice.msg_id} carries no token for ${me}: may it approve calls of ${notice.server}?`);
  if (d.reason !== undefined && d.reason.length > 500) throw new ApproveError('the reason has at most 500 characters');
  if (d.approve) {
    const why = unshowable(notice);
    if (why) throw new ApproveError(`refusing to approve ${notice.msg_id}: ${why}`);
    if (!d.argsSha256 || !/^[0-9a-f]{64}$/.test(d.argsSha256))
      throw new ApproveError(`approving ${notice.msg_id} needs the sha256 (64 hex) of the arguments that were shown`);
  }
  // causation = the call, proven by the depth token the verifier minted for this approver
  const causation = { msgId: notice.msg_id, depthToken: token, depth: notice.depth, traceparent: '' } as unknown as InboundMessage;
  const payload = { msg_id: notice.msg_id, approve: d.approve, ...(d.approve ? { args_sha256: d.argsSha256 } : {}), ...(d.reason ? { reason: d.reason } : {}) };
  try {
    // no resend after an UNCONFIRMED answer: the holder took the decision and did not apply it
    // (the call was decided already, or — approving — the digest is not the held call's, and
    // then the call is refused); sending it again would not change that
    // (one attempt, so it gets a generous wait)
    return await a.client.send(notice.server, APPROVAL_TYPE, payload, { causation, retries: 0, timeoutMs: 15_000 });
  } catch (e) {
    if (e instanceof UndeliveredError) return { msgId: e.msgId, depth: notice.depth + 1, duplicate: false, verifierId: '', attempts: 1, delivered: false };
    throw e;
  }
}
