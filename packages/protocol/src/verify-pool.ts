/**
 * Ed25519 envelope checks on worker threads (issue 19): the verifier's event loop hands the
 * signature check of each message to a libsodium worker and goes on with other messages, so one
 * verifier process uses a second core for the one step that costs the most.
 *
 * The acceptance rule is the one of every backend (ed25519.ts): `acceptable()` runs here, on the
 * calling thread, before anything is sent; the worker runs libsodium's
 * crypto_sign_verify_detached (non-compat mode: the same rule again, natively, and the
 * cofactorless equation), exactly what the sodium backend does inline.
 *
 * Batching adapts to the load: a check goes to an idle worker at the end of the current task
 * (one socket read's worth of messages at once); while every worker is busy, checks queue and
 * leave together, at most BATCH_MAX a batch, when one comes back. At low load a check waits
 * for nothing but its own verification and two thread hops.
 *
 * Framing of a batch (one transferred ArrayBuffer): per check [u16 LE header length][32 B key]
 * [64 B signature][header]; the worker prepends the signing domain. The answer: one byte per
 * check (1 valid, 0 not), in order.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { acceptable } from './ed25519.js';
import { SIGNING_DOMAIN } from './envelope.js';

/** Checks per batch at most: bounds a batch's time in the worker (~64 × 70 µs ≈ 4.5 ms). */
const BATCH_MAX = 64;
const REC_FIXED = 2 + 32 + 64;

/** true: valid; false: not valid; undefined: not checked (the pool closed or its worker died): check inline. */
export type VerifyDone = (ok: boolean | undefined) => void;
type Done = VerifyDone;

interface Lane {
  worker: Worker;
  /** The callbacks of the batches sent to this worker and not answered yet, oldest first. */
  waiting: Done[][];
}

function workerSource(sodiumPath: string): string {
  return `
const { parentPort } = require('node:worker_threads');
const sodium = require(${JSON.stringify(sodiumPath)});
const DOMAIN = Buffer.from(${JSON.stringify(Buffer.from(SIGNING_DOMAIN).toString('base64'))}, 'base64');
const scratch = Buffer.alloc(DOMAIN.length + 65536);
DOMAIN.copy(scratch, 0);
parentPort.on('message', (buf) => {
  const b = Buffer.from(buf);
  const out = new Uint8Array(b.readUInt16LE(0));
  let o = 2;
  for (let i = 0; i < out.length; i++) {
    const n = b.readUInt16LE(o);
    const key = b.subarray(o + 2, o + 34);
    const sig = b.subarray(o + 34, o + 98);
    b.copy(scratch, DOMAIN.length, o + 98, o + 98 + n);
    let ok = false;
    try { ok = sodium.crypto_sign_verify_detached(sig, scratch.subarray(0, DOMAIN.length + n), key) === true; } catch { ok = false; }
    out[i] = ok ? 1 : 0;
    o += 98 + n;
  }
  parentPort.postMessage(out.buffer, [out.buffer]);
});`;
}

export class VerifyPool {
  readonly threads: number;
  #lanes: Lane[];
  #idle: Lane[];
  /** Checks not sent yet: their records and callbacks. */
  #recs: Uint8Array[] = [];
  #dones: Done[] = [];
  #scheduled = false;
  #closed = false;
  /** Checks handed to the pool and not answered yet (tests, metrics). */
  pending = 0;

  private constructor(sodiumPath: string, threads: number) {
    this.threads = threads;
    const src = workerSource(sodiumPath);
    this.#lanes = Array.from({ length: threads }, () => {
      const lane: Lane = { worker: new Worker(src, { eval: true, name: 'agentbus-verify' }), waiting: [] };
      lane.worker.on('message', (buf: ArrayBuffer) => this.#answered(lane, new Uint8Array(buf)));
      // a worker that dies answers its checks "not checked": the caller verifies them inline
      lane.worker.on('error', (e) => this.#lost(lane, e));
      lane.worker.unref();
      return lane;
    });
    this.#idle = [...this.#lanes];
  }

