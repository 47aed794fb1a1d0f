import {
  ErrorReason,
  isValidClientId,
  isValidUserId,
  LIMITS,
  parleyError,
  textLength,
} from "@parley/protocol";

const CONVERSATION_ID = /^[A-Za-z0-9_.@:-]{1,160}$/;

/**
 * Request checks shared by the handlers. Each throws an `invalid_argument`
 * Parley error naming the field; `op` completes "unable to <op>".
 */
export const check = {
  required(op: string, field: string, value: string | number): void {
    if (value === "" || value === 0) {
      throw parleyError(ErrorReason.FIELD_REQUIRED, `unable to ${op}; ${field} is required`, { field });
    }
  },
  conversationId(op: string, value: string, field = "conversation_id"): void {
    check.required(op, field, value);
    if (!CONVERSATION_ID.test(value)) {
      throw parleyError(ErrorReason.FIELD_INVALID, `unable to ${op}; ${field} is not a conversation id`, {
        field,
      });
    }
  },
  userId(op: string, value: string, field: string): void {
    check.required(op, field, value);
    if (!isValidUserId(value)) {
      throw parleyError(
        ErrorReason.FIELD_INVALID,
        `unable to ${op}; ${field} must be 1-${LIMITS.maxUserIdLength} characters of [A-Za-z0-9_.@-]`,
        { field },
      );
    }
  },
  /** Each id a valid user id, and at most `max` of them (else `reason`, e.g. GROUP_FULL). */
  userIds(op: string, ids: string[], field: string, max: number, reason: ErrorReason): void {
    if (ids.length > max) {
      throw parleyError(reason, `unable to ${op}; at most ${max} ${field}`, {
        field,
        metadata: { limit: String(max) },
      });
    }
    ids.forEach((id, i) => {
      check.userId(op, id, `${field}[${i}]`);
    });
  },
  clientId(op: string, value: string, field: string, required = true): void {
    if (!required && value === "") return;
    check.required(op, field, value);
    if (!isValidClientId(value)) {
      throw parleyError(
        ErrorReason.FIELD_INVALID,
        `unable to ${op}; ${field} must be 1-${LIMITS.maxClientIdLength} printable ASCII characters`,
        { field },
      );
    }
  },
  text(op: string, value: string, field = "text"): void {
    const length = textLength(value);
    if (length > LIMITS.maxTextLength) {
      throw parleyError(
        ErrorReason.TEXT_TOO_LONG,
        `unable to ${op}; ${field} is ${length} characters, more than ${LIMITS.maxTextLength}`,
        { field, metadata: { limit: String(LIMITS.maxTextLength), length: String(length) } },
      );
    }
  },
  title(op: string, value: string): void {
    check.required(op, "title", value.trim());
    if (textLength(value) > LIMITS.maxTitleLength) {
      throw parleyError(
        ErrorReason.FIELD_INVALID,
        `unable to ${op}; title is longer than ${LIMITS.maxTitleLength} characters`,
        { field: "title" },
      );
    }
  },
  emoji(op: string, value: string): void {
    check.required(op, "emoji", value);
    if (textLength(value) > LIMITS.maxEmojiLength || /\s/.test(value)) {
      throw parleyError(
        ErrorReason.FIELD_INVALID,
        `unable to ${op}; emoji must be 1-${LIMITS.maxEmojiLength} characters without spaces`,
        { field: "emoji" },
      );
    }
  },
  /** A page size: 0 means `fallback`; above `max` is an error. */
  limit(op: string, value: number, max: number, fallback: number, field = "limit"): number {
    if (value === 0) return fallback;
    if (value > max) {
      throw parleyError(ErrorReason.LIMIT_OUT_OF_RANGE, `unable to ${op}; ${field} must be at most ${max}`, {
        field,
        metadata: { limit: String(max) },
      });
    }
    return value;
  },
};
