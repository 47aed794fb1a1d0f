import { ErrorReason, parleyError, reasonOf } from "@parley/protocol";
import { isSocketUnavailable } from "@parley/router";

/** Redis replies that mean "not now" (loading, failover, busy script, out of memory), not "wrong". */
const TRANSIENT_REPLIES = [
  "LOADING",
  "BUSY",
  "READONLY",
  "MASTERDOWN",
  "TRYAGAIN",
  "CLUSTERDOWN",
  "OOM",
  "NOREPLICAS",
  "MISCONF",
];

/** Messages ioredis rejects commands with while it has no usable connection. */
const CLIENT_MESSAGES = ["Command timed out", "Connection is closed", "Stream isn't writeable"];

/**
 * True when `err` says Redis is unreachable, too slow or temporarily refusing work:
 * a connection that failed or closed, a command timeout (`commandTimeout`), commands
 * flushed after `maxRetriesPerRequest` reconnection attempts, or a transient reply.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === "MaxRetriesPerRequestError" || err.name === "AbortError") return true;
  if (isSocketUnavailable(err)) return true;
  if (err.name === "ReplyError") return TRANSIENT_REPLIES.some((word) => err.message.startsWith(word));
  return CLIENT_MESSAGES.some((text) => err.message.startsWith(text));
}

/**
 * The one place ioredis errors become Parley errors. Unavailability (see
 * {@link isRedisUnavailable}) becomes `DEPENDENCY_UNAVAILABLE`, which the server
 * answers with Connect `unavailable` (retryable); anything else (a script error, a
 * key of the wrong type) is a bug or a misconfiguration and becomes `INTERNAL`.
 * Errors that already carry a Parley reason pass through unchanged.
 *
 * @param operation - what failed, for the message: "unable to <operation>; ...".
 */
export function toParleyError(operation: string, err: unknown): Error {
  if (err instanceof Error && reasonOf(err) !== ErrorReason.UNSPECIFIED) return err;
  const detail = err instanceof Error ? err.message : String(err);
  if (isRedisUnavailable(err)) {
    return parleyError(
      ErrorReason.DEPENDENCY_UNAVAILABLE,
      `unable to ${operation}; redis is unavailable (${detail})`,
      { cause: err },
    );
  }
  return parleyError(ErrorReason.INTERNAL, `unable to ${operation}; redis failed (${detail})`, {
    cause: err,
  });
}

/** The error every method of a closed store or map fails with. */
export function closedError(operation: string, what: string): Error {
  return parleyError(ErrorReason.SHUTTING_DOWN, `unable to ${operation}; ${what} is closed`);
}
