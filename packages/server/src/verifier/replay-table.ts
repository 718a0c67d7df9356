// The verifier's replay memory: msg_id → (envelope fingerprint, depth) for every message accepted
// within the replay window, off the JavaScript heap.
//
// At thousands of messages per second the window holds hundreds of thousands of entries. As JS
// objects (a Map of hex strings to records, plus an expiry queue) they cost ~250 bytes each
// and, worse, the garbage collector walks them again and again: the heap grows and old-space
// collections lengthen the tail latency. Here each entry is 40 bytes in a Uint32Array, which the
// GC never scans.
//
// Expiry without per-entry deletes: two generations. New entries go into the current one; every
// `windowMs` the current becomes the previous and the previous is dropped. An entry therefore
// lives at least windowMs (and at most 2 × windowMs), which is all the replay check needs:
// anything older is rejected as stale by its timestamp.
//
// Open addressing with linear probing, capacity a power of two, grown ×2 above 60 % load. The
// slot index comes from a keyed mix of the msg_id (per-process random seeds), so a sender that
// chooses its msg_ids cannot aim them at one chain of slots.
import { randomBytes } from 'node:crypto';

const WORDS = 10; // state (0 free, 1 used, 2 used + delivery confirmed), id[4], fingerprint[4], depth
const MIN_CAPACITY = 1024;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const word = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

class Generation {
  slots: Uint32Array;
  mask: number;
  count = 0;
  constructor(capacity: number) {
    this.slots = new Uint32Array(capacity * WORDS);
    this.mask = capacity - 1;
  }
  get capacity(): number {
    return this.mask + 1;
  }
}

/** Outcome of `check`: absent, or present with the same or another envelope. */
export const ABSENT = -2;
export const OTHER_ENVELOPE = -1;

export class ReplayTable {
  readonly windowMs: number;
  #cur: Generation;
  #prev: Generation | undefined;
  #curStart: number;
  #seed = new Uint32Array(randomBytes(16).buffer.slice(0, 16));
  // scratch words of the id being looked up (no allocation per call)
  #id = new Uint32Array(4);

  constructor(windowMs: number, now = Date.now()) {
    this.windowMs = windowMs;
    this.#cur = new Generation(MIN_CAPACITY);
    this.#curStart = now;
  }

  /** Entries held (both generations; an id in both is counted twice). */
  get size(): number {
    return this.#cur.count + (this.#prev?.count ?? 0);
  }

  /** Bytes of the tables (off the JS heap). */
  get bytes(): number {
    return this.#cur.slots.byteLength + (this.#prev?.slots.byteLength ?? 0);
  }

