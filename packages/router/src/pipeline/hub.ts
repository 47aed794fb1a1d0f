import type { UserEvent } from "@parley/history";

/** Receives a user's newly stored events, in position order. */
export type HubListener = (events: UserEvent[]) => void;

/**
 * The gateway hub: which live streams each user has in this process, and the
 * push of newly stored events to them.
 */
export interface Hub {
  /** Registers a live listener for the user. Returns an unsubscribe handle. */
  subscribe(userId: string, listener: HubListener): () => void;
  /** Pushes stored events to the user's live listeners. */
  publish(userId: string, events: UserEvent[]): void;
  /** Number of live listeners (streams) in this process. */
  readonly size: number;
  /** Users with at least one live listener. */
  users(): IterableIterator<string>;
}

/** An in-process {@link Hub}. */
export function createHub(): Hub {
  // A user's one listener is kept as is (the usual case: one device); a Set only from the second.
  const byUser = new Map<string, HubListener | Set<HubListener>>();
  let size = 0;
  const remove = (userId: string, listener: HubListener) => {
    const entry = byUser.get(userId);
    if (entry === listener) byUser.delete(userId);
    else if (entry instanceof Set) {
      entry.delete(listener);
      if (entry.size === 1) byUser.set(userId, entry.values().next().value as HubListener);
    }
  };
  return {
    subscribe(userId, listener) {
      const entry = byUser.get(userId);
      if (entry === undefined) byUser.set(userId, listener);
      else if (entry instanceof Set) entry.add(listener);
      else byUser.set(userId, new Set([entry, listener]));
      size++;
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        size--;
        remove(userId, listener);
      };
    },
    publish(userId, events) {
      const entry = byUser.get(userId);
      if (entry === undefined || events.length === 0) return;
      if (entry instanceof Set) for (const listener of entry) listener(events);
      else entry(events);
    },
    get size() {
      return size;
    },
    users() {
      return byUser.keys();
    },
  };
}
