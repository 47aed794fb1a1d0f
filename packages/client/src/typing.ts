/** How long a received typing indicator lasts unless repeated (as on the server). */
export const TYPING_EXPIRY_MS = 6_000;
/** How often a continuing "typing" is sent at most. */
export const TYPING_THROTTLE_MS = 3_000;

/**
 * Who is typing where, from TypingEvents: each indicator expires after
 * {@link TYPING_EXPIRY_MS} unless repeated. `onChange` is called with the new
 * list of a conversation whenever it changes.
 */
export class TypingTracker {
  private readonly typers = new Map<string, Map<string, ReturnType<typeof setTimeout>>>();

  constructor(
    private readonly me: string,
    private readonly onChange: (conversationId: string, userIds: string[]) => void,
  ) {}

  list(conversationId: string): string[] {
    return [...(this.typers.get(conversationId)?.keys() ?? [])];
  }

  receive(conversationId: string, userId: string, typing: boolean): void {
    if (userId === this.me) return;
    let users = this.typers.get(conversationId);
    const existing = users?.get(userId);
    if (existing) clearTimeout(existing);
    if (!typing) {
      if (!existing || !users) return;
      users.delete(userId);
      if (users.size === 0) this.typers.delete(conversationId);
      this.onChange(conversationId, this.list(conversationId));
      return;
    }
    if (!users) {
      users = new Map();
      this.typers.set(conversationId, users);
    }
    const timer = setTimeout(() => this.receive(conversationId, userId, false), TYPING_EXPIRY_MS);
    users.set(userId, timer);
    if (!existing) this.onChange(conversationId, this.list(conversationId));
  }

  clear(): void {
    for (const users of this.typers.values()) for (const timer of users.values()) clearTimeout(timer);
    this.typers.clear();
  }
}

/**
 * Throttles the user's own indicator: `true` is sent at most once per
 * {@link TYPING_THROTTLE_MS} while typing continues; `false` is sent at once,
 * and only when a `true` was sent.
 */
export class TypingThrottle {
  private readonly lastSent = new Map<string, number>();

  constructor(private readonly send: (conversationId: string, typing: boolean) => void) {}

  set(conversationId: string, typing: boolean, now = Date.now()): void {
    const last = this.lastSent.get(conversationId);
    if (typing) {
      if (last !== undefined && now - last < TYPING_THROTTLE_MS) return;
      this.lastSent.set(conversationId, now);
      this.send(conversationId, true);
      return;
    }
    if (last === undefined) return;
    this.lastSent.delete(conversationId);
    this.send(conversationId, false);
  }

  clear(): void {
    this.lastSent.clear();
  }
}