  #load(id: Uint8Array): number {
    const w = this.#id;
    const s = this.#seed;
    w[0] = word(id, 0);
    w[1] = word(id, 4);
    w[2] = word(id, 8);
    w[3] = word(id, 12);
    return fmix32((w[0]! ^ s[0]!) + fmix32((w[1]! ^ s[1]!) + fmix32((w[2]! ^ s[2]!) + fmix32(w[3]! ^ s[3]!))));
  }

  /** Slot offset (in words) of the loaded id in g, or -1. */
  #find(g: Generation, h: number): number {
    const w = this.#id;
    const t = g.slots;
    for (let i = h & g.mask; ; i = (i + 1) & g.mask) {
      const o = i * WORDS;
      if (t[o] === 0) return -1;
      if (t[o + 1] === w[0] && t[o + 2] === w[1] && t[o + 3] === w[2] && t[o + 4] === w[3]) return o;
    }
  }

  // the table of the last successful #lookup (no allocation per call)
  #lt: Uint32Array = new Uint32Array(0);

  /** Slot offset of the id (in this.#lt), or -1. */
  #lookup(id: Uint8Array): number {
    if (id.length !== 16) return -1;
    const h = this.#load(id);
    let o = this.#find(this.#cur, h);
    if (o >= 0) {
      this.#lt = this.#cur.slots;
      return o;
    }
    if (this.#prev && (o = this.#find(this.#prev, h)) >= 0) {
      this.#lt = this.#prev.slots;
      return o;
    }
    return -1;
  }

  /**
   * For a msg_id and its envelope fingerprint (16 bytes): ABSENT, OTHER_ENVELOPE (a replay), or
   * the remembered depth (≥ 0: the same envelope again, a retry).
   */
  check(id: Uint8Array, fingerprint: Uint8Array): number {
    const o = this.#lookup(id);
    if (o < 0) return ABSENT;
    const t = this.#lt;
    for (let k = 0; k < 4; k++) if (t[o + 5 + k] !== word(fingerprint, k * 4)) return OTHER_ENVELOPE;
    return t[o + 9]!;
  }

  /** The depth remembered for a msg_id, if it is in the window. */
  depthOf(id: Uint8Array): number | undefined {
    const o = this.#lookup(id);
    return o < 0 ? undefined : this.#lt[o + 9];
  }

  /** Note that the recipient confirmed delivery of this msg_id (no-op if it is not remembered). */
  markDelivered(id: Uint8Array): void {
    const o = this.#lookup(id);
    if (o >= 0) this.#lt[o] = 2;
  }

  /** Did the recipient confirm this msg_id (as far as this verifier knows)? */
  delivered(id: Uint8Array): boolean {
    const o = this.#lookup(id);
    return o >= 0 && this.#lt[o] === 2;
  }

  /** Remember an accepted msg_id (no-op if it is already remembered). */
  add(id: Uint8Array, fingerprint: Uint8Array, depth: number): void {
    if (id.length !== 16 || fingerprint.length < 16) throw new RangeError('msg_id and fingerprint are 16 bytes');
    if (this.#lookup(id) >= 0) return;
    let g = this.#cur;
    if ((g.count + 1) * 10 > g.capacity * 6) g = this.#grow();
    const h = this.#load(id);
    const t = g.slots;
    let i = h & g.mask;
    while (t[i * WORDS] !== 0) i = (i + 1) & g.mask;
    const o = i * WORDS;
    t[o] = 1;
    t.set(this.#id, o + 1);
    for (let k = 0; k < 4; k++) t[o + 5 + k] = word(fingerprint, k * 4);
    t[o + 9] = depth >>> 0;
    g.count++;
  }

  #grow(): Generation {
    const old = this.#cur;
    const g = new Generation(old.capacity * 2);
    const s = old.slots;
    for (let o = 0; o < s.length; o += WORDS) {
      if (s[o] === 0) continue;
      // re-place by the stored id words
      const w = this.#id;
      const sd = this.#seed;
      w.set(s.subarray(o + 1, o + 5));
      const h = fmix32((w[0]! ^ sd[0]!) + fmix32((w[1]! ^ sd[1]!) + fmix32((w[2]! ^ sd[2]!) + fmix32(w[3]! ^ sd[3]!))));
      let i = h & g.mask;
      while (g.slots[i * WORDS] !== 0) i = (i + 1) & g.mask;
      g.slots.set(s.subarray(o, o + WORDS), i * WORDS);
      g.count++;
    }
    this.#cur = g;
    return g;
  }

  /** Call often (e.g. every second): starts a new generation once the current one is windowMs old. */
  rotate(now = Date.now()): boolean {
    if (now - this.#curStart < this.windowMs) return false;
    const dropped = this.#prev;
    const prev = this.#cur;
    this.#prev = prev;
    // size the new generation for the rate just seen: no growth steps in steady state
    let cap = MIN_CAPACITY;
    while (prev.count * 10 > cap * 6) cap *= 2;
    if (dropped && dropped.capacity === cap) {
      // steady state: reuse the dropped generation's memory (no 10s-of-MB allocation per window)
      dropped.slots.fill(0);
      dropped.count = 0;
      this.#cur = dropped;
    } else this.#cur = new Generation(cap);
    this.#curStart = now;
    return true;
  }
}
