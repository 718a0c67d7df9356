// decide() alone, in process: every sequence of protocol/vectors/decisions.json (one message per
// reason and the accepted paths), on the sodium backend, many rounds; prints the median and minimum over rounds of the ns per decision.
// For before/after measurements of a change to verifier/decide.ts: copy the old file next to it
// (e.g. decide-before.ts) and interleave runs of both:
//   node --import tsx bench/decide-micro.ts [module=../packages/server/src/verifier/decide.js] [rounds=400]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { backends } from '../packages/protocol/src/ed25519.js';
import { defineMessage, createRegistry } from '../packages/sdk/src/contracts.js';
import { Manifest, Policy } from '../packages/protocol/src/manifest.js';
import type * as Decide from '../packages/server/src/verifier/decide.js';

const mod = process.argv[2] ?? '../packages/server/src/verifier/decide.js';
const rounds = Number(process.argv[3] ?? 400);
const { decide, DecisionState, policySnapshot } = (await import(mod)) as typeof Decide;

interface Step {
  subject_sender: string;
  reply: string;
  partition?: number;
  now?: number;
  envelope: string;
}
const f = JSON.parse(readFileSync(join(import.meta.dirname, '../protocol/vectors/decisions.json'), 'utf8')) as {
  now: number;
  max_skew_ms: number;
  partitions: number;
  replay_window_ms: number;
  depth_key: string;
  manifests: unknown[];
  contracts: Record<string, { json_schema: Record<string, unknown>; metadata: string[]; required_metadata: string[] }>;
  sequences: { steps: Step[] }[];
};
const unhex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const policy = new Policy(f.manifests.map((m) => Manifest.parse(m)));
const contracts = createRegistry(
  ...Object.entries(f.contracts).map(([type, c]) =>
    defineMessage(type, z.fromJSONSchema(c.json_schema as Parameters<typeof z.fromJSONSchema>[0]), {
      metadata: c.metadata,
      requiredMetadata: c.required_metadata,
    }),
  ),
);
const backend = backends.sodium ?? backends.node!;
const snap = policySnapshot({ policy, contracts, maxSkewMs: f.max_skew_ms, partitions: f.partitions, backend });
const depthKey = unhex(f.depth_key);
const seqs = f.sequences.map((s) =>
  s.steps.map((st) => ({ data: unhex(st.envelope), subjectSender: st.subject_sender, reply: st.reply, now: st.now ?? f.now, partition: st.partition })),
);
const perRound = seqs.reduce((n, s) => n + s.length, 0);

/** One pass over every sequence, each with a fresh state (not timed): the ns spent in decide(). */
function round(): number {
  let ns = 0n;
  for (const s of seqs) {
    const state = new DecisionState({ replayWindowMs: f.replay_window_ms, depthKey, now: f.now });
    const t0 = process.hrtime.bigint();
    for (const input of s) decide(input, snap, state);
    ns += process.hrtime.bigint() - t0;
  }
  return Number(ns);
}
for (let i = 0; i < 50; i++) round(); // warm-up
// per round: ns per decision; the median and the minimum are robust to a shared machine's preemptions
const per: number[] = [];
for (let i = 0; i < rounds; i++) per.push(round() / perRound);
per.sort((a, b) => a - b);
console.log(
  JSON.stringify({ module: mod, backend: backend.name, decisions: rounds * perRound, medianNs: Math.round(per[per.length >> 1]!), minNs: Math.round(per[0]!) }),
);
