/** Resolves after `ms` milliseconds. Only for letting something NOT happen, never for correctness. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `cond` (sync or async) every `intervalMs` until it returns a truthy value,
 * which is returned; rejects with `message` (or a default) after `timeoutMs`.
 * Errors thrown by `cond` count as "not yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  timeoutMs = 5_000,
  message = "condition",
  intervalMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await cond();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const suffix = lastError === undefined ? "" : `; last error: ${String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${suffix}`);
    }
    await sleep(intervalMs);
  }
}
