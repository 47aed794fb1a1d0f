/** A user's presence. */
export interface PresenceRecord {
  userId: string;
  /** True while at least one connection of the user is live (heartbeat within its TTL). */
  online: boolean;
  /**
   * When the user was last online (ms since epoch); undefined when never seen.
   * Moves forward on every heartbeat; when the user goes offline it is the time the
   * last connection ended (disconnect) or expired (end of its TTL).
   */
  lastSeenMs?: number;
}

/** Undoes a subscription. Calling it more than once is harmless. */
export type Unsubscribe = () => void;

/**
 * Presence, ephemeral per-user messages (typing) and rate limits. Implementations:
 * memory (`createMemoryPresenceStore`) and Redis (`@parley/presence-redis`); all
 * pass `describePresenceStore` from `@parley/testkit`.
 *
 * After {@link PresenceStore.close}, the promise-returning methods reject and the
 * subscribing methods throw.
 */
export interface PresenceStore {
  /**
   * Marks a connection of the user live for `ttlMs`; call again before it runs
   * out (heartbeat). The user is online while any connection is live.
   */
  heartbeat(userId: string, connectionId: string, ttlMs: number): Promise<void>;
  /** Marks a connection gone; the user goes offline when it was the last one. */
  disconnect(userId: string, connectionId: string): Promise<void>;
  /**
   * Presence of each user, in the order asked (duplicates answered again). Exact at
   * the time of the call: a connection whose TTL has run out no longer counts, even
   * before watchers have been told.
   */
  getPresence(userIds: string[]): Promise<PresenceRecord[]>;
  /**
   * Calls `listener` whenever one of `userIds` goes online or offline: transitions
   * only, never a repeat of the current state. An expired TTL is reported some time
   * after it runs out (implementations sweep periodically).
   */
  watch(userIds: string[], listener: (presence: PresenceRecord) => void): Unsubscribe;
  /**
   * Sends an ephemeral payload (e.g. a typing event) to every subscriber of the
   * user. Not stored: subscribers that join later do not get it.
   */
  publish(userId: string, payload: Uint8Array): Promise<void>;
  /** Receives the user's ephemeral payloads (bytes exactly as published) while subscribed. */
  subscribe(userId: string, listener: (payload: Uint8Array) => void): Unsubscribe;
  /**
   * Counts one hit against `key` in a fixed window; resolves false when the
   * limit is already reached (the hit is not allowed, and is not counted). A window
   * starts with the first hit on a key and lasts `windowMs`; the next hit after it
   * starts a new one.
   */
  hit(key: string, limit: number, windowMs: number): Promise<boolean>;
  /** Releases resources (timers, connections). Later calls fail with a clear error. */
  close(): Promise<void>;
}
