// The TS client's half of bench/python.ts in a process of its own, as the Python client runs, so
// neither shares its CPU or event loop with the verifier (which runs in bench/python.ts's process).
// Prints one JSON line: { median_ms, p99_ms, per_s }.
//   node --import tsx bench/ts-send-proc.ts URL CREDS MANIFESTS RECIPIENT N WINDOW
import { connectAgent } from '../packages/sdk/src/index.js';
import { contracts } from '../test/helpers/contracts.js';

const [url, creds, manifestsDir, to, nS, windowS] = process.argv.slice(2) as [string, string, string, string, string, string];
const n = Number(nS);
const window = Number(windowS);
const a = await connectAgent({ servers: url, credentials: creds, manifestsDir, contracts });
const payload = { text: 'x'.repeat(200) };
const rtt: number[] = [];
for (let i = 0; i < n + 20; i++) {
  const t = performance.now();
  const r = await a.send(to, 'note.post', payload);
  if (!r.delivered) throw new Error('not confirmed');
  if (i >= 20) rtt.push(performance.now() - t);
}
rtt.sort((x, y) => x - y);
let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: window }, async () => {
    while (next++ < n * 4) await a.send(to, 'note.post', payload);
  }),
);
const perS = (n * 4) / ((performance.now() - t0) / 1000);
await a.close();
console.log(JSON.stringify({ median_ms: rtt[Math.floor(rtt.length / 2)], p99_ms: rtt[Math.min(rtt.length - 1, Math.floor(0.99 * rtt.length))], per_s: perS }));
