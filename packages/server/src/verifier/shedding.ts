// Shedding (docs/design.md §9): a message whose subject sender has spent its rejection budget is
// shed unverified by decide(); this part does what follows — counts it, holds its answer briefly
// in a preallocated ring (answered SHED_ANSWER_DELAY_MS after arrival: the answers pace a flooding
// client), writes one audit event per sender per SHED_AUDIT_INTERVAL_MS with the shed count, and
// quarantines the sender at NATS when quarantine is on. Its timers: the per-second shed summary and
// the release of held answers.
import { Ack, Reason, Verdict, reasonName } from '@agentbus/protocol';
import type { IAuditEvent } from '@agentbus/protocol';
import * as D from '@agentbus/protocol';
import { QuarantineWatch, coolDownMs, nextLevel, encodeRecord, quarantineDetail } from '../common/quarantine.js';
import type { QuarantineRecord } from '../common/quarantine.js';
import { SHED_DETAIL } from './decide.js';
import type { SenderBudget } from './decide.js';
import { EMPTY } from './context.js';
import type { VerifierContext } from './context.js';

/** How often held shed answers are released (small steps: the answers, and what they pace, stay smooth). */
const SHED_ANSWER_TICK_MS = 5;

export class Shedding {
  readonly #ctx: VerifierContext;
  /** The one answer to every shed message (encoded once). */
  readonly #shedAck: Uint8Array;
  #shedTimer: NodeJS.Timeout | undefined;
  /**
   * Shed messages waiting for their answer: a ring of reply subjects and arrival times,
   * preallocated (holding one allocates nothing), answered SHED_ANSWER_DELAY_MS after arrival.
   */
  #held: string[] = new Array<string>(D.SHED_ANSWER_MAX_HELD).fill('');
  #heldAt = new Float64Array(D.SHED_ANSWER_MAX_HELD);
  #heldHead = 0;
  #heldN = 0;
  #shedAnswerTimer: NodeJS.Timeout | undefined;
  /** The quarantine bucket, watched (undefined: quarantine off); senders whose quarantine is being written. */
  #quarantine: QuarantineWatch | undefined;
  #quarantining = new Set<string>();

