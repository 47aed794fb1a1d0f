/** Reconnect timing, normalised from `ParleyClientOptions.reconnect`. */
export interface BackoffOptions {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * Exponential backoff with full jitter: a random delay in
 * [0, min(max, initial · 2^attempt)).
 */
export function backoffDelay(
  options: BackoffOptions,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Resolves after `ms`, or earlier when `signal` aborts or `wake` is called
 * through the returned handle. Never rejects.
 */
export function interruptibleSleep(
  ms: number,
  signal?: AbortSignal,
): { promise: Promise<void>; wake(): void } {
  let wake: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
    wake = done;
  });
  return { promise, wake: () => wake() };
}
