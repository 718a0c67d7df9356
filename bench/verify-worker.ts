// An experiment for issue 19 (not used by the verifier): what moving the Ed25519 checks to a
// worker thread would take off the main thread. The main thread packs batches of (public key,
// signing input, signature) into one SharedArrayBuffer-free transferable ArrayBuffer, a worker
// verifies them with libsodium and answers one byte per check. Measures verifies per second and
// the main thread's CPU per check, against verifying inline.
//   node --import tsx bench/verify-worker.ts [--json] [--n 40000] [--batch 64]
import { Worker, isMainThread } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const INPUT = 200; // a signing input the size of a 256 B message's header

// the worker: plain JavaScript (eval), so it needs no TypeScript loader
const WORKER = `
const { parentPort } = require('node:worker_threads');
const sodium = require(${JSON.stringify(createRequire(import.meta.url).resolve('sodium-native'))});
const REC = 32 + 64 + ${INPUT};
parentPort.on('message', (buf) => {
  const b = new Uint8Array(buf);
  const n = b.length / REC;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * REC;
    out[i] = sodium.crypto_sign_verify_detached(b.subarray(o + 32, o + 96), b.subarray(o + 96, o + REC), b.subarray(o, o + 32)) ? 1 : 0;
  }
  parentPort.postMessage(out.buffer, [out.buffer]);
});`;

if (isMainThread) {
  const arg = (k: string, d: number) => (process.argv.includes(`--${k}`) ? Number(process.argv[process.argv.indexOf(`--${k}`) + 1]) : d);
  const n = arg('n', 40000);
  const batch = arg('batch', 64);
  type Sodium = {
    crypto_sign_keypair(pk: Buffer, sk: Buffer): void;
    crypto_sign_detached(sig: Buffer, m: Buffer, sk: Buffer): void;
    crypto_sign_verify_detached(sig: Buffer, m: Buffer, pk: Buffer): boolean;
  };
  const sodium = createRequire(import.meta.url)('sodium-native') as Sodium;
  const pk = Buffer.alloc(32);
  const sk = Buffer.alloc(64);
  sodium.crypto_sign_keypair(pk, sk);
  const msg = Buffer.alloc(INPUT, 3);
  const sig = Buffer.alloc(64);
  sodium.crypto_sign_detached(sig, msg, sk);
  const rec = Buffer.concat([pk, sig, msg]);
  // the main thread's busy time: its event loop's active time (the workers' CPU is not in it)
  const elu = () => performance.eventLoopUtilization();
  const busyUs = (e0: ReturnType<typeof elu>) => performance.eventLoopUtilization(e0).active * 1000;
  // inline (one synchronous loop: its busy time is its wall time)
  let t0 = performance.now();
  for (let i = 0; i < n; i++) sodium.crypto_sign_verify_detached(sig, msg, pk);
  const inlineSecs = (performance.now() - t0) / 1000;
  const inlinePerS = n / inlineSecs;
  const inlineCpuUs = (inlineSecs * 1e6) / n;
  // worker pool of 1 and 2, `batch` checks per message, 8 batches in flight
  const results: Record<string, number> = { inline_verifies_per_s: inlinePerS, inline_main_cpu_us: inlineCpuUs };
  for (const workers of [1, 2]) {
    const pool = Array.from({ length: workers }, () => new Worker(WORKER, { eval: true }));
    await new Promise((r) => setTimeout(r, 500));
    let sent = 0;
    let done = 0;
    let next = 0;
    const batches = Math.ceil(n / batch);
    const e0 = elu();
    t0 = performance.now();
    await new Promise<void>((resolve) => {
      const send = () => {
        const b = new Uint8Array(batch * rec.length);
        for (let i = 0; i < batch; i++) b.set(rec, i * rec.length);
        const w = pool[next++ % workers]!;
        w.postMessage(b.buffer, [b.buffer]);
        sent++;
      };
      for (const w of pool)
        w.on('message', () => {
          done++;
          if (done === batches) resolve();
          else if (sent < batches) send();
        });
      for (let i = 0; i < Math.min(8 * workers, batches); i++) send();
    });
    const secs = (performance.now() - t0) / 1000;
    results[`worker${workers}_verifies_per_s`] = (batches * batch) / secs;
    results[`worker${workers}_main_cpu_us`] = busyUs(e0) / (batches * batch);
    for (const w of pool) await w.terminate();
  }
  if (process.argv.includes('--json')) for (const [name, value] of Object.entries(results)) console.log(JSON.stringify({ name: `verify_${name}`, value }));
  else for (const [k, v] of Object.entries(results)) console.log(k.padEnd(28), v.toFixed(k.endsWith('_us') ? 2 : 0));
}
