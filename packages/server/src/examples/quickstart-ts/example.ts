// Two agents of your own, alice and bob, on the bus that `npx agentbus dev` runs in this
// project (start it first, in another terminal). Build and run: npx tsc && node dist/example.js
import { connectAgent, RejectedError, UndeliveredError, TimeoutError, ContractError } from '@agentbus/sdk';
import { contracts } from './contracts.js';

const bus = { servers: process.env['AGENTBUS_SERVERS'] ?? 'nats://127.0.0.1:4222', manifestsDir: 'manifests', contracts };
const alice = await connectAgent({ ...bus, credentials: '.agentbus/creds/alice.creds.json' });
const bob = await connectAgent({ ...bus, credentials: '.agentbus/creds/bob.creds.json' });

// bob reads his inbox: verified messages, payloads typed by their type, each msg_id once. A
// reply carries the causation, the chain depth and the trace of the message it answers.
const bobDone = (async () => {
  for await (const msg of bob.inbox()) {
    if (msg.type === 'note.send') await bob.reply(msg, 'note.ack', { received: msg.msgId });
    if (msg.type === 'question.ask') await bob.reply(msg, 'question.answer', { answer: `you asked "${msg.payload.question}": 42` });
  }
})();

// Every call either succeeds or throws an error that says why.
async function step(what: string, fn: () => Promise<string>): Promise<void> {
  try {
    console.log(`${what}: ${await fn()}`);
  } catch (e) {
    if (e instanceof RejectedError) console.log(`${what}: rejected by the verifier: ${e.reasonName} (${e.detail})`);
    else if (e instanceof ContractError) console.log(`${what}: refused before signing: ${e.reasonName} (${e.detail})`);
    else if (e instanceof UndeliveredError) console.log(`${what}: accepted, but the recipient did not confirm it (is it connected?)`);
    else if (e instanceof TimeoutError) console.log(`${what}: no answer in time (${e.message})`);
    else throw e;
  }
}

// send: resolves once the verifier accepted it and bob's client confirmed it holds it
await step('alice sends bob a note', async () => {
  const ack = await alice.send('bob', 'note.send', { text: 'hello bob' });
  // bob acknowledges it: alice reads her inbox until the ack comes (a break stops reading)
  for await (const msg of alice.inbox()) if (msg.type === 'note.ack' && msg.payload.received === ack.msgId) break;
  return `delivered and acknowledged, msg ${ack.msgId}`;
});
// request: send, then wait for the message that answers it
await step('alice asks bob a question', async () => {
  const answer = await alice.request('bob', 'question.ask', { question: 'what is six times seven?' }, { timeoutMs: 5000 });
  // the answer is any message of the registry: its type narrows its payload
  return answer.type === 'question.answer' ? `bob answered: ${answer.payload.answer}` : `bob answered with ${answer.type}`;
});
// alice's manifest does not let her send question.answer: the verifier refuses it
await step('alice forges an answer', async () => {
  await alice.send('bob', 'question.answer', { answer: 'forged' });
  return 'delivered (it should not have been)';
});
// a payload that breaks its contract does not compile (tsc names the field); forced through,
// it never leaves the SDK either
await step('alice sends a malformed note', async () => {
  // @ts-expect-error text must be a string: this line is the compile error tsc reports without this comment
  await alice.send('bob', 'note.send', { text: 42 });
  return 'delivered (it should not have been)';
});

await alice.close();
await bob.close();
await bobDone;
