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
  const byUser = new Map<string, Set<HubListener>>();
  let size = 0;
  return {
    subscribe(userId, listener) {
      let set = byUser.get(userId);
      if (!set) {
        set = new Set();
        byUser.set(userId, set);
      }
      set.add(listener);
      size++;
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        size--;
        const s = byUser.get(userId);
        s?.delete(listener);
        if (s && s.size === 0) byUser.delete(userId);
      };
    },
    publish(userId, events) {
      const set = byUser.get(userId);
      if (!set || events.length === 0) return;
      for (const listener of set) listener(events);
    },
    get size() {
      return size;
    },
    users() {
      return byUser.keys();
    },
  };
}
