/**
 * Lets several clients of one user in one browser profile (its tabs) share one
 * server connection. One instance is the leader: it holds the sync stream and
 * sends the outbox. The others receive what the leader applies through
 * {@link TabCoordinator.broadcast} and write their mutations to the shared store.
 *
 * `@parley/client-web` implements it with Web Locks and BroadcastChannel;
 * {@link createSoloCoordinator} is the single-instance one (Node, tests).
 */
export interface TabCoordinator {
  /**
   * Starts taking part. `onLeader` is called once, when this instance becomes the
   * leader (at once for a solo coordinator); `onMessage` receives what other
   * instances broadcast, in the order they sent it.
   */
  start(handlers: TabCoordinatorHandlers): void;
  /** Sends a structured-clonable message to every other instance (not to this one). */
  broadcast(message: unknown): void;
  /** Leaves: gives up the leadership, if held, so another instance takes over. */
  close(): Promise<void>;
}

/** Callbacks for {@link TabCoordinator.start}. */
export interface TabCoordinatorHandlers {
  onLeader(): void;
  onMessage(message: unknown): void;
}

/** A coordinator for a client that is alone: it leads at once and has no one to talk to. */
export function createSoloCoordinator(): TabCoordinator {
  return {
    start(handlers) {
      queueMicrotask(() => handlers.onLeader());
    },
    broadcast() {},
    async close() {},
  };
}
