// The transport ceiling: a relay that forwards agentbus.in.* to the delivery subject and acks,
// without any check. Same subjects and connection setup as the verifier.
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { loadServiceCreds } from '../packages/server/src/common/service-creds.js';
import { Ack, Verdict } from '../packages/protocol/src/proto.js';

const [url, creds] = process.argv.slice(2) as [string, string];
const nc = await connect({ servers: url, authenticator: nkeyAuthenticator(loadServiceCreds(creds).natsSeed()), inboxPrefix: '_INBOX_verifier' });
const ack = Ack.encode({ verdict: Verdict.VERDICT_ACCEPTED }).finish();
nc.subscribe('agentbus.part.>', {
  queue: 'agentbus-verifier',
  callback: (_e, m) => {
    nc.publish('agentbus.to.coder.task.assign', m.data);
    if (m.reply) nc.publish(m.reply, ack);
  },
});
await nc.flush();
console.error('relay ready');
process.on('SIGTERM', () => void nc.drain().then(() => process.exit(0)));
