import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorReason, type ParleyErrorDetail, ParleyErrorDetailSchema } from "./gen/parley/v1/errors_pb.js";

/** How each reason travels on the wire and whether a client should retry it. */
export interface ReasonInfo {
  /** The Connect code the server answers with. */
  readonly code: Code;
  /** True when the same request may succeed later unchanged. */
  readonly retryable: boolean;
}

/** The one table of Parley error reasons: their Connect code and retryability. */
export const REASONS: Readonly<Record<ErrorReason, ReasonInfo>> = {
  [ErrorReason.UNSPECIFIED]: { code: Code.Unknown, retryable: false },
  [ErrorReason.TOKEN_MISSING]: { code: Code.Unauthenticated, retryable: false },
  [ErrorReason.TOKEN_INVALID]: { code: Code.Unauthenticated, retryable: false },
  [ErrorReason.TOKEN_EXPIRED]: { code: Code.Unauthenticated, retryable: true },
  [ErrorReason.FIELD_REQUIRED]: { code: Code.InvalidArgument, retryable: false },
  [ErrorReason.FIELD_INVALID]: { code: Code.InvalidArgument, retryable: false },
  [ErrorReason.TEXT_TOO_LONG]: { code: Code.InvalidArgument, retryable: false },
  [ErrorReason.LIMIT_OUT_OF_RANGE]: { code: Code.InvalidArgument, retryable: false },
  [ErrorReason.SEQ_OUT_OF_RANGE]: { code: Code.InvalidArgument, retryable: false },
  [ErrorReason.CURSOR_INVALID]: { code: Code.InvalidArgument, retryable: false },
  [ErrorReason.CONVERSATION_NOT_FOUND]: { code: Code.NotFound, retryable: false },
  [ErrorReason.MESSAGE_NOT_FOUND]: { code: Code.NotFound, retryable: false },
  [ErrorReason.NOT_A_MEMBER]: { code: Code.PermissionDenied, retryable: false },
  [ErrorReason.NOT_AUTHOR]: { code: Code.PermissionDenied, retryable: false },
  [ErrorReason.NOT_ADMIN]: { code: Code.PermissionDenied, retryable: false },
  [ErrorReason.DIRECT_CONVERSATION]: { code: Code.FailedPrecondition, retryable: false },
  [ErrorReason.MESSAGE_DELETED]: { code: Code.FailedPrecondition, retryable: false },
  [ErrorReason.GROUP_FULL]: { code: Code.FailedPrecondition, retryable: false },
  [ErrorReason.RESYNC_REQUIRED]: { code: Code.FailedPrecondition, retryable: false },
  [ErrorReason.RATE_LIMITED]: { code: Code.ResourceExhausted, retryable: true },
  [ErrorReason.WRONG_GATEWAY]: { code: Code.Unavailable, retryable: true },
  [ErrorReason.DEPENDENCY_UNAVAILABLE]: { code: Code.Unavailable, retryable: true },
  [ErrorReason.SHUTTING_DOWN]: { code: Code.Unavailable, retryable: true },
  [ErrorReason.DEV_LOGIN_DISABLED]: { code: Code.PermissionDenied, retryable: false },
  [ErrorReason.INTERNAL]: { code: Code.Internal, retryable: true },
};

/** Options for {@link parleyError}. */
export interface ParleyErrorOptions {
  /** The request field the error is about, as a dotted path. */
  field?: string;
  /** Extra machine-readable facts. */
  metadata?: Record<string, string>;
  /** The underlying error, kept for logs. */
  cause?: unknown;
}

/**
 * A ConnectError carrying a {@link ParleyErrorDetail}, with the Connect code the
 * reason maps to. `message` should read "unable to <operation>; <reason>".
 */
export function parleyError(
  reason: ErrorReason,
  message: string,
  options: ParleyErrorOptions = {},
): ConnectError {
  const detail = create(ParleyErrorDetailSchema, {
    reason,
    field: options.field ?? "",
    metadata: options.metadata ?? {},
  });
  return new ConnectError(
    message,
    REASONS[reason].code,
    undefined,
    [{ desc: ParleyErrorDetailSchema, value: detail }],
    options.cause,
  );
}

/** The Parley detail of an error, if it carries one. */
export function parleyDetail(err: unknown): ParleyErrorDetail | undefined {
  const connectErr = ConnectError.from(err);
  return connectErr.findDetails(ParleyErrorDetailSchema)[0];
}

/** The Parley reason of an error, or {@link ErrorReason.UNSPECIFIED} when it has none. */
export function reasonOf(err: unknown): ErrorReason {
  return parleyDetail(err)?.reason ?? ErrorReason.UNSPECIFIED;
}

/** The name of a reason, e.g. "TEXT_TOO_LONG". */
export function reasonName(reason: ErrorReason): string {
  return ErrorReason[reason] ?? `UNKNOWN_${reason}`;
}
