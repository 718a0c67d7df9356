// The message contracts of the test bus (also loaded by a verifier child process via the CLI).
import { z } from 'zod';
import { defineMessage, createRegistry } from '../../packages/sdk/src/contracts.js';

export const Task = defineMessage('task.assign', z.object({ title: z.string().min(1), priority: z.number().int().min(0).max(5).default(1) }), {
  metadata: ['ticket_id'],
});
export const Result = defineMessage('task.result', z.object({ ok: z.boolean(), note: z.string().optional() }));
export const Deploy = defineMessage('deploy.request', z.object({ service: z.string() }), { critical: true });
export const Note = defineMessage('note.post', z.object({ text: z.string().max(100_000) }));
export const contracts = createRegistry(Task, Result, Deploy, Note);
