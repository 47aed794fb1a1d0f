/**
 * An unbounded async queue feeding a server stream: producers push, the stream
 * handler iterates until the signal aborts or the queue is failed.
 */
export class AsyncQueue<T> {
  private items: T[] = [];
  private waiter: (() => void) | undefined;
  private error: unknown;
  private done = false;

  constructor(signal: AbortSignal) {
    if (signal.aborted) this.done = true;
    else signal.addEventListener("abort", () => this.end(), { once: true });
  }

  push(item: T): void {
    if (this.done) return;
    this.items.push(item);
    this.wake();
  }

  /** Ends iteration with an error. */
  fail(error: unknown): void {
    if (this.done) return;
    this.error = error;
    this.end();
  }

  /** Ends iteration after the items already queued. */
  end(): void {
    this.done = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  // A plain async iterator rather than an async generator: one object less per live stream.
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }

  /** The next item, waiting for one; done once the queue ended and is drained. */
  async next(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.error !== undefined) throw this.error;
      if (this.items.length > 0) return { done: false, value: this.items.shift() as T };
      if (this.done) return { done: true, value: undefined };
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }
}
