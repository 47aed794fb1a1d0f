/**
 * Sync cursors. A cursor is opaque to clients; inside it is the position in the
 * user's event stream (a per-user sequence number assigned by the single owner of
 * the user's inbox partition). Position 0 means "before the first event".
 */

const PREFIX = "c1.";

/** Thrown by {@link decodeCursor} for a string that is not a Parley cursor. */
export class InvalidCursorError extends Error {
  constructor(cursor: string) {
    super(`not a Parley sync cursor: ${JSON.stringify(cursor.slice(0, 40))}`);
    this.name = "InvalidCursorError";
  }
}

/** Encodes a user-event position as an opaque cursor string. */
export function encodeCursor(position: number): string {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new RangeError(`cursor position must be a non-negative safe integer, got ${position}`);
  }
  return PREFIX + position.toString(36);
}

/** Decodes a cursor made by {@link encodeCursor}; throws {@link InvalidCursorError} otherwise. */
export function decodeCursor(cursor: string): number {
  if (!cursor.startsWith(PREFIX)) throw new InvalidCursorError(cursor);
  const body = cursor.slice(PREFIX.length);
  if (!/^[0-9a-z]{1,11}$/.test(body)) throw new InvalidCursorError(cursor);
  const position = Number.parseInt(body, 36);
  if (!Number.isSafeInteger(position)) throw new InvalidCursorError(cursor);
  return position;
}
