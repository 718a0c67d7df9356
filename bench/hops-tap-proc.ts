// The taps of bench/hops.ts in a process of their own, whose event loop does nothing else, so a
// message is stamped when nats-server hands it over, not when the bench's busy event loop (bus,
// verifier, service and client) gets round to reading another connection's socket.
// Started by bench/hops.ts with an IPC channel; argv: url caller service. It receives the three
// NATS seeds over IPC ({ seeds: { admin, service, caller } }), subscribes, answers { ready }, then
// for each request of the caller sends { req, fwdReq, res, fwdRes } (epoch ms with sub-ms
// precision: performance.timeOrigin + performance.now()) once all four have been seen. It also
// answers { ping } with { pong, at } (the clock check of bench/hops.ts).
//   not run by hand
import { setPriority } from 'node:os';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import type { Msg } from '@nats-io/transport-node';
import { decodeHeader, parseEnvelope, toHex } from '../packages/protocol/src/envelope.js';

// a higher scheduling priority where allowed (root, CAP_SYS_NICE), so that it is woken sooner on a
// busy machine; it only stamps and is idle otherwise. Without the right it runs at the default.
try {
  setPriority(-10);
} catch {
  // not allowed: the default priority
}
const [url, caller, service] = process.argv.slice(2) as [string, string, string];
const now = () => performance.timeOrigin + performance.now();
type Point = 'req' | 'fwdReq' | 'res' | 'fwdRes';
const seen = new Map<string, Partial<Record<Point, number>>>();

/** The request's msg_id: its own for the request, the causation for the answer. */
function key(m: Msg, answer: boolean): string | undefined {
  const p = parseEnvelope(m.data);
  if (!p.ok) return undefined;
  const h = decodeHeader(p.value.headerBytes);
  if (!h.ok) return undefined;
  return toHex(answer ? h.value.causationId : h.value.msgId);
}

function stamp(point: Point, at: number, k: string | undefined): void {
  if (!k) return;
  const s = seen.get(k) ?? {};
  if (s[point] !== undefined) return; // a re-forward: the first time counts
  s[point] = at;
  seen.set(k, s);
  if (s.req !== undefined && s.fwdReq !== undefined && s.res !== undefined && s.fwdRes !== undefined) {
    seen.delete(k);
    process.send!({ req: s.req, fwdReq: s.fwdReq, res: s.res, fwdRes: s.fwdRes });
  }
}

const { seeds } = await new Promise<{ seeds: { admin: string; service: string; caller: string } }>((r) => process.once('message', r));
const enc = new TextEncoder();
const conn = (seed: string, inboxPrefix: string) => connect({ servers: url, authenticator: nkeyAuthenticator(enc.encode(seed)), inboxPrefix });
const admin = await conn(seeds.admin, '_INBOX_verifier');
const svc = await conn(seeds.service, `agentbus.inbox.${service}`);
const cli = await conn(seeds.caller, `agentbus.inbox.${caller}`);
// what agents publish, after the partition mapping (the verifier's view)
admin.subscribe('agentbus.part.>', {
  callback: (_e, m) => {
    const at = now();
    if (m.subject.endsWith(`.${caller}`)) stamp('req', at, key(m, false));
    else if (m.subject.endsWith(`.${service}`)) stamp('res', at, key(m, true));
  },
});
// the request delivered to the service (its queue group's subject; the tap takes no part in it)
svc.subscribe(`agentbus.to.${service}.>`, { callback: (_e, m) => stamp('fwdReq', now(), key(m, false)) });
// the answer delivered to the caller: on the asking worker's answer subject (PROTOCOL.md §11.1),
// or on the queue group's subject when it came without a reply route
for (const subject of [`agentbus.inbox.${caller}.*.to.>`, `agentbus.to.${caller}.>`])
  cli.subscribe(subject, { callback: (_e, m) => stamp('fwdRes', now(), key(m, true)) });
await Promise.all([admin.flush(), svc.flush(), cli.flush()]);
process.on('message', (m: { ping?: boolean; stop?: boolean }) => {
  if (m.ping) process.send!({ pong: true, at: now() });
  if (m.stop) void Promise.all([admin.close(), svc.close(), cli.close()]).then(() => process.exit(0));
});
process.send!({ ready: true });
