import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorReason, parleyDetail, REASONS, reasonName } from "@parley/protocol";

/** The name of a server {@link ErrorReason}, e.g. "NOT_A_MEMBER". */
export type ServerErrorReason = Exclude<keyof typeof ErrorReason, "UNSPECIFIED">;

/**
 * Why a Parley call failed: every server reason, plus the ones the SDK raises itself:
 *
 * - `NETWORK`: the server could not be reached or the connection dropped (retryable).
 * - `CLIENT_CLOSED`: the client was closed before or while the call ran.
 * - `USER_MISMATCH`: the token belongs to another user than `options.userId`.
 * - `TARGET_FAILED`: an edit, delete or reaction named a send that failed or was discarded.
 * - `UNKNOWN`: anything else (see `cause`).
 */
export type ParleyErrorReason =
  | ServerErrorReason
  | "NETWORK"
  | "CLIENT_CLOSED"
  | "USER_MISMATCH"
  | "TARGET_FAILED"
  | "UNKNOWN";

/** Options for the {@link ParleyError} constructor. */
export interface ParleyErrorInit {
  /** @defaultValue REASONS' code for server reasons; a fitting code for client reasons */
  code?: Code;
  /** @defaultValue REASONS' retryability for server reasons; true only for NETWORK otherwise */
  retryable?: boolean;
  /** The request field the error is about, as a dotted path. */
  field?: string;
  /** Extra machine-readable facts, e.g. "endpoint" for WRONG_GATEWAY. @defaultValue {} */
  metadata?: Record<string, string>;
  /** The underlying error. */
  cause?: unknown;
}

const CLIENT_CODES: Record<Exclude<ParleyErrorReason, ServerErrorReason>, Code> = {
  NETWORK: Code.Unavailable,
  CLIENT_CLOSED: Code.Canceled,
  USER_MISMATCH: Code.PermissionDenied,
  TARGET_FAILED: Code.FailedPrecondition,
  UNKNOWN: Code.Unknown,
};

function serverReason(reason: ParleyErrorReason): ErrorReason | undefined {
  if (reason in CLIENT_CODES) return undefined;
  return ErrorReason[reason as ServerErrorReason];
}

/**
 * The one error type of the SDK. Branch on {@link ParleyError.reason} (or use
 * {@link isParleyError}); {@link ParleyError.retryable} tells whether the same
 * request may succeed later unchanged.
 */
export class ParleyError extends Error {
  /** Why it failed. */
  readonly reason: ParleyErrorReason;
  /** True when retrying the same request later may succeed. */
  readonly retryable: boolean;
  /** The Connect code of the failure. */
  readonly code: Code;
  /** The request field the error is about, when there is one. */
  readonly field?: string;
  /** Extra machine-readable facts from the server. */
  readonly metadata: Record<string, string>;

  constructor(reason: ParleyErrorReason, message: string, init: ParleyErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "ParleyError";
    this.reason = reason;
    const server = serverReason(reason);
    const info = server === undefined ? undefined : REASONS[server];
    this.code = init.code ?? info?.code ?? CLIENT_CODES[reason as keyof typeof CLIENT_CODES] ?? Code.Unknown;
    this.retryable = init.retryable ?? info?.retryable ?? reason === "NETWORK";
    if (init.field) this.field = init.field;
    this.metadata = init.metadata ?? {};
  }
}

/** True when `err` is a {@link ParleyError} (with `reason`, when given). */
export function isParleyError(err: unknown, reason?: ParleyErrorReason): err is ParleyError {
  return err instanceof ParleyError && (reason === undefined || err.reason === reason);
}

/** Connect codes that, without a Parley detail, mean the server was not reached or the connection broke. */
const NETWORK_CODES = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Unknown,
  Code.Canceled,
  Code.Aborted,
]);

/**
 * Turns anything thrown by a transport, the store or the SDK into a {@link ParleyError}:
 * a Connect error with a Parley detail keeps the server's reason; Connect errors
 * without one that mean the server was not reached (unavailable, deadline
 * exceeded, unknown: what transports report for failed fetches) and aborts become
 * a retryable `NETWORK` error; anything else is `UNKNOWN`.
 */
export function toParleyError(err: unknown, operation = "complete the request"): ParleyError {
  if (err instanceof ParleyError) return err;
  if (err instanceof ConnectError) {
    const detail = parleyDetail(err);
    if (detail && detail.reason !== ErrorReason.UNSPECIFIED) {
      const name = reasonName(detail.reason);
      const reason = (name in ErrorReason ? name : "UNKNOWN") as ParleyErrorReason;
      return new ParleyError(reason, err.rawMessage, {
        code: err.code,
        retryable: REASONS[detail.reason]?.retryable ?? false,
        field: detail.field,
        metadata: { ...detail.metadata },
        cause: err,
      });
    }
    if (NETWORK_CODES.has(err.code)) {
      return new ParleyError("NETWORK", `unable to ${operation}; ${err.rawMessage || "the network failed"}`, {
        code: err.code,
        cause: err,
      });
    }
    if (err.code === Code.Internal) {
      return new ParleyError("INTERNAL", `unable to ${operation}; ${err.rawMessage}`, { cause: err });
    }
    return new ParleyError("UNKNOWN", `unable to ${operation}; ${err.rawMessage}`, {
      code: err.code,
      cause: err,
    });
  }
  if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) {
    return new ParleyError("NETWORK", `unable to ${operation}; ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ParleyError("UNKNOWN", `unable to ${operation}; ${message}`, { cause: err });
}

/** The error calls reject with after `close()`. */
export function closedError(operation: string): ParleyError {
  return new ParleyError("CLIENT_CLOSED", `unable to ${operation}; the client is closed`);
}
