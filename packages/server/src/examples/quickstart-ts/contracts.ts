// The message types of this project: one module, loaded by your agents and by the verifier
// (`agentbus dev` loads the compiled dist/contracts.js and reloads it when `tsc` rewrites it).
// Each type is a name and a zod schema; the client's send, request and inbox are typed from them.
import { defineMessage, createRegistry } from '@agentbus/sdk';
import { z } from 'zod';

export const NoteSend = defineMessage('note.send', z.strictObject({ text: z.string().max(2000) }));
export const NoteAck = defineMessage('note.ack', z.strictObject({ received: z.string() }));
export const QuestionAsk = defineMessage('question.ask', z.strictObject({ question: z.string().max(500) }));
export const QuestionAnswer = defineMessage('question.answer', z.strictObject({ answer: z.string().max(2000) }));

export const contracts = createRegistry(NoteSend, NoteAck, QuestionAsk, QuestionAnswer);
