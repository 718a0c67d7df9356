// A compromised agent in its own process: floods envelopes with bad signatures at full speed
// (as fast as the bus answers, at most `window` unanswered), until told to stop or `ms` pass.
// With a rate (msgs/s) it floods open loop instead: that many per second, whatever the answers.
// argv: url credsPath sender recipient window ms [rate]
// IPC: sends {ready} once connected, waits for "go", then {sent, answered, byReason} at the end.
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { loadCredentials } from '../../packages/sdk/src/identity.js';
import { sealEnvelope } from '../../packages/protocol/src/envelope.js';
import { Ack, reasonName } from '../../packages/protocol/src/proto.js';

const [url, creds, sender, recipient, windowArg, msArg, rateArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string | undefined,
];
const rate = Number(rateArg ?? 0);
const id = loadCredentials(creds);
// a persistent attacker: once disconnected (quarantined) it keeps trying to come back, every 50 ms
const nc = await connect({
  servers: url,
  authenticator: nkeyAuthenticator(id.natsSeed()),
  inboxPrefix: `agentbus.inbox.${sender}`,
  maxReconnectAttempts: -1,
  reconnectTimeWait: 50,
  ignoreAuthErrorAbort: true,
});
const k = id.currentKey();
const payload = new TextEncoder().encode(JSON.stringify({ title: 'junk', priority: 1 }));
// a few distinct envelopes, each with a flipped signature bit: everything before the signature check passes
const envs = Array.from({ length: 16 }, () => {
  const b = Uint8Array.from(
    sealEnvelope({ sender, keyId: k.keyId, sign: k.sign, recipient, type: 'task.assign', payload, contentType: 'application/json' }).bytes,
  );
  b[b.length - 7]! ^= 0x20;
  return b;
});
const window = Number(windowArg);
const inbox = `agentbus.inbox.${sender}.flood`;
let sent = 0;
let answered = 0;
let stop = false;
const byReason: Record<string, number> = {};
// once quarantined at NATS (common/quarantine.ts) the connection is closed: publishing throws
let refused = 0;
const send = () => {
  const env = envs[sent++ % envs.length]!;
  try {
    nc.publish(`agentbus.in.${sender}`, env, { reply: inbox });
  } catch {
    refused++;
  }
};
const pump = () => {
  if (rate > 0) return;
  while (!stop && sent - answered < window) send();
};
const openLoop = async () => {
  const t0 = performance.now();
  while (!stop) {
    const due = Math.floor(((performance.now() - t0) * rate) / 1000);
    while (sent < due) send();
    await new Promise((r) => setTimeout(r, 1));
  }
};
(async () => {
  for await (const _s of nc.status()) void _s; // errors (permission, authorization) are expected here
})().catch(() => undefined);
let finish!: () => void;
const finished = new Promise<void>((r) => (finish = r));
nc.subscribe(inbox, {
  callback: (_e, m) => {
    answered++;
    const r = reasonName(Ack.decode(m.data).reason);
    byReason[r] = (byReason[r] ?? 0) + 1;
    if (stop) {
      if (answered === sent) finish();
    } else pump();
  },
});
await nc.flush();
process.send!({ ready: true });
await new Promise<void>((r) => process.once('message', () => r()));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const end = () => {
  if (stop) return;
  stop = true;
  if (answered === sent) finish();
  // what was published after a quarantine at NATS is never answered: stop waiting for it
  setTimeout(finish, 1500).unref();
};
process.once('message', end);
setTimeout(end, Number(msArg));
if (rate > 0) void openLoop();
else pump();
await Promise.race([finished, new Promise((r) => setTimeout(r, Number(msArg) + 10_000))]);
// the flooder's own CPU while it flooded (cores: CPU time / wall time)
const used = process.cpuUsage(cpu0);
const cores = (used.user + used.system) / 1000 / (performance.now() - t0);
process.send!(
  { sent, answered, byReason, refused, cores },
  () =>
    void nc
      .close()
      .catch(() => undefined)
      .then(() => process.exit(0)),
);