  /** A pool of `threads` workers, or undefined when sodium-native cannot be loaded here. */
  static create(threads: number): VerifyPool | undefined {
    if (!Number.isInteger(threads) || threads < 1) return undefined;
    let path: string;
    try {
      const require = createRequire(import.meta.url);
      path = require.resolve('sodium-native');
      require(path); // loads here: the workers will too
    } catch {
      return undefined;
    }
    return new VerifyPool(path, threads);
  }

  /** Called with the error when a worker dies (its unanswered checks are answered undefined). */
  onError: ((e: Error) => void) | undefined;

  /**
   * Check `signature` over SIGNING_DOMAIN || header under `publicKey`; `done` gets the verdict
   * (always asynchronously). A check the acceptance rule's pre-checks refuse never leaves this
   * thread.
   */
  submit(publicKey: Uint8Array, header: Uint8Array, signature: Uint8Array, done: Done): void {
    this.pending++;
    if (this.#closed || header.length > 0xffff || !acceptable(publicKey, signature)) {
      const ok = this.#closed || header.length > 0xffff ? undefined : false;
      queueMicrotask(() => {
        this.pending--;
        done(ok);
      });
      return;
    }
    const rec = new Uint8Array(REC_FIXED + header.length);
    rec[0] = header.length & 0xff;
    rec[1] = header.length >>> 8;
    rec.set(publicKey, 2);
    rec.set(signature, 34);
    rec.set(header, REC_FIXED);
    this.#recs.push(rec);
    this.#dones.push(done);
    if (!this.#scheduled && this.#idle.length) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    while (this.#recs.length && this.#idle.length) {
      const lane = this.#idle.pop()!;
      // split what is queued evenly over the idle workers, at most BATCH_MAX each
      const n = Math.min(BATCH_MAX, Math.ceil(this.#recs.length / (this.#idle.length + 1)));
      const recs = this.#recs.splice(0, n);
      const dones = this.#dones.splice(0, n);
      let size = 2;
      for (const r of recs) size += r.length;
      const buf = new Uint8Array(size);
      buf[0] = n & 0xff;
      buf[1] = n >>> 8;
      let o = 2;
      for (const r of recs) {
        buf.set(r, o);
        o += r.length;
      }
      lane.waiting.push(dones);
      lane.worker.ref(); // a check in flight keeps the process alive; an idle pool does not
      lane.worker.postMessage(buf.buffer, [buf.buffer]);
    }
  };

  #answered(lane: Lane, out: Uint8Array): void {
    const dones = lane.waiting.shift();
    if (lane.waiting.length === 0) {
      lane.worker.unref();
      this.#idle.push(lane);
    }
    if (dones) {
      for (let i = 0; i < dones.length; i++) {
        this.pending--;
        dones[i]!(out[i] === 1);
      }
    }
    if (this.#recs.length) this.#flush();
  }

  #lost(lane: Lane, e: Error): void {
    this.#lanes = this.#lanes.filter((l) => l !== lane);
    this.#idle = this.#idle.filter((l) => l !== lane);
    const lost = lane.waiting.splice(0).flat();
    this.onError?.(e);
    // never a verdict without a verification: the caller checks these inline
    for (const d of lost) {
      this.pending--;
      d(undefined);
    }
    if (!this.#lanes.length) this.#closed = true;
    else if (this.#recs.length) this.#flush();
  }

  /** Stop the workers (checks not answered yet are answered undefined: not checked). */
  async close(): Promise<void> {
    this.#closed = true;
    const lanes = this.#lanes;
    this.#lanes = [];
    this.#idle = [];
    for (const d of this.#dones.splice(0)) {
      this.pending--;
      d(undefined);
    }
    this.#recs = [];
    for (const l of lanes) {
      for (const d of l.waiting.splice(0).flat()) {
        this.pending--;
        d(undefined);
      }
    }
    await Promise.all(lanes.map((l) => l.worker.terminate()));
  }
}
