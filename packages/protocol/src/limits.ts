/** Limits every Parley server enforces and every client can check before sending. */
export const LIMITS = {
  /** Longest message text, in characters (UTF-16 code units are not used: code points count). */
  maxTextLength: 4000,
  /** Longest client-generated id. */
  maxClientIdLength: 64,
  /** Longest user id; user ids use [A-Za-z0-9_.@-]. */
  maxUserIdLength: 64,
  /** Longest group title. */
  maxTitleLength: 200,
  /** Longest reaction emoji or short code. */
  maxEmojiLength: 32,
  /** Most members in a group. */
  maxGroupMembers: 1000,
  /** Largest history page. */
  maxHistoryLimit: 200,
  /** History page size when none is given. */
  defaultHistoryLimit: 50,
  /** Largest conversation list page. */
  maxConversationLimit: 200,
  /** Most users in one presence request. */
  maxPresenceUsers: 200,
} as const;

const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;

/** True when `id` is a well-formed user id: 1-64 characters of [A-Za-z0-9_.@-]. */
export function isValidUserId(id: string): boolean {
  return USER_ID.test(id);
}

const CLIENT_ID = /^[\x21-\x7e]{1,64}$/;

/** True when `id` is a well-formed client-generated id: 1-64 printable ASCII characters. */
export function isValidClientId(id: string): boolean {
  return CLIENT_ID.test(id);
}

/** The length of `text` in code points, as the server counts it against {@link LIMITS.maxTextLength}. */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
