import { ErrorReason, parleyError, reasonOf } from "@parley/protocol";
import { isSocketUnavailable } from "@parley/router";

/**
 * kafkajs errors that mean the cluster cannot be reached or cannot serve the request
 * right now (compared by `name`, which survives several copies of kafkajs).
 */
const UNAVAILABLE_NAMES = new Set([
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSNumberOfRetriesExceeded",
  "KafkaJSNoBrokerAvailableError",
  "KafkaJSBrokerNotFound",
  "KafkaJSMetadataNotLoaded",
  "KafkaJSTopicMetadataNotLoaded",
  "KafkaJSStaleTopicMetadataAssignment",
  "KafkaJSGroupCoordinatorNotFound",
  "KafkaJSTimeout",
  "KafkaJSLockTimeout",
]);

/**
 * Plain `Error` messages kafkajs throws for unavailability: a request on a broker whose
 * connection handshake (ApiVersions) timed out, after `connect()` resolved anyway.
 */
const UNAVAILABLE_MESSAGES = new Set(["Broker not connected"]);

interface KafkaJsLike {
  name: string;
  retriable?: unknown;
  type?: unknown;
  code?: unknown;
}

/**
 * True when `error` says Kafka is unreachable, too slow, or temporarily unable to serve
 * (a connection refused or closed, a request timeout, retries exhausted, no leader or
 * coordinator yet, not enough in-sync replicas, ...). kafkajs marks the transient
 * protocol errors `retriable`; errors it gave up retrying are
 * `KafkaJSNumberOfRetriesExceeded`.
 */
export function isKafkaUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const e = error as Error & KafkaJsLike;
  if (UNAVAILABLE_NAMES.has(e.name)) return true;
  if (isSocketUnavailable(e)) return true;
  if (UNAVAILABLE_MESSAGES.has(e.message)) return true;
  return e.name.startsWith("KafkaJS") && e.retriable === true;
}

/** The Kafka protocol error type (e.g. "UNKNOWN_TOPIC_OR_PARTITION") of `error` or its causes. */
export function kafkaErrorType(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const type = (current as Error & KafkaJsLike).type;
    if (typeof type === "string") return type;
    current = current.cause;
  }
  return undefined;
}

/**
 * The one place kafkajs errors become Parley errors. Unavailability (see
 * {@link isKafkaUnavailable}) becomes `DEPENDENCY_UNAVAILABLE`, which the server
 * answers with Connect `unavailable` (retryable); anything else Kafka refuses
 * (authorization, an invalid replication factor, a record too large) is a
 * misconfiguration or a bug and becomes `INTERNAL`. Errors that already carry a Parley
 * reason, and the log's own argument errors (`TypeError`, `RangeError`), pass through.
 *
 * @param operation - what failed, for the message: "unable to <operation>; ...".
 */
export function toParleyError(operation: string, error: unknown): Error {
  if (error instanceof Error && reasonOf(error) !== ErrorReason.UNSPECIFIED) return error;
  if (error instanceof TypeError || error instanceof RangeError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (isKafkaUnavailable(error)) {
    return parleyError(
      ErrorReason.DEPENDENCY_UNAVAILABLE,
      `unable to ${operation}; Kafka is unavailable (${detail})`,
      { cause: error },
    );
  }
  return parleyError(ErrorReason.INTERNAL, `unable to ${operation}; Kafka failed (${detail})`, {
    cause: error,
  });
}

/** The error every method of a closed log fails with. */
export function closedError(operation: string): Error {
  return parleyError(ErrorReason.SHUTTING_DOWN, `unable to ${operation}; the event log is closed`);
}
