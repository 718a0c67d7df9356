// The verifier's CPU per message, by stage (issue 30 item 1): the verifier alone at one payload
// size under a V8 CPU profile (node --cpu-prof, every thread: the event loop and the signature
// workers), each sample given to the stage of the innermost frame of ours on its stack (a
// protobufjs encode called by the audit publisher is the audit event's cost; a sample in nats.js
// with no frame of ours above it is the NATS client's own receive and send work).
//
//   npm run bench:budget [-- --bytes 256] [-- --messages 20000] [-- --json] [-- --files] [-- --functions]
//
// A worker thread's samples are all "signature (verify threads)"; on the main thread a frame of
// ours is staged by its file and, where a file holds several stages, its function (OURS below).
// --functions lists each stage's costliest leaf functions, to check the attribution.
//
// Prints µs of verifier CPU per message per stage, and each stage's share, over the samples taken
// during the measured run only (not start-up, warm-up or shutdown). Samples every 500 µs
// (--interval-us); idle samples are left out, so the sum approximates the CPU the verifier's
// threads spent, divided by the messages (on a loaded machine a descheduled thread's samples
// still land on its last stack: compare shares, not absolute µs, between runs).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Stage of a frame of ours, by source file and, where one file holds several stages, by function
 * (first match wins). A frame of ours nothing below matches is "other (ours): <file>". Stage ''
 * marks a helper shared by several stages: its caller's stage counts (the generated protobuf
 * code, SHA-256, the depth-token MAC, the Ed25519 signer the audit chain also uses).
 */
