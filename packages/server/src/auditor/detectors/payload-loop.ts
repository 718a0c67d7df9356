// Loops as causal cycles (issue 18): follow causation ids through the chains the verifier
// recorded, and report a chain in which one agent sends the same payload to the same destination
// again, downstream of its own earlier copy: the agents between the two copies form a cycle that
// repeats a payload pattern (the other members' messages may vary). Pace does not matter (the window is hours, not a rate); identical
// payloads that are not causally linked (status pings, the same ack to many requests) are not a
// loop. One alert per cycle of agents (per cooldown), naming every agent in it, the one whose
// message opened the cycle first.
import { z } from 'zod';
import { windowEnd, windowStart } from './types.js';
import type { InputRequest } from './plugin.js';
import type { CausalLink, DetectorInput, Finding } from './types.js';
import { list, num, plural, strs } from './explain.js';
import type { AlertView, EvidenceQuery } from './explain.js';

export const rule = 'payload_loop';

export const schema = z.object({
  enabled: z.boolean().default(true),
  /** Causal chains are followed this far back (minutes): a slow loop still closes within it. */
  windowMinutes: z.number().int().min(1).max(2880).default(360),
  /** Copies of the repeated step in one chain at or above which it fires (2: one full cycle). */
  minRepeats: z.number().int().min(2).default(2),
});
export type PayloadLoopConfig = z.infer<typeof schema>;

/** Its window (chains come from `inputs`). */
export const lookbackMinutes = (_cfg: PayloadLoopConfig): number => 1;

export const inputs = (cfg: PayloadLoopConfig): InputRequest => ({ causalMinutes: cfg.windowMinutes });

const MAX_WALK = 256;
const stepOf = (l: CausalLink) => `${l.sender}>${l.destination}>${l.payloadSha256 || `type:${l.type}`}`;

interface Cycle {
  /** The chain's messages from the first copy of the repeated step to the last, in order. */
  path: CausalLink[];
  repeats: number;
}

/** For each message, the cycle it closes (if any): the nearest ancestor with the same step. */
export function findCycles(links: CausalLink[], minRepeats: number): Cycle[] {
  const byId = new Map(links.map((l) => [l.msgId, l]));
  const out: Cycle[] = [];
  const seen = new Set<string>();
  for (const l of links) {
    if (!l.causationId) continue;
    const step = stepOf(l);
    const path: CausalLink[] = [l];
    let repeats = 1;
    let first: number | undefined;
    const visited = new Set([l.msgId]);
    // chains are bounded by max_depth (≤ 256 is plenty); the walk is too
    for (let p = byId.get(l.causationId); p && !visited.has(p.msgId) && path.length <= MAX_WALK; p = p.causationId ? byId.get(p.causationId) : undefined) {
      visited.add(p.msgId);
      path.push(p);
      if (stepOf(p) === step) {
        repeats++;
        if (first === undefined) first = path.length;
      }
    }
    if (first === undefined || repeats < minRepeats) continue;
    // the cycle: from the nearest earlier copy down to this message
    const cycle = path.slice(0, first).reverse();
    const id = cycle.map((c) => c.msgId).join(',');
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ path: cycle, repeats });
  }
  return out;
}

export function detect(input: DetectorInput, cfg: PayloadLoopConfig): Finding[] {
  if (!cfg.enabled || input.links.length === 0) return [];
  const from = windowStart(input.now, cfg.windowMinutes);
  const to = windowEnd(input.now);
  // one finding per cycle of agents: several of its members may each close it (every step of a
  // ring repeats), and a member's replies may vary; the earliest-opened cycle speaks for it
  const groups = new Map<string, { rep: Cycle; repeats: number; payloads: Set<string> }>();
  for (const c of findCycles(input.links, cfg.minRepeats)) {
    const key = `${rule}:${[...new Set(c.path.map((l) => l.sender))].sort().join(',')}`;
    const g = groups.get(key);
    const pats = c.path.slice(0, -1).map((l) => l.payloadSha256 || `type:${l.type}`);
    if (!g) groups.set(key, { rep: c, repeats: c.repeats, payloads: new Set(pats) });
    else {
      if (c.path[0]!.time < g.rep.path[0]!.time) g.rep = c;
      g.repeats = Math.max(g.repeats, c.repeats);
      for (const p of pats) if (g.payloads.size < 16) g.payloads.add(p);
    }
  }
  const byKey = new Map<string, Finding>();
  for (const [key, { rep: c, repeats, payloads }] of groups) {
    // the cycle's agents once each, in the order they act, starting with the one whose message opened it
    const agents = [...new Set(c.path.slice(0, -1).map((l) => l.sender))];
    const last = c.path[c.path.length - 1]!;
    byKey.set(key, {
      rule,
      agents,
      windowStart: Math.max(from, Math.floor(c.path[0]!.time / 60_000) * 60_000),
      windowEnd: to,
      severity: repeats >= 4 || agents.length >= 3 ? 'high' : 'medium',
      evidence: {
        cycle: agents,
        hops: c.path.length - 1,
        repeats,
        payload_sha256: [...payloads].sort(),
        msg_ids: c.path.map((l) => l.msgId),
        types: [...new Set(c.path.map((l) => l.type))],
        first_at: new Date(c.path[0]!.time).toISOString(),
        last_at: new Date(last.time).toISOString(),
      },
      key,
    });
  }
  return [...byKey.values()];
}

/** The alert in one sentence (undefined: its evidence lacks what the sentence needs). */
export function describe(_who: string, ev: Record<string, unknown>, _dur: string, a: AlertView): string | undefined {
  const hops = num(ev['hops']);
  const cycle = strs(ev['cycle']).length ? strs(ev['cycle']) : a.agents;
  if (hops === undefined || cycle.length === 0) return undefined;
  const reps = num(ev['repeats']);
  const ring = [...cycle, cycle[0]!].join(' → ');
  return `A causal loop: ${ring} — the same message came round again after ${plural(hops, 'hop')}${reps && reps > 2 ? ` (${reps} times in one chain)` : ''}, each caused by the one before; agents ${list(cycle, 8)}`;
}

/** The raw rows of the cycle: its messages. */
export function evidence(a: AlertView, ev: Record<string, unknown>): EvidenceQuery | undefined {
  const ids = strs(ev['msg_ids']);
  if (!ids.length) return undefined;
  const senders = strs(ev['cycle']).length ? strs(ev['cycle']) : a.agents;
  return { where: `msg_id IN {ids:Array(String)}`, params: { ids }, from: `the messages of the cycle`, senders };
}
