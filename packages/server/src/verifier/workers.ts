// Workers (docs/design.md §18): one agent, several connections. The agent's deliveries are one
// subject its workers share as a NATS queue group (one of them gets each); what must reach one
// particular worker is an answer to a message that worker sent. A connection that runs as a worker
// names itself in the Agentbus-Worker header and asks for its acks under
// agentbus.inbox.<agent>.<worker>.; the delivery of its message then carries a reply route (a MAC
// over msg_id, sender and worker under the verifiers' shared key), the answer brings it back, and
// the answer is delivered on agentbus.inbox.<asker>.<worker>.to.<type>, which only that worker
// subscribes. A route that does not verify for (causation, recipient) is ignored: the answer goes
// to the agent's queue group like any message.
import type { Msg } from '@nats-io/transport-node';
import * as D from '@agentbus/protocol';
import type { HeaderFields, ReplyRoutes } from '@agentbus/protocol';

/** The reply route to attach to the delivery of `h`, if the connection that sent it runs as a worker; else ''. */
export function askerRoute(routes: ReplyRoutes, msg: Msg, h: HeaderFields): string {
  const w = msg.headers?.get(D.WORKER_HEADER);
  // its acks come back on the worker's own inbox, so its answers may too
  if (!w || !D.WORKER_ID_RE.test(w) || !msg.reply?.startsWith(`${D.SUBJECT_INBOX_PREFIX}${h.sender}.${w}.`)) return '';
  return routes.mint(h.msgId, h.sender, w);
}

/** Where a direct message goes: to the worker that asked when it answers that worker's message (a valid route), else to the recipient's queue group. */
export function directSubject(routes: ReplyRoutes, msg: Msg, h: HeaderFields): string {
  const route = h.causationId.length === 16 ? msg.headers?.get(D.REPLY_ROUTE_HEADER) : undefined;
  const worker = route ? routes.workerOf(h.causationId, h.recipient, route) : undefined;
  return worker ? `${D.SUBJECT_INBOX_PREFIX}${h.recipient}.${worker}.${D.WORKER_ANSWER_TOKEN}.${h.type}` : `${D.SUBJECT_TO_PREFIX}${h.recipient}.${h.type}`;
}
