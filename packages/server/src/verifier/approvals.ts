// Approvals (docs/design.md §11, §15): a tool call whose policy asks for approval is held by the
// verifier that accepted it. That verifier listens on agentbus.internal.approval.<msg_id> (only
// verifiers may publish there) for the approval that any verifier accepted, announces each held
// call every second on agentbus.approval.pending.<server>, and refuses it approval_timeout at its
// deadline. Its timer: the per-second announcements and timeouts.
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Subscription } from '@nats-io/transport-node';
import { Delivery, Reason, reasonName, toHex, parseToolType, APPROVAL_TYPE, approvalArgsSha256 } from '@agentbus/protocol';
import type { HeaderFields, PendingApproval, Verdict } from '@agentbus/protocol';
import * as D from '@agentbus/protocol';
import type { Decision } from './decide.js';
import type { VerifierContext } from './context.js';
import { boundedDetail } from './delivery.js';
import type { Deliveries, Outcome } from './delivery.js';

/** A tool call held until an approver decides. */
interface Hold {
  h: HeaderFields;
  id: string;
  data: Uint8Array;
  depth: number;
  verdict: Verdict;
  server: string;
  tool: string;
  args: string;
  argsSha256: string;
  heldAt: number;
  deadline: number;
  waiters: { reply: string; verdict: Verdict }[];
  /** Where the call goes once approved, and the reply route of its caller's worker ('' if none; workers.ts). */
  subject: string;
  route: string;
}

export class Approvals {
  readonly #ctx: VerifierContext;
  readonly #deliveries: Deliveries;
  /** Tool calls held for approval, by msg_id (hex); and those decided (kept for the replay window, for retries). */
  #holds = new Map<string, Hold>();
  #decidedHolds = new Map<string, { delivery: Delivery; reason: Reason; detail: string; at: number }>();
  #approvalSub: Subscription | undefined;
  #approvalTimer: NodeJS.Timeout | undefined;
  readonly #timeout: number;

  constructor(ctx: VerifierContext, deliveries: Deliveries) {
    this.#ctx = ctx;
    this.#deliveries = deliveries;
    this.#timeout = ctx.opts.approvalTimeoutMs;
  }

