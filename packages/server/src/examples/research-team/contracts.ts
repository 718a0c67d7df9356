// Message contracts of the example scenario: a planner, a researcher, a coder, a reviewer and
// a deployer cooperating on a task, plus a browser agent that reads untrusted web pages.
// The verifier loads this module (`--contracts`) and so do the agents: one source of truth.
import { z } from 'zod';
import { defineMessage, createRegistry } from '@agentbus/sdk';

export const ResearchRequest = defineMessage('research.request', z.strictObject({ question: z.string().min(1).max(2000) }));
export const ResearchResult = defineMessage('research.result', z.strictObject({ summary: z.string().max(20_000), sources: z.array(z.url()).max(20) }));
export const BrowseRequest = defineMessage('browse.request', z.strictObject({ url: z.url() }));
/** May carry a ticket reference in the header (declared metadata; any other key is refused). */
export const TaskAssign = defineMessage('task.assign', z.strictObject({ title: z.string().min(1).max(200), details: z.string().max(20_000) }), { metadata: ['ticket_id'] });
export const CodePatch = defineMessage('code.patch', z.strictObject({ file: z.string().max(500), diff: z.string().max(200_000) }));
export const ReviewResult = defineMessage('review.result', z.strictObject({ approved: z.boolean(), comments: z.string().max(20_000) }));
/** Critical: the deployer acts on it, so the sender must record why (rationale, prompt_version). */
export const DeployRequest = defineMessage('deploy.request', z.strictObject({ service: z.string().min(1), version: z.string().min(1) }), { critical: true });
export const StatusNote = defineMessage('status.note', z.strictObject({ text: z.string().max(2000) }));

export const contracts = createRegistry(ResearchRequest, ResearchResult, BrowseRequest, TaskAssign, CodePatch, ReviewResult, DeployRequest, StatusNote);
