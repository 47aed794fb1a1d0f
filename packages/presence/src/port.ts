/** A user's presence. */
export interface PresenceRecord {
  userId: string;
  /** True while at least one connection of the user is live (heartbeat within its TTL). */
  online: boolean;
  /** When the user was last online (ms since epoch); undefined when never seen. */
  lastSeenMs?: number;
}

/** Undoes a subscription. */
export type Unsubscribe = () => void;

/**
 * Presence, ephemeral per-user messages (typing) and rate limits. Implementations:
 * memory (`createMemoryPresenceStore`) and Redis (`@parley/presence-redis`); all
 * pass `describePresenceStore` from `@parley/testkit`.
 */
export interface PresenceStore {
  /**
   * Marks a connection of the user live for `ttlMs`; call again before it runs
   * out (heartbeat). The user is online while any connection is live.
   */
  heartbeat(userId: string, connectionId: string, ttlMs: number): Promise<void>;
  /** Marks a connection gone; the user goes offline when it was the last one. */
  disconnect(userId: string, connectionId: string): Promise<void>;
  /** Presence of each user, in the order asked. */
  getPresence(userIds: string[]): Promise<PresenceRecord[]>;
  /** Calls `listener` whenever one of `userIds` goes online or offline. */
  watch(userIds: string[], listener: (presence: PresenceRecord) => void): Unsubscribe;
  /** Sends an ephemeral payload (e.g. a typing event) to every subscriber of the user. Not stored. */
  publish(userId: string, payload: Uint8Array): Promise<void>;
  /** Receives the user's ephemeral payloads while subscribed. */
  subscribe(userId: string, listener: (payload: Uint8Array) => void): Unsubscribe;
  /**
   * Counts one hit against `key` in a fixed window; resolves false when the
   * limit is already reached (the hit is not allowed).
   */
  hit(key: string, limit: number, windowMs: number): Promise<boolean>;
  /** Releases resources. */
  close(): Promise<void>;
}
