import type { Presence } from "@parley/protocol";
import { backoffDelay, interruptibleSleep } from "./backoff.js";
import type { Core } from "./core.js";
import { toParleyError } from "./errors.js";

/**
 * Runs one WatchPresence stream for `userIds` until `signal` aborts, calling
 * `listener` with each presence; reconnects with backoff when the stream breaks.
 */
export async function watchPresenceLoop(
  core: Pick<Core, "rpc" | "options" | "logger">,
  userIds: string[],
  listener: (presence: Presence) => void,
  signal: AbortSignal,
): Promise<void> {
  let attempt = 0;
  while (!signal.aborted) {
    try {
      for await (const res of core.rpc.presence.watchPresence({ userIds }, { signal })) {
        attempt = 0;
        if (res.presence && !signal.aborted) listener(res.presence);
      }
    } catch (err) {
      if (signal.aborted) return;
      const error = toParleyError(err, "watch presence");
      core.logger.warn("presence watch failed; retrying", { reason: error.reason });
      if (!error.retryable && error.reason !== "TOKEN_EXPIRED") {
        // Bad input or a bad token does not get better by retrying quickly.
        attempt = Math.max(attempt, 6);
      }
    }
    if (signal.aborted) return;
    const sleep = interruptibleSleep(backoffDelay(core.options.reconnect, attempt), signal);
    attempt += 1;
    await sleep.promise;
  }
}
