// Compile-time tests of the SDK's typing from the contract registry (issue 14). Checked by
// `npm run typecheck` (root tsconfig includes test/), never run: every `@ts-expect-error` line
// MUST fail to compile, so a regression that loosens the types (e.g. payloads back to
// `unknown`) fails typecheck ("Unused '@ts-expect-error' directive").
// test/sdk-types.test.ts runs tsc on a wrong call and checks the diagnostic itself.
import { z } from 'zod';
import { connectAgent, createRegistry, defineMessage, registryFromModule } from '@agentbus/sdk';
import type { AgentClient, ContractRegistry, InboundMessage, InboundOf, InputFor, PayloadFor, PayloadOf, TypesOf } from '@agentbus/sdk';

const NoteSend = defineMessage('note.send', z.object({ text: z.string() }));
const TaskAssign = defineMessage('task.assign', z.object({ title: z.string(), priority: z.number().int().default(1) }));
const TaskResult = defineMessage('task.result', z.object({ ok: z.boolean(), note: z.string().optional() }));
const contracts = createRegistry(NoteSend, TaskAssign, TaskResult);
type Reg = typeof contracts;

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_ok?: T): void {}

// --- the helper types ---
expectType<Equal<TypesOf<Reg>, 'note.send' | 'task.assign' | 'task.result'>>();
expectType<Equal<PayloadFor<Reg, 'note.send'>, { text: string }>>();
expectType<Equal<PayloadOf<typeof NoteSend>, { text: string }>>();
// a field with a default is optional for the sender and present for the receiver
expectType<Equal<InputFor<Reg, 'task.assign'>, { title: string; priority?: number | undefined }>>();
expectType<Equal<PayloadFor<Reg, 'task.assign'>, { title: string; priority: number }>>();
expectType<Equal<InboundOf<Reg>['type'], TypesOf<Reg>>>();
// an untyped registry stays fully permissive: string types, unknown payloads
expectType<Equal<TypesOf<ContractRegistry>, string>>();
expectType<Equal<PayloadFor<ContractRegistry, 'any.type'>, unknown>>();
expectType<Equal<InboundOf<ContractRegistry>, InboundMessage>>();

export async function typed(): Promise<void> {
  const agent = await connectAgent({ servers: 'nats://localhost:4222', credentials: 'x.json', contracts, verifyEndToEnd: false });
  expectType<Equal<typeof agent, AgentClient<Reg>>>();

  // --- what must compile ---
  await agent.send('bob', 'note.send', { text: 'hi' });
  await agent.send('bob', 'task.assign', { title: 't' }); // priority has a default
  await agent.publish('news', 'note.send', { text: 'hi' });

  // --- what must not compile ---
  // @ts-expect-error wrong payload field
  await agent.send('bob', 'note.send', { txt: 1 });
  // @ts-expect-error wrong payload field type
  await agent.send('bob', 'note.send', { text: 1 });
  // @ts-expect-error missing payload field
  await agent.send('bob', 'note.send', {});
  // @ts-expect-error unknown type
  await agent.send('bob', 'note.sned', { text: 'hi' });
  // @ts-expect-error a plain string is not one of the registry's types
  await agent.send('bob', 'note.send' as string, { text: 'hi' });
  // @ts-expect-error the payload of another type
  await agent.publish('news', 'note.send', { title: 't' });
  // @ts-expect-error unknown type
  await agent.publish('news', 'nope', {});
  // @ts-expect-error wrong payload
  await agent.request('bob', 'task.assign', { title: 1 });
  // @ts-expect-error unknown type
  await agent.request('bob', 'task.unknown', { title: 't' });

  // --- the inbox narrows the payload by type ---
  for await (const msg of agent.inbox()) {
    if (msg.type === 'note.send') {
      expectType<Equal<typeof msg.payload, { text: string }>>();
      const t: string = msg.payload.text;
      // @ts-expect-error note.send has no title
      void msg.payload.title;
      void t;
    }
    switch (msg.type) {
      case 'task.assign':
        expectType<Equal<typeof msg.payload, { title: string; priority: number }>>();
        await agent.reply(msg, 'task.result', { ok: msg.payload.priority > 0 });
        // @ts-expect-error wrong reply payload
        await agent.reply(msg, 'task.result', { ok: 'yes' });
        // @ts-expect-error unknown reply type
        await agent.reply(msg, 'task.done', { ok: true });
        break;
      case 'task.result':
        expectType<Equal<typeof msg.payload, { ok: boolean; note?: string | undefined }>>();
        break;
      case 'note.send':
        expectType<Equal<typeof msg.payload, { text: string }>>();
        break;
      default:
        expectType<Equal<typeof msg, never>>(); // the switch is exhaustive
    }
    // @ts-expect-error not every message is a note.send
    void msg.payload.text;
    // @ts-expect-error no such type in the registry
    if (msg.type === 'note.sned') void 0;
  }

  // --- subscribe is async and yields the same typed messages ---
  const news = await agent.subscribe('news');
  for await (const msg of news) {
    if (msg.type === 'task.result') expectType<Equal<typeof msg.payload.ok, boolean>>();
  }
  // @ts-expect-error subscribe returns a promise: await it first
  for await (const _msg of agent.subscribe('news')) void _msg;

  // --- request: the answer is the union of the registry's messages, narrowed by type ---
  const answer = await agent.request('bob', 'task.assign', { title: 't' });
  expectType<Equal<typeof answer, InboundOf<Reg>>>();
  if (answer.type === 'task.result') {
    const ok: boolean = answer.payload.ok;
    void ok;
  }

  // a typed client is still an AgentClient (helpers that take any client keep working)
  const any: AgentClient = agent;
  void any;
}

export async function untyped(mod: Record<string, unknown>): Promise<void> {
  // an untyped registry (the verifier's and CLI's registryFromModule): anything goes, payloads unknown
  const reg = registryFromModule(mod);
  const agent = await connectAgent({ servers: 'nats://localhost:4222', credentials: 'x.json', contracts: reg, verifyEndToEnd: false });
  const type: string = 'whatever.type';
  await agent.send('bob', type, { any: 'thing' });
  await agent.publish('news', 'x.y', 42);
  const answer = await agent.request('bob', type, null);
  expectType<Equal<typeof answer.payload, unknown>>();
  expectType<Equal<typeof answer.type, string>>();
  for await (const msg of agent.inbox()) {
    expectType<Equal<typeof msg, InboundMessage>>();
    await agent.reply(msg, type, {});
  }
}