const OURS: [RegExp, RegExp | undefined, string][] = [
  [/\/protocol\/src\/gen\//, undefined, ''],
  [/\/protocol\/src\/envelope\.ts$/, /^sha256$/, ''],
  [/\/protocol\/src\/depth-token\.ts$/, /^hmacSha512_256$/, ''],
  [/\/protocol\/src\/ed25519\.ts$/, /^sign$/, ''],
  // the audit event: built (decide.ts auditEventOf), its id, the group commit and its encoding
  [/\/verifier\/decide\.ts$/, /^(auditEventOf|memoryOfSafe|memoryOf)$/, 'audit event'],
  [/\/verifier\/context\.ts$/, /^nextEventId$/, 'audit event'],
  [/\/verifier\/audit-publisher\.ts$|\/common\/audit/, undefined, 'audit event'],
  // the sender's answer (the Ack), and the recipient's confirmation coming back
  [/\/verifier\/context\.ts$/, /^answer$/, 'answer (ack to the sender)'],
  [/\/verifier\/delivery\.ts$/, /^(deliver|#forward|#sweepDeliveries)$/, 'forward'],
  [/\/verifier\/delivery\.ts$/, undefined, 'confirmation (recipient, delivery record)'],
  // forwarding: the NATS headers, the depth token, the publish (finish.ts acts on the decision)
  [/\/protocol\/src\/depth-token\.ts$/, /^mint$/, 'forward'],
  [/\/verifier\/finish\.ts$/, undefined, 'forward'],
  [/\/verifier\/(intake|verifier|context|partitions?)\.ts$|\/common\/partitions\.ts$/, undefined, 'intake (subscriptions, dispatch)'],
  [/\/protocol\/src\/(envelope|proto|header-view)\.ts$/, undefined, 'envelope and header view'],
  [/\/protocol\/src\/verify-pool\.ts$/, undefined, 'signature hand-off (event loop side)'],
  [/\/protocol\/src\/ed25519\.ts$|\/verifier\/verify-/, undefined, 'signature'],
  [/\/protocol\/src\/guard\//, undefined, 'guards'],
  [/\/verifier\/replay-table\.ts$/, undefined, 'replay table'],
  [/\/verifier\/shedding\.ts$/, undefined, 'shedding'],
  [
    /\/verifier\/(decide|checks|approvals)\.ts$|\/protocol\/src\/(tools|memory)\/|\/protocol\/src\/(manifest.*|json-strict|metadata|schema.*|depth-token|glob|visible|enforce)\.ts$|\/sdk\/src\/contracts\.ts$/,
    undefined,
    'policy checks (and the payload schema)',
  ],
  [/\/common\/metrics\.ts$/, undefined, 'metrics'],
];
/** Libraries whose samples count as their caller's; with no caller of ours, as these stages. */
const LIBS: [RegExp, string][] = [
  [/@nats-io\//, 'NATS client (receive, send)'],
  [/protobufjs/, 'envelope and header view'],
  [/sodium|noble/, 'signature'],
  [/pino|thread-stream/, 'logging'],
  [/prom-client/, 'metrics'],
];
/** Every sample of a thread other than the main one: a verify thread's (libsodium, framing, messaging), or another's (a logger). */
const VERIFY_THREAD_STAGE = 'signature (verify threads)';
const OTHER_THREAD_STAGE = 'other threads';

function stageOf(p: Profile): Map<number, string> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const stage = (id: number): string => {
    const hit = memo.get(id);
    if (hit) return hit;
    const own = (n: ProfileNode): string | undefined => {
      const { url, functionName } = n.callFrame;
      if (functionName === '(garbage collector)') return 'GC';
      if (functionName === '(idle)') return '(idle)';
      if (url.includes('/packages/') && !url.includes('node_modules')) {
        for (const [re, fn, s] of OURS) if (re.test(url) && (!fn || fn.test(functionName))) return s || undefined;
        return `other (ours): ${url.replace(/^.*\/packages\//, '')}`;
      }
      return undefined;
    };
    // the innermost frame of ours on the stack
    let cur: number | undefined = id;
    let lib: string | undefined;
    let out: string | undefined;
    while (cur !== undefined) {
      const n = byId.get(cur)!;
      const s = own(n);
      if (s) {
        out = s;
        break;
      }
      if (!lib) for (const [re, l] of LIBS) if (re.test(n.callFrame.url)) lib = l;
      cur = parent.get(cur);
    }
    const leaf = byId.get(id)!.callFrame;
    out ??= lib ?? (leaf.functionName === '(program)' ? 'V8 and runtime' : leaf.url.startsWith('node:') ? 'Node internals' : 'other');
    memo.set(id, out);
    return out;
  };
  const m = new Map<number, string>();
  for (const n of p.nodes) m.set(n.id, stage(n.id));
  return m;
}

/**
 * µs per stage over every profile file in `dir` (one per thread), counting only the samples taken
 * within [from, to] (µs of the monotonic clock V8 and process.hrtime share on Linux): the measured
 * run, not the start-up or the shutdown. A worker thread's samples (not idle) are all its
 * thread's stage (VERIFY_THREAD_STAGE if it loaded libsodium). `leaves` (if given) gets µs per stage and leaf function ("name file"), to check
 * the attribution (--functions).
 */
export function stageBudget(dir: string, from = 0, to = Infinity, leaves?: Map<string, Map<string, number>>): Map<string, number> {
  const total = new Map<string, number>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile;
    // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread
    const worker = f.split('.')[4] !== '0' ? (p.nodes.some((n) => /sodium/.test(n.callFrame.url)) ? VERIFY_THREAD_STAGE : OTHER_THREAD_STAGE) : undefined;
    const stages = stageOf(p);
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    let t = p.startTime;
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0;
      t += dt;
      let s = stages.get(id)!;
      if (s === '(idle)' || t < from || t > to) return;
      if (worker) s = worker;
      total.set(s, (total.get(s) ?? 0) + dt);
      if (leaves) {
        const cf = byId.get(id)!;
        const leaf = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(node_modules|packages)\//, '')}`;
        let m = leaves.get(s);
        if (!m) leaves.set(s, (m = new Map()));
        m.set(leaf, (m.get(leaf) ?? 0) + dt);
      }
    });
  }
  return total;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, d: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : d;
  };
  const bytes = arg('bytes', 256);
  const n = arg('messages', 20_000);
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-prof-'));
  process.env.BENCH_PROFILE_DIR = dir;
  process.env.BENCH_VERIFIER_NODE_FLAGS = [process.env.BENCH_VERIFIER_NODE_FLAGS ?? '', `--cpu-prof-interval=${arg('interval-us', 500)}`].join(' ');
  const { startBenchBus, spawnService, stopChild, presign, throughput, waitServed, confirmingReceiver } = await import('./bus.js');
  const bus = await startBenchBus();
  let perSec = 0;
  let from = 0;
  let to = 0;
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  try {
    const sender = await bus.rawAgent('planner');
    await confirmingReceiver(bus);
    const verifier = await spawnService(bus, 'verifier');
    await waitServed(bus, ['planner']);
    await throughput(sender, presign(bus, 2000, bytes)); // warm-up (JIT), outside the window
    const envs = presign(bus, n, bytes);
    from = nowUs();
    const v = await throughput(sender, envs);
    to = nowUs();
    perSec = v.perSec;
    await stopChild(verifier); // the profile is written when the process exits
  } finally {
    await bus.stop();
  }
  const leaves = new Map<string, Map<string, number>>();
  const budget = stageBudget(dir, from, to, leaves);
  rmSync(dir, { recursive: true, force: true });
  if (budget.size === 0) throw new Error('no profile samples within the measured run (is the monotonic clock shared?)');
  const msgs = n;
  const sum = [...budget.values()].reduce((a, b) => a + b, 0);
  // files of ours with no stage: one row "other (ours)", the files listed under it with --files
  const files = [...budget.entries()].filter(([k]) => k.startsWith('other (ours): '));
  for (const [k, us] of files) {
    budget.delete(k);
    budget.set('other (ours)', (budget.get('other (ours)') ?? 0) + us);
  }
  const rows = [...budget.entries()].sort((a, b) => b[1] - a[1]).map(([stage, us]) => ({ stage, us_per_msg: us / msgs, share: us / sum }));
  if (process.argv.includes('--json'))
    console.log(JSON.stringify({ bytes, messages: msgs, msgs_per_s: Math.round(perSec), us_per_msg: sum / msgs, stages: rows }));
  else {
    console.log(`verifier CPU per message at ${bytes} B: ${(sum / msgs).toFixed(1)} µs (${msgs} messages; ${Math.round(perSec)} msgs/s)`);
    console.log('| stage | µs / msg | share |\n| --- | ---: | ---: |');
    for (const r of rows) console.log(`| ${r.stage} | ${r.us_per_msg.toFixed(1)} | ${(r.share * 100).toFixed(1)} % |`);
    if (process.argv.includes('--functions'))
      for (const r of rows) {
        const top = [...(leaves.get(r.stage) ?? [])].sort((a, b) => b[1] - a[1]).slice(0, 8);
        console.log(`  ${r.stage}: ${top.map(([f, us]) => `${f} ${(us / msgs).toFixed(1)}`).join(' · ')}`);
      }
    if (process.argv.includes('--files'))
      for (const [k, us] of files.sort((a, b) => b[1] - a[1])) console.log(`  ${k.slice('other (ours): '.length)}: ${(us / msgs).toFixed(1)} µs`);
  }
  process.exit(0);
}
