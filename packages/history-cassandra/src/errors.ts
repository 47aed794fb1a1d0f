import { ErrorReason, parleyError, reasonOf } from "@parley/protocol";
import cassandra from "cassandra-driver";

const { errors, types } = cassandra;

/**
 * Server error codes that mean "not now" rather than "wrong": too few replicas
 * alive, a replica overloaded or bootstrapping, or replicas that did not answer in
 * time or failed to apply the request.
 */
const UNAVAILABLE_CODES = new Set<number>([
  types.responseErrorCodes.unavailableException,
  types.responseErrorCodes.overloaded,
  types.responseErrorCodes.isBootstrapping,
  types.responseErrorCodes.truncateError,
  types.responseErrorCodes.writeTimeout,
  types.responseErrorCodes.readTimeout,
  types.responseErrorCodes.readFailure,
  types.responseErrorCodes.writeFailure,
  // CAS_WRITE_UNKNOWN (protocol v5): a lightweight transaction whose outcome is unknown.
  0x1700,
]);

/**
 * True when `err` says Cassandra cannot serve the request right now: no node could
 * be reached (cassandra-driver's `errors.NoHostAvailableError`, which also wraps refused and
 * timed-out connections), a request got no answer in time
 * (`errors.OperationTimedOutError`), every connection was busy, or a node
 * answered with one of the availability errors above.
 */
export function isCassandraUnavailable(err: unknown): boolean {
  if (
    err instanceof errors.NoHostAvailableError ||
    err instanceof errors.OperationTimedOutError ||
    err instanceof errors.BusyConnectionError
  ) {
    return true;
  }
  if (err instanceof errors.ResponseError) return UNAVAILABLE_CODES.has(err.code);
  // A socket that failed under a request surfaces as a plain error with a Node code.
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === "string" && /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH)$/.test(code)
  );
}

/**
 * The one place cassandra-driver errors become Parley errors. Unavailability (see
 * {@link isCassandraUnavailable}) becomes `DEPENDENCY_UNAVAILABLE`, which the server
 * answers with Connect `unavailable` (retryable) and which makes the worker and the
 * inbox consumer leave the record to be redelivered. Anything else (invalid CQL, a
 * schema that does not match, bad arguments) is a bug or a misconfiguration and
 * becomes `INTERNAL`. Errors that already carry a Parley reason pass through.
 *
 * @param operation - what failed, for the message "unable to <operation>; ...".
 */
export function toParleyError(operation: string, err: unknown): Error {
  if (err instanceof Error && reasonOf(err) !== ErrorReason.UNSPECIFIED) return err;
  const detail = describe(err);
  if (isCassandraUnavailable(err)) {
    return parleyError(
      ErrorReason.DEPENDENCY_UNAVAILABLE,
      `unable to ${operation}; cassandra is unavailable (${detail})`,
      { cause: err },
    );
  }
  return parleyError(ErrorReason.INTERNAL, `unable to ${operation}; ${detail}`, { cause: err });
}

/** A one-line description of a driver error (NoHostAvailableError lists each host's error). */
function describe(err: unknown): string {
  if (err instanceof errors.NoHostAvailableError && err.innerErrors && typeof err.innerErrors === "object") {
    const hosts = Object.entries(err.innerErrors as Record<string, unknown>).map(
      ([host, inner]) => `${host}: ${inner instanceof Error ? inner.message : String(inner)}`,
    );
    if (hosts.length > 0) return `no host could serve the request; ${hosts.join("; ")}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The error every method of a closed store fails with. */
export function closedError(operation: string): Error {
  return parleyError(ErrorReason.SHUTTING_DOWN, `unable to ${operation}; the history store is closed`);
}
