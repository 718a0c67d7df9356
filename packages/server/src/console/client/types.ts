// What the console's server sends (console/server.ts): the shapes of its JSON and its events.
// Types only, with no import: the server's side (approvals.ts) imports them too, and the client is
// type-checked with the DOM library and without node's types (tsconfig.client.json).

export interface Verdict {
  kind: 'verdict';
  time: string;
  verdict: string;
  reason: string;
  detail: string;
  sender: string;
  recipient: string;
  topic: string;
  type: string;
  msg_id: string;
  trace_id: string;
  causation_id: string;
  event_id: string;
  shed_count: number;
  /** Monitor mode delivered it although policy refuses it: the reason enforcing would give. */
  would_refuse?: string;
}

/** A would-refuse row of the audit store (GET /api/would-refuse). */
export interface WouldRefuseRow {
  time: string;
  would_refuse: string;
  detail: string;
  sender: string;
  destination: string;
  type: string;
  msg_id: string;
  event_id: string;
}

export interface Alert {
  alert_id?: string;
  rule?: string;
  severity?: string;
  agents?: string[];
  evidence?: Record<string, unknown>;
  detected_at?: string;
  window_start?: string;
  window_end?: string;
  sentence?: string;
  msg_ids?: string[];
}

/** A held call as the browser shows it (console/approvals.ts makes it from the approval notice). */
export interface Held {
  msg_id: string;
  caller: string;
  server: string;
  tool: string;
  /** The canonical arguments, indented, invisible characters escaped (showArgs). */
  args_shown: string;
  args_sha256: string;
  held_at: string;
  expires_at: string;
  /** Why it cannot be approved as shown (it can still be denied), if so. */
  unshowable?: string;
  /** The approver made this call itself: it may not decide it (four eyes). */
  own?: boolean;
}

export interface Snapshot {
  now: string;
  user: string;
  approver: string | null;
  nats: string;
  verdicts: Verdict[];
  alerts: Alert[];
  held: Held[];
}

export interface Session {
  user: string | null;
  login_required: boolean;
  approver: string | null;
}

export interface AgentInfo {
  id: string;
  description: string;
  approve: string[];
}

export interface EdgeRow {
  sender: string;
  destination: string;
  total: number;
  accepted: number;
  rejected: number;
}

export interface TrailRow {
  relation: string;
  time: string;
  verdict: string;
  reason: string;
  sender: string;
  destination: string;
  type: string;
  msg_id: string;
  causation_id: string;
  depth: number;
  verifier_id: string;
}

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Variation_Selector}\u00a0\u2000-\u200a\u3000]/gu;
/** Text an agent chose (types, details, names), with every invisible character written as an escape. */
export function vis(s: unknown, max = 300): string {
  const t = String(s ?? '').replace(INVISIBLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Where a verdict went: the recipient, or topic:<name>. */
export const dest = (v: Pick<Verdict, 'recipient' | 'topic'>) => v.recipient || (v.topic ? `topic:${v.topic}` : '?');
