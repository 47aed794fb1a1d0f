import type { TabCoordinator, TabCoordinatorHandlers } from "../coordinator.js";

/** Coordinators of simulated tabs in one process; see {@link createLocalCoordinatorGroup}. */
export interface LocalCoordinatorGroup {
  /** A coordinator for one more tab. */
  create(): TabCoordinator;
  /** How many messages were broadcast so far (to check tabs do talk). */
  readonly broadcasts: number;
}

interface Member {
  handlers?: TabCoordinatorHandlers;
  closed: boolean;
}

/**
 * Tabs in one process, like Web Locks + BroadcastChannel: the first tab to start
 * leads; when the leader closes, the oldest remaining tab takes over. Messages
 * are structured-cloned (so anything unclonable fails here as in a browser) and
 * delivered asynchronously, in order, to every other started tab.
 */
export function createLocalCoordinatorGroup(): LocalCoordinatorGroup {
  const members: Member[] = [];
  let leader: Member | undefined;
  let broadcasts = 0;

  const elect = () => {
    if (leader && !leader.closed) return;
    leader = members.find((m) => !m.closed && m.handlers);
    const next = leader;
    if (next?.handlers) {
      const handlers = next.handlers;
      setTimeout(() => {
        if (!next.closed) handlers.onLeader();
      }, 0);
    }
  };

  return {
    get broadcasts() {
      return broadcasts;
    },
    create() {
      const self: Member = { closed: false };
      members.push(self);
      return {
        start(handlers) {
          self.handlers = handlers;
          elect();
        },
        broadcast(message) {
          if (self.closed) return;
          broadcasts += 1;
          const copy = structuredClone(message);
          for (const m of members) {
            if (m === self || m.closed || !m.handlers) continue;
            const handlers = m.handlers;
            setTimeout(() => {
              if (!m.closed) handlers.onMessage(structuredClone(copy));
            }, 0);
          }
        },
        async close() {
          if (self.closed) return;
          self.closed = true;
          if (leader === self) {
            leader = undefined;
            elect();
          }
        },
      };
    },
  };
}
