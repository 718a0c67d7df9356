// An async iterator fed by push() (which never awaits), in the shape of nats.js's
// QueuedIterator: `for await` drains it, `break` runs the cleanup, `closed` says how it ended.
/** An async iterator fed by push() (what inbox() and subscribe() return): `for await` reads it, `break` ends it. */
export class MessageQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #wake: (() => void) | undefined;
  #done = false;
  #error: Error | undefined;
  #onClose: (() => void) | undefined;
  #resolveClosed!: (v: void | Error) => void;
  readonly closed: Promise<void | Error>;

  constructor(onClose?: () => void) {
    this.#onClose = onClose;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }

  /** Add an item (never blocks; dropped after the queue ended). */
  push(item: T): void {
    if (this.#done) return;
    this.#items.push(item);
    this.#wake?.();
  }

  /** True once stopped (a `break` out of the iteration, or stop()): push() then drops items. */
  get done(): boolean {
    return this.#done;
  }

  get pending(): number {
    return this.#items.length;
  }

  /** End the iteration (after the queued items are drained). */
  stop(err?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = err;
    this.#wake?.();
    const cb = this.#onClose;
    this.#onClose = undefined;
    cb?.();
    this.#resolveClosed(err);
  }

  /** `for await (const x of queue)`: items as they come; `break` ends the queue. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        while (this.#items.length) yield this.#items.shift()!;
        if (this.#done) {
          if (this.#error) throw this.#error;
          return;
        }
        await new Promise<void>((r) => (this.#wake = r));
        this.#wake = undefined;
      }
    } finally {
      // `break` out of for-await lands here: stop and clean up.
      this.stop();
    }
  }
}
