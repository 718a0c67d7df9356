// The console's approval desk: held tool calls as the approver it holds credentials for hears
// them, and decisions sent as that approver (ops/approver.ts, shared with `agentbus approve`).
//
// What the screen shows is what is signed: the browser posts back the args_sha256 it displayed
// next to the arguments, and the desk signs that digest as is — it never substitutes the notice's.
// The verifier delivers the call only if the digest is the held call's (docs/design.md §15).
// The person logged in is recorded with each decision, in its reason (the audit trail keeps it).
import type { PendingApproval } from '@agentbus/protocol';
import type { Subscription } from '@nats-io/transport-node';
import { ApproveError, connectApprover, sendDecision, showArgs, unshowable, watchPending } from '../ops/approver.js';
import type { Approver, ApproverConnectOptions } from '../ops/approver.js';
import type { Held } from './client/types.js';

/** A notice not heard again for this long is gone (notices repeat every second while held). */
const GONE_AFTER_MS = 3500;

export interface DeskEvents {
  held(v: Held): void;
  gone(g: { msg_id: string; why: string }): void;
  note(line: string): void;
}

export interface DecideInput {
  msgId: string;
  approve: boolean;
  reason?: string;
  /** Approving: the digest the screen showed (64 hex). */
  argsSha256?: string;
  /** The person who decided (the console user). */
  person: string;
}

export interface DecideResult {
  msg_id: string;
  decision: 'approved' | 'denied';
  approval_msg_id: string;
  /** The verifier applied it (the call was held and, approving, the digest matched). */
  applied: boolean;
}

/** The approval's reason: who decided in the console, then what they wrote (≤ 500 characters). */
export function decisionReason(person: string, reason: string | undefined): string {
  const head = `console user ${person}`;
  const text = (reason ?? '').trim();
  return (text ? `${head}: ${text}` : head).slice(0, 500);
}

export class ApprovalDesk {
  readonly #held = new Map<string, { notice: PendingApproval; seen: number }>();
  /** Calls being decided here now: a second click does not send a second decision. */
  readonly #deciding = new Set<string>();
  /** Calls decided here: a notice still in flight does not bring them back. */
  readonly #decided = new Map<string, number>();
  #subs: Subscription[] = [];
  #timer: NodeJS.Timeout | undefined;
  private constructor(
    private readonly approver: Approver,
    private readonly events: DeskEvents,
  ) {}

  get agent(): string {
    return this.approver.client.agentId;
  }

  static async start(o: ApproverConnectOptions, events: DeskEvents): Promise<ApprovalDesk> {
    const desk = new ApprovalDesk(await connectApprover(o), events);
    desk.#subs = watchPending(
      desk.approver,
      (n) => desk.#onNotice(n),
      (subject, e) => events.note(`approvals: nats-server refused the subscription to ${subject}: ${e.message}`),
    );
    await desk.approver.client.nc.flush();
    desk.#timer = setInterval(() => desk.#sweep(), 500);
    desk.#timer.unref();
    return desk;
  }

  #view(n: PendingApproval): Held {
    const why = unshowable(n);
    return {
      msg_id: n.msg_id,
      caller: n.caller,
      server: n.server,
      tool: n.tool,
      args_shown: typeof n.args === 'string' ? showArgs(n.args) : '',
      args_sha256: typeof n.args_sha256 === 'string' ? n.args_sha256 : '',
      held_at: n.held_at,
      expires_at: n.expires_at,
      ...(why ? { unshowable: why } : {}),
      ...(n.caller === this.agent ? { own: true } : {}),
    };
  }

  #onNotice(n: PendingApproval): void {
    if (!/^[0-9a-f]{32}$/.test(n.msg_id) || this.#decided.has(n.msg_id)) return;
    const had = this.#held.get(n.msg_id);
    this.#held.set(n.msg_id, { notice: n, seen: Date.now() });
    if (!had) this.events.held(this.#view(n));
  }

  #sweep(now = Date.now()): void {
    for (const [id, at] of this.#decided) if (now - at > 10 * GONE_AFTER_MS) this.#decided.delete(id);
    for (const [id, h] of this.#held) {
      const expired = Date.parse(h.notice.expires_at) <= now;
      if (expired || now - h.seen > GONE_AFTER_MS) {
        this.#held.delete(id);
        this.events.gone({
          msg_id: id,
          why: expired ? 'expired (nobody decided in time: denied)' : 'no longer held (decided elsewhere, or its verifier let it go)',
        });
      }
    }
  }

  /** The calls held now, oldest first. */
  list(): Held[] {
    return [...this.#held.values()].map((h) => this.#view(h.notice)).sort((a, b) => a.held_at.localeCompare(b.held_at));
  }

  async decide(d: DecideInput): Promise<DecideResult> {
    const h = this.#held.get(d.msgId);
    if (!h) throw new ApproveError(`no call ${d.msgId} is held for approval now (decided, expired, or never held)`);
    if (this.#deciding.has(d.msgId)) throw new ApproveError(`the call ${d.msgId} is being decided already`);
    this.#deciding.add(d.msgId);
    let result: Awaited<ReturnType<typeof sendDecision>>;
    try {
      result = await sendDecision(this.approver, h.notice, {
        approve: d.approve,
        reason: decisionReason(d.person, d.reason),
        ...(d.approve && d.argsSha256 !== undefined ? { argsSha256: d.argsSha256 } : {}),
      });
    } finally {
      this.#deciding.delete(d.msgId);
    }
    this.#held.delete(d.msgId);
    this.#decided.set(d.msgId, Date.now());
    const decision = d.approve ? 'approved' : 'denied';
    this.events.gone({ msg_id: d.msgId, why: `${decision} by ${d.person}${result.delivered ? '' : ' (not applied: see its trail)'}` });
    return { msg_id: d.msgId, decision, approval_msg_id: result.msgId, applied: result.delivered };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const s of this.#subs) s.unsubscribe();
    await this.approver.client.close().catch(() => undefined);
  }
}