  constructor(ctx: VerifierContext) {
    this.#ctx = ctx;
    this.#shedAck = Ack.encode({
      verdict: Verdict.VERDICT_REJECTED,
      reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED,
      detail: SHED_DETAIL,
      verifierId: ctx.id,
    }).finish();
  }

  /** The shed summary and the held answers' timers. */
  start(): void {
    this.#shedTimer = setInterval(() => this.flush(), D.SHED_AUDIT_INTERVAL_MS);
    this.#shedTimer.unref();
    this.#shedAnswerTimer = setInterval(() => this.answerHeld(Date.now() - D.SHED_ANSWER_DELAY_MS), SHED_ANSWER_TICK_MS);
    this.#shedAnswerTimer.unref();
  }

  /** Watch the quarantine bucket (quarantine on). */
  async startQuarantine(): Promise<void> {
    this.#quarantine = await QuarantineWatch.start(this.#ctx.nc, () => undefined, { replicas: this.#ctx.opts.replicas, log: this.#ctx.log });
  }

  /** Stop the timers (what is counted or held stays, for flush() and answerHeld()). */
  stopTimers(): void {
    if (this.#shedTimer) clearInterval(this.#shedTimer);
    if (this.#shedAnswerTimer) clearInterval(this.#shedAnswerTimer);
  }

  /** Stop the timers and the quarantine watch. */
  stop(): void {
    this.stopTimers();
    this.#quarantine?.stop();
  }

  /** A message decide() shed: a few counters, a quarantine if due, and (if it may be answered) a slot in the ring. */
  shed(sender: string, reply: string | undefined, answer: boolean, now: number): void {
    const ctx = this.#ctx;
    ctx.stats.shed++;
    ctx.metrics?.verdict(Verdict.VERDICT_REJECTED, Reason.REASON_REJECTION_BUDGET_EXCEEDED);
    const q = this.#quarantine;
    if (q !== undefined && !this.#quarantining.has(sender) && !q.isActive(sender, now)) this.#quarantineSender(sender, now);
    if (reply && answer) {
      const cap = this.#held.length;
      if (this.#heldN < cap) {
        const i = (this.#heldHead + this.#heldN++) % cap;
        this.#held[i] = reply;
        this.#heldAt[i] = now;
      } else ctx.nc.publish(reply, this.#shedAck);
    }
  }

  /** Answer the held shed messages that arrived at or before `upTo` (all: Infinity), oldest first. */
  answerHeld(upTo = Infinity): void {
    const nc = this.#ctx.nc;
    if (this.#heldN === 0 || nc.isClosed()) return;
    const cap = this.#held.length;
    while (this.#heldN > 0 && this.#heldAt[this.#heldHead]! <= upTo) {
      const i = this.#heldHead;
      nc.publish(this.#held[i]!, this.#shedAck);
      this.#held[i] = '';
      this.#heldHead = (i + 1) % cap;
      this.#heldN--;
    }
  }

  /**
   * One audit event per sender with shed messages (all senders, or those of one partition):
   * the subject sender (what NATS authenticated), shed_count and the window it covers — nothing
   * taken from the shed bytes, which nobody checked. Called every SHED_AUDIT_INTERVAL_MS, when a
   * partition is released and at drain.
   */
  flush(partition?: number): void {
    const now = Date.now();
    for (const b of this.#ctx.state.budgets.values()) {
      if (b.shed === 0 || (partition !== undefined && b.ownPartition !== partition)) continue;
      this.#auditShed(b, now, '');
    }
  }

  /**
   * The sender (the subject token: what NATS authenticated) has spent its rejection budget and is
   * not quarantined: quarantine it at NATS (common/quarantine.ts) — its record in the bucket, which
   * the config followers apply — and audit it at once with its shed count.
   */
  #quarantineSender(sender: string, now: number): void {
    const ctx = this.#ctx;
    const q = this.#quarantine!;
    const b = ctx.state.budgets.get(sender);
    if (!b || b.shed === 0) return;
    const base = ctx.opts.quarantineMs;
    const max = ctx.opts.quarantineMaxMs;
    const level = nextLevel(q.records.get(sender), now, base, max);
    const cool = coolDownMs(level, base, max);
    const rec: QuarantineRecord = { agent: sender, until_ms: now + cool, level, shed: b.shed, at_ms: now, by: ctx.id };
    this.#quarantining.add(sender);
    this.#auditShed(b, now, `; ${quarantineDetail(rec.until_ms, cool, level)}`);
    ctx.log.warn(
      { sender, until: new Date(rec.until_ms).toISOString(), cool_down_ms: cool, level },
      'sender quarantined at NATS: disconnected and refused for the cool-down',
    );
    q.kv
      .put(sender, encodeRecord(rec))
      .then(
        () => void q.records.set(sender, rec),
        (e: unknown) => ctx.log.error({ err: (e as Error).message, sender }, 'quarantine not recorded'),
      )
      .finally(() => this.#quarantining.delete(sender));
  }

  /** The shed summary of one sender (its count reset); `more` is appended to its detail. */
  #auditShed(b: SenderBudget, now: number, more: string): void {
    const ctx = this.#ctx;
    const n = b.shed;
    b.shed = 0;
    const name = reasonName(Reason.REASON_REJECTION_BUDGET_EXCEEDED);
    ctx.stats.rejected[name] = (ctx.stats.rejected[name] ?? 0) + n;
    const event: IAuditEvent = {
      eventId: ctx.nextEventId(),
      verifierId: ctx.id,
      verifiedAtMs: now,
      verdict: Verdict.VERDICT_REJECTED,
      reason: Reason.REASON_REJECTION_BUDGET_EXCEEDED,
      detail: `${n} shed unverified: rejection budget ${Math.round(b.perMs * 1000 * 1000) / 1000}/s, burst ${b.burst} spent${more}`,
      subjectSender: b.sender,
      // no header, signature, payload hash or size: a shed message's bytes are the sender's unverified claim
      header: EMPTY,
      signature: EMPTY,
      payloadSize: 0,
      payloadSha256: EMPTY,
      effectiveDepth: 0,
      rawSize: 0,
      shedCount: n,
      windowStartMs: b.shedStart,
    };
    ctx.log.warn({ sender: b.sender, shed: n, window_ms: now - b.shedStart, reason: name }, 'rejection budget spent: messages shed unverified');
    ctx.audit
      .add(event)
      .catch((e: unknown) => ctx.log.error({ err: (e as Error).message, sender: b.sender, shed: n }, 'audit event of shed messages not stored'));
  }
}