  /** Listen on the internal approval subject; announce and time out held calls every second. */
  start(): void {
    const ctx = this.#ctx;
    const skip = D.SUBJECT_INTERNAL_APPROVAL_PREFIX.length;
    this.#approvalSub = ctx.nc.subscribe(`${D.SUBJECT_INTERNAL_APPROVAL_PREFIX}*`, {
      callback: (_e, m) => {
        const hold = this.#holds.get(m.subject.slice(skip));
        if (!hold) return; // another verifier holds it, or nobody (the approver hears "no call held")
        let a: { approve?: unknown; approver?: unknown; approval_msg_id?: unknown; reason?: unknown; server?: unknown; args_sha256?: unknown };
        try {
          a = JSON.parse(new TextDecoder().decode(m.data));
        } catch {
          return;
        }
        if (a.server !== hold.server)
          return void m.respond(JSON.stringify({ ok: false, detail: `the call ${hold.id} is held for ${hold.server}, not ${String(a.server)}` }));
        // four eyes (docs/design.md §15): the caller never decides its own call (its notice carries no token for it either)
        if (a.approver === hold.h.sender)
          return void m.respond(JSON.stringify({ ok: false, detail: `${hold.h.sender} made the call ${hold.id} and may not decide it` }));
        const by = `${String(a.approver)} (approval ${String(a.approval_msg_id)})`;
        if (a.approve === true && a.args_sha256 !== hold.argsSha256) {
          // the approver was shown other arguments than the held call's: never delivered
          this.#denyHold(
            hold,
            Reason.REASON_APPROVAL_DENIED,
            `approved by ${by} for arguments sha256:${String(a.args_sha256).slice(0, 16)}…, but the held call's are sha256:${hold.argsSha256.slice(0, 16)}…: not delivered`,
          );
          return void m.respond(
            JSON.stringify({
              ok: false,
              detail: `the approval's args_sha256 is not the held call's (${hold.argsSha256}): the call was refused, not delivered`,
            }),
          );
        }
        if (a.approve === true) this.#approveHold(hold, `approved by ${by}${typeof a.reason === 'string' && a.reason ? `: ${boundedDetail(a.reason)}` : ''}`);
        else
          this.#denyHold(
            hold,
            Reason.REASON_APPROVAL_DENIED,
            `denied by ${by}${typeof a.reason === 'string' && a.reason ? `: ${boundedDetail(a.reason)}` : ''}`,
          );
        m.respond(JSON.stringify({ ok: true }));
      },
    });
    this.#approvalTimer = setInterval(() => {
      const now = Date.now();
      for (const hold of this.#holds.values()) {
        if (now >= hold.deadline) this.#denyHold(hold, Reason.REASON_APPROVAL_TIMEOUT, `no approval within ${Math.round(this.#timeout / 1000)} s`);
        else this.#announce(hold);
      }
      for (const [id, d] of this.#decidedHolds) if (now - d.at > ctx.opts.replayWindowMs) this.#decidedHolds.delete(id);
    }, 1000);
    this.#approvalTimer.unref();
  }

  /** Stop announcing and timing out (close: like a crash, the subscription goes with the connection). */
  stopTimer(): void {
    if (this.#approvalTimer) clearInterval(this.#approvalTimer);
  }

  /** Stop the timer and stop listening for approvals. */
  stop(): void {
    this.stopTimer();
    this.#approvalSub?.unsubscribe();
  }

  /**
   * Held tool calls and approvals take over from the normal delivery: true when handled here
   * (a call held or still held, a call denied earlier, an approval passed to its holder).
   */
  gate(d: Decision, reply: string, data: Uint8Array, subject: string, route: string): boolean {
    const h = d.header!;
    if (h.type === APPROVAL_TYPE) {
      this.#applyApproval(h, d.payload!, reply, d.verdict, d.depth);
      return true;
    }
    if (!d.approval) return false;
    const decided = this.#decidedHolds.get(toHex(h.msgId));
    if (decided?.delivery === Delivery.DELIVERY_APPROVED) return false; // approved: delivered like any message
    if (decided) {
      if (reply) this.#ctx.answer(reply, d.verdict, decided.reason, h.msgId, decided.detail, d.depth, Delivery.DELIVERY_DENIED);
      return true;
    }
    this.#hold(h, data, d.approvalArgs ?? '', reply, d.verdict, d.depth, subject, route);
    return true;
  }

  #announce(hold: Hold): void {
    const ctx = this.#ctx;
    if (ctx.nc.isClosed()) return;
    const tokens: Record<string, string> = {};
    for (const [name, a] of ctx.snap.policy.agents)
      if (a.canApprove(hold.server) && name !== hold.h.sender) tokens[name] = ctx.state.depthTokens.mint(hold.h.msgId, name, '', hold.depth);
    const notice: PendingApproval = {
      msg_id: hold.id,
      caller: hold.h.sender,
      server: hold.server,
      tool: hold.tool,
      args: hold.args,
      args_sha256: hold.argsSha256,
      held_at: new Date(hold.heldAt).toISOString(),
      expires_at: new Date(hold.deadline).toISOString(),
      verifier_id: ctx.id,
      depth: hold.depth,
      tokens,
    };
    ctx.nc.publish(`${D.SUBJECT_APPROVAL_PENDING_PREFIX}${hold.server}`, JSON.stringify(notice));
  }

  /** A tool call whose policy asks for approval: held (answered HELD now; a resend waits for the outcome). */
  #hold(h: HeaderFields, data: Uint8Array, args: string, reply: string, verdict: Verdict, depth: number, subject: string, route: string): void {
    const id = toHex(h.msgId);
    let hold = this.#holds.get(id);
    if (hold) {
      if (reply) hold.waiters.push({ reply, verdict });
      return;
    }
    const tool = parseToolType(h.type)!;
    const now = Date.now();
    hold = {
      h,
      id,
      data,
      depth,
      verdict,
      server: tool.server,
      tool: tool.tool,
      args,
      argsSha256: approvalArgsSha256(args),
      heldAt: now,
      deadline: now + this.#timeout,
      waiters: [],
      subject,
      route,
    };
    this.#holds.set(id, hold);
    this.#ctx.log.info({ msg_id: id, sender: h.sender, server: tool.server, tool: tool.tool }, 'tool call held for approval');
    this.#announce(hold);
    if (reply)
      this.#ctx.answer(
        reply,
        verdict,
        Reason.REASON_UNSPECIFIED,
        h.msgId,
        `held for approval until ${new Date(hold.deadline).toISOString()}`,
        depth,
        Delivery.DELIVERY_HELD,
      );
  }

  #approveHold(hold: Hold, detail: string): void {
    const ctx = this.#ctx;
    this.#holds.delete(hold.id);
    this.#decidedHolds.set(hold.id, { delivery: Delivery.DELIVERY_APPROVED, reason: Reason.REASON_UNSPECIFIED, detail, at: Date.now() });
    ctx.log.info({ msg_id: hold.id, detail }, 'tool call approved');
    const h = hold.h;
    ctx.inflight.add();
    // the decision is in the audit stream before the call goes out
    ctx.audit.addDelivery({ msgId: h.msgId, recipient: h.recipient, delivery: Delivery.DELIVERY_APPROVED, atMs: Date.now(), detail }).then(
      () => {
        const hdrs = natsHeaders();
        hdrs.set(D.DEPTH_HEADER, String(hold.depth));
        hdrs.set(D.DEPTH_TOKEN_HEADER, ctx.state.depthTokens.mint(h.msgId, h.recipient, h.topic, hold.depth));
        if (hold.route) hdrs.set(D.REPLY_ROUTE_HEADER, hold.route);
        this.#deliveries.deliver(h, hold.subject, hold.data, hdrs, '', hold.verdict, hold.depth);
        this.#deliveries.addWaiters(hold.id, hold.waiters);
        ctx.inflight.done();
      },
      (e: unknown) => {
        ctx.log.error({ err: (e as Error).message, msg_id: hold.id }, 'approval record not stored; the call is not delivered');
        ctx.inflight.done();
      },
    );
  }

  #denyHold(hold: Hold, reason: Reason, detail: string): void {
    this.#holds.delete(hold.id);
    this.#decidedHolds.set(hold.id, { delivery: Delivery.DELIVERY_DENIED, reason, detail, at: Date.now() });
    this.#ctx.log.warn({ msg_id: hold.id, reason: reasonName(reason), detail }, 'tool call not approved');
    const p: Outcome = { recipient: hold.h.recipient, msgId: hold.h.msgId, depth: hold.depth, waiters: hold.waiters };
    this.#deliveries.record(p, Delivery.DELIVERY_DENIED, { reason, detail });
  }

  /** An accepted approval: to the verifier that holds the call; the approver hears whether one did. */
  #applyApproval(h: HeaderFields, payload: Uint8Array, reply: string, verdict: Verdict, depth: number): void {
    const ctx = this.#ctx;
    let a: { msg_id: string; approve: boolean; reason?: string; args_sha256?: string };
    try {
      a = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      return;
    }
    const body = JSON.stringify({
      approve: a.approve,
      approver: h.sender,
      approval_msg_id: toHex(h.msgId),
      reason: a.reason ?? '',
      server: h.recipient,
      args_sha256: a.args_sha256 ?? '',
    });
    ctx.inflight.add();
    ctx.nc.request(`${D.SUBJECT_INTERNAL_APPROVAL_PREFIX}${a.msg_id}`, body, { timeout: 2000 }).then(
      (m) => {
        const r = JSON.parse(new TextDecoder().decode(m.data)) as { ok: boolean; detail?: string };
        if (reply)
          ctx.answer(
            reply,
            verdict,
            Reason.REASON_UNSPECIFIED,
            h.msgId,
            r.ok ? `${a.approve ? 'approved' : 'denied'} ${a.msg_id}` : (r.detail ?? ''),
            depth,
            r.ok ? Delivery.DELIVERY_CONFIRMED : Delivery.DELIVERY_UNCONFIRMED,
          );
        ctx.inflight.done();
      },
      () => {
        if (reply)
          ctx.answer(
            reply,
            verdict,
            Reason.REASON_UNSPECIFIED,
            h.msgId,
            `no call ${a.msg_id} is held for approval (decided, expired, or never held)`,
            depth,
            Delivery.DELIVERY_UNCONFIRMED,
          );
        ctx.inflight.done();
      },
    );
  }
}
