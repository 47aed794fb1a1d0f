import { callListeners } from "./listeners.js";
import type { PresenceRecord, PresenceStore, Unsubscribe } from "./port.js";

/** Options for {@link createMemoryPresenceStore}. */
export interface MemoryPresenceStoreOptions {
  /** Clock in ms since epoch, for tests. @defaultValue `Date.now` */
  now?: () => number;
  /**
   * How often expired connections are swept and watchers told about users gone
   * offline. Reads ({@link PresenceStore.getPresence}) are exact regardless.
   * @defaultValue 1000
   */
  sweepIntervalMs?: number;
  /**
   * Called when a `watch` or `subscribe` listener throws; the other listeners are
   * called anyway. @defaultValue reports the error with `console.error`
   */
  onListenerError?: (error: unknown) => void;
}

interface WindowCounter {
  endsAtMs: number;
  count: number;
}

/**
 * A {@link PresenceStore} that lives in this process: presence, typing fan-out and
 * rate limits for one embedded server (the cluster uses `@parley/presence-redis`).
 * Nothing is persisted.
 *
 * @example
 * ```ts
 * const presence = createMemoryPresenceStore();
 * await presence.heartbeat("alice", "tab-1", 30_000);
 * const [alice] = await presence.getPresence(["alice"]); // { userId: "alice", online: true, ... }
 * await presence.close();
 * ```
 */
export function createMemoryPresenceStore(options: MemoryPresenceStoreOptions = {}): PresenceStore {
  const now = options.now ?? Date.now;
  const sweepIntervalMs = options.sweepIntervalMs ?? 1000;
  const onListenerError =
    options.onListenerError ??
    ((error: unknown) => console.error("parley presence: a listener threw", error));
  if (!(sweepIntervalMs > 0)) throw new RangeError("sweepIntervalMs must be a positive number");

  /** userId → connectionId → expiry (ms since epoch). Only users with connections. */
  const connections = new Map<string, Map<string, number>>();
  /** Users last reported online (to watchers); drives transitions. */
  const online = new Set<string>();
  const lastSeen = new Map<string, number>();
  const watchers = new Map<string, Set<(presence: PresenceRecord) => void>>();
  const subscribers = new Map<string, Set<(payload: Uint8Array) => void>>();
  const counters = new Map<string, WindowCounter>();
  let closed = false;

  const sweepTimer = setInterval(sweep, sweepIntervalMs);
  sweepTimer.unref?.();

  function ensureOpen(op: string): void {
    if (closed) throw new Error(`unable to ${op}; presence store is closed`);
  }

  const callAll = <T>(listeners: Iterable<(value: T) => void> | undefined, value: T): void =>
    callListeners(listeners, value, onListenerError);

  function record(userId: string, at: number): PresenceRecord {
    const conns = connections.get(userId);
    let isOnline = false;
    let seen = lastSeen.get(userId);
    if (conns) {
      for (const expiresAt of conns.values()) {
        if (expiresAt > at) isOnline = true;
        // An expired connection not yet swept: the user was online until it expired.
        else if (seen === undefined || expiresAt > seen) seen = expiresAt;
      }
    }
    return seen === undefined ? { userId, online: isOnline } : { userId, online: isOnline, lastSeenMs: seen };
  }

  function notify(userId: string): void {
    const listeners = watchers.get(userId);
    if (!listeners || listeners.size === 0) return;
    callAll(listeners, record(userId, now()));
  }

  function markOffline(userId: string, seenAt: number): void {
    connections.delete(userId);
    const previous = lastSeen.get(userId);
    if (previous === undefined || seenAt > previous) lastSeen.set(userId, seenAt);
    if (online.delete(userId)) notify(userId);
  }

  /** Drops the user's expired connections; reports the user offline when none is left. */
  function settle(userId: string, at: number): void {
    const conns = connections.get(userId);
    if (!conns) return;
    let lastExpiry: number | undefined;
    for (const [connectionId, expiresAt] of conns) {
      if (expiresAt <= at) {
        conns.delete(connectionId);
        if (lastExpiry === undefined || expiresAt > lastExpiry) lastExpiry = expiresAt;
      }
    }
    if (conns.size === 0) markOffline(userId, lastExpiry ?? at);
  }

  function sweep(): void {
    if (closed) return;
    const at = now();
    for (const userId of [...connections.keys()]) settle(userId, at);
    for (const [key, counter] of counters) if (counter.endsAtMs <= at) counters.delete(key);
  }

  function addListener<T>(map: Map<string, Set<T>>, key: string, listener: T): () => void {
    let set = map.get(key);
    if (!set) {
      set = new Set();
      map.set(key, set);
    }
    set.add(listener);
    return () => {
      const current = map.get(key);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) map.delete(key);
    };
  }

  return {
    async heartbeat(userId, connectionId, ttlMs) {
      ensureOpen("heartbeat");
      if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
      const at = now();
      settle(userId, at);
      let conns = connections.get(userId);
      if (!conns) {
        conns = new Map();
        connections.set(userId, conns);
      }
      conns.set(connectionId, at + ttlMs);
      lastSeen.set(userId, Math.max(at, lastSeen.get(userId) ?? at));
      if (!online.has(userId)) {
        online.add(userId);
        notify(userId);
      }
    },

    async disconnect(userId, connectionId) {
      ensureOpen("disconnect");
      const at = now();
      const conns = connections.get(userId);
      if (!conns) return;
      const expiresAt = conns.get(connectionId);
      if (expiresAt === undefined) {
        settle(userId, at);
        return;
      }
      conns.delete(connectionId);
      // A connection that had already expired ended at its expiry, not now.
      const ended = Math.min(at, expiresAt);
      if (conns.size === 0) markOffline(userId, ended);
      else {
        const previous = lastSeen.get(userId);
        if (previous === undefined || ended > previous) lastSeen.set(userId, ended);
        settle(userId, at);
      }
    },

    async getPresence(userIds) {
      ensureOpen("getPresence");
      const at = now();
      return userIds.map((userId) => record(userId, at));
    },

    watch(userIds, listener): Unsubscribe {
      ensureOpen("watch");
      const removers = [...new Set(userIds)].map((userId) => addListener(watchers, userId, listener));
      return () => {
        for (const remove of removers.splice(0)) remove();
      };
    },

    async publish(userId, payload) {
      ensureOpen("publish");
      callAll(subscribers.get(userId), payload);
    },

    subscribe(userId, listener): Unsubscribe {
      ensureOpen("subscribe");
      return addListener(subscribers, userId, listener);
    },

    async hit(key, limit, windowMs) {
      ensureOpen("hit");
      if (!(windowMs > 0)) throw new RangeError(`windowMs must be a positive number, got ${windowMs}`);
      const at = now();
      let counter = counters.get(key);
      if (!counter || counter.endsAtMs <= at) {
        counter = { endsAtMs: at + windowMs, count: 0 };
        counters.set(key, counter);
      }
      if (counter.count >= limit) return false;
      counter.count += 1;
      return true;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      connections.clear();
      online.clear();
      lastSeen.clear();
      watchers.clear();
      subscribers.clear();
      counters.clear();
    },
  };
}
