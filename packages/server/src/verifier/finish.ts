// The I/O of one decision (docs/design.md §6): its audit event stored first (group commit), then
// the message acted on — a held call or an approval to the approvals part, a direct message to
// confirmed delivery, a topic message published — and the sender answered (a direct message's
// answer waits for its delivery outcome).
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Msg } from '@nats-io/transport-node';
import { Delivery, Verdict, reasonName, verdictName, toHex } from '@agentbus/protocol';
import * as D from '@agentbus/protocol';
import { auditEventOf } from './decide.js';
import type { Decision } from './decide.js';
import type { VerifierContext } from './context.js';
import type { Approvals } from './approvals.js';
import type { Deliveries } from './delivery.js';
import { askerRoute, directSubject } from './workers.js';

export class Finisher {
  readonly #ctx: VerifierContext;
  readonly #approvals: Approvals;
  readonly #deliveries: Deliveries;

  constructor(ctx: VerifierContext, approvals: Approvals, deliveries: Deliveries) {
    this.#ctx = ctx;
    this.#approvals = approvals;
    this.#deliveries = deliveries;
  }

  /** Store the decision's audit event, then act on it and answer. `t0`: when the decision began (performance.now(); 0: metrics off). */
  async finish(msg: Msg, subjectSender: string, d: Decision, t0: number): Promise<void> {
    const ctx = this.#ctx;
    const stats = ctx.stats;
    const h = d.header;
    const verdict = d.verdict;
    const reason = d.reason;
    const depth = d.depth;
    let answer = d.answer;
    ctx.metrics?.verdict(verdict, reason);
    if (d.wouldRefuse) ctx.metrics?.wouldRefuse(d.wouldRefuse);
    // docs/design.md §6: the audit event is stored before the message is delivered or answered.
    await ctx.audit.add(auditEventOf(d, subjectSender, msg.data.length, ctx.nextEventId(), ctx.id, Date.now()));
    let delivery: Delivery = Delivery.DELIVERY_UNSPECIFIED;
    if (t0 && verdict !== Verdict.VERDICT_REJECTED) ctx.metrics?.inVerifier((performance.now() - t0) / 1000);
    const delivered = (verdict === Verdict.VERDICT_ACCEPTED || verdict === Verdict.VERDICT_DUPLICATE) && h !== undefined;
    // docs/design.md §18: sent by a worker, its answers come back to that worker
    const route = delivered ? askerRoute(ctx.state.replyRoutes, msg, h) : '';
    const subject = delivered && h.recipient !== '' ? directSubject(ctx.state.replyRoutes, msg, h) : '';
    const approvalGate = delivered && h.recipient !== '' ? this.#approvals.gate(d, msg.reply && answer ? msg.reply : '', msg.data, subject, route) : false;
    if (approvalGate) {
      if (verdict === Verdict.VERDICT_ACCEPTED) stats.accepted++;
      else stats.duplicates++;
      return;
    }
    if (verdict === Verdict.VERDICT_ACCEPTED || verdict === Verdict.VERDICT_DUPLICATE) {
      // A duplicate (a client retry) is forwarded again unless this verifier saw its recipient
      // confirm it: the first attempt may have died between claim and forward, or the forward on
      // the way. Receivers drop a msg_id they already delivered (SDK inbox dedup).
      // (a confirmed msg_id is never pending again: confirming ends its delivery)
      const confirmedRetry = verdict === Verdict.VERDICT_DUPLICATE && h!.recipient !== '' && ctx.state.replay.delivered(h!.msgId);
      const hdrs = confirmedRetry ? undefined : natsHeaders();
      hdrs?.set(D.DEPTH_HEADER, String(depth));
      hdrs?.set(D.DEPTH_TOKEN_HEADER, ctx.state.depthTokens.mint(h!.msgId, h!.recipient, h!.topic, depth));
      if (route) hdrs?.set(D.REPLY_ROUTE_HEADER, route);
      if (!hdrs) {
        // delivered and confirmed already (the sender's first ack was lost): answer, no re-send
        delivery = Delivery.DELIVERY_CONFIRMED;
      } else if (h!.recipient) {
        // answered when the recipient confirms (or at the delivery timeout)
        this.#deliveries.deliver(h!, subject, msg.data, hdrs, answer && msg.reply ? msg.reply : '', verdict, depth, d.wouldRefuse ? d.detail : '');
        answer = false;
      } else {
        ctx.nc.publish(`${D.SUBJECT_TOPIC_PREFIX}${h!.topic}.${h!.type}`, msg.data, { headers: hdrs });
        delivery = Delivery.DELIVERY_BROADCAST;
      }
      if (verdict === Verdict.VERDICT_ACCEPTED) stats.accepted++;
      else stats.duplicates++;
    } else {
      const name = reasonName(reason);
      stats.rejected[name] = (stats.rejected[name] ?? 0) + 1;
    }
    const detail = d.detail;
    const log = ctx.log;
    if (verdict !== Verdict.VERDICT_REJECTED && !log.isLevelEnabled('debug')) {
      if (answer && msg.reply) ctx.answer(msg.reply, verdict, reason, h?.msgId, detail, depth, delivery);
      return;
    }
    const logFields = {
      msg_id: h ? toHex(h.msgId) : undefined,
      trace_id: h && h.traceId.length ? toHex(h.traceId) : undefined,
      sender: subjectSender,
      recipient: h ? h.recipient || `topic:${h.topic}` : undefined,
      type: h?.type,
      verdict: verdictName(verdict),
      reason: verdict === Verdict.VERDICT_REJECTED ? reasonName(reason) : undefined,
      depth,
    };
    if (verdict === Verdict.VERDICT_REJECTED) log.warn(logFields, 'rejected');
    else log.debug(logFields, verdictName(verdict));
    if (answer && msg.reply) ctx.answer(msg.reply, verdict, reason, h?.msgId, detail, depth, delivery);
  }
}
