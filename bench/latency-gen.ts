// The load generator of the hop-latency measurement, in its own process: it only publishes, paced
// on a 1 ms timer, so the receiving and bookkeeping work of the measuring process (and its GC
// pauses) cannot bunch the sends up into bursts. Reads length-prefixed envelopes from a file,
// reports ready, waits for "go", sends at the rate, then returns each send's epoch time.
// argv: url credsPath envelopesFile rate sender
import { readFileSync } from 'node:fs';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { loadCredentials } from '../packages/sdk/src/identity.js';

const [url, creds, file, rateArg, sender] = process.argv.slice(2) as [string, string, string, string, string];
const buf = readFileSync(file);
const envs: Uint8Array[] = [];
for (let o = 0; o < buf.length; ) {
  const len = buf.readUInt32LE(o);
  envs.push(buf.subarray(o + 4, o + 4 + len));
  o += 4 + len;
}
const id = loadCredentials(creds);
const nc = await connect({ servers: url, authenticator: nkeyAuthenticator(id.natsSeed()), inboxPrefix: `agentbus.inbox.${sender}` });
const rate = Number(rateArg);
process.send!({ ready: true });
await new Promise<void>((r) => process.once('message', () => r()));
const sentAt = new Float64Array(envs.length);
const interval = 1000 / rate;
const t0 = performance.now();
let i = 0;
while (i < envs.length) {
  const now = performance.now();
  while (i < envs.length && t0 + i * interval <= now) {
    sentAt[i] = performance.timeOrigin + performance.now();
    nc.publish(`agentbus.in.${sender}`, envs[i]!, { reply: `agentbus.inbox.${sender}.lat` });
    i++;
  }
  await new Promise((r) => setTimeout(r, 1));
}
await nc.flush();
process.send!({ sentAt: Array.from(sentAt) }, () => void nc.close().then(() => process.exit(0)));
