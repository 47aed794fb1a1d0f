import {
  type ClientLogger,
  createSoloCoordinator,
  type TabCoordinator,
  type TabCoordinatorHandlers,
} from "@parley/client";

/** Options for {@link createWebLocksCoordinator}. */
export interface WebLocksCoordinatorOptions {
  /**
   * The Web Lock and BroadcastChannel name. Tabs that use the same name share
   * one leader; use one name per user and server (e.g. the IndexedDB name).
   */
  name: string;
  /**
   * Where to report that the browser lacks Web Locks or BroadcastChannel.
   * @defaultValue silent
   */
  logger?: Pick<ClientLogger, "warn">;
}

/**
 * A {@link TabCoordinator} for the tabs of one browser profile. The leader is the
 * tab holding the Web Lock `name` (`navigator.locks.request`), which it keeps
 * until {@link TabCoordinator.close} or until the page is hidden (`pagehide`: the
 * tab closes, reloads or navigates away); the browser then grants the lock to the
 * next waiting tab, which becomes the leader. A tab that crashes loses the lock
 * too. `pagehide` ends the coordinator for good: if the browser later restores the
 * page from its back/forward cache, the coordinator stays closed (and logs a
 * warning), so apps that allow that cache should reload on `pageshow` with
 * `persisted` set. Messages travel over `BroadcastChannel(name)`: every other
 * tab receives them, in the order each tab sent them.
 *
 * Where Web Locks or BroadcastChannel is missing (old browsers, some embedded
 * webviews), it logs a warning and behaves like `createSoloCoordinator()`: each
 * tab leads on its own.
 *
 * @example
 * ```ts
 * const coordinator = createWebLocksCoordinator({ name: "parley:alice@https://chat.example.com" });
 * coordinator.start({
 *   onLeader: () => console.log("this tab holds the connection"),
 *   onMessage: (message) => console.log("from another tab", message),
 * });
 * coordinator.broadcast({ hello: "tabs" });
 * ```
 */
export function createWebLocksCoordinator(options: WebLocksCoordinatorOptions): TabCoordinator {
  const { name, logger } = options;
  const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
  if (!locks || typeof BroadcastChannel === "undefined") {
    logger?.warn("Web Locks or BroadcastChannel missing; this tab keeps its own connection", {
      name,
      webLocks: Boolean(locks),
      broadcastChannel: typeof BroadcastChannel !== "undefined",
    });
    return createSoloCoordinator();
  }

  let channel: BroadcastChannel | undefined;
  let started = false;
  let closed = false;
  /** Aborts a lock request still waiting in the queue. */
  const abort = new AbortController();
  /** Resolving it ends the lock callback, which releases the lock. */
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  /** Settles once the lock request is over (released, aborted or failed). */
  let request: Promise<unknown> = Promise.resolve();

  const onPageHide = () => {
    void close();
  };
  // A page restored from the back/forward cache gave its place up on pagehide;
  // it cannot lead or follow again without a reload.
  const onPageShow = (event: PageTransitionEvent) => {
    if (event.persisted && closed) {
      logger?.warn(
        "page restored from the back/forward cache after leaving its tab group; reload to rejoin",
        {
          name,
        },
      );
    }
  };

  async function close(): Promise<void> {
    if (closed) return request.then(() => undefined);
    closed = true;
    globalThis.removeEventListener?.("pagehide", onPageHide);
    channel?.close();
    channel = undefined;
    abort.abort();
    release();
    await request;
  }

  return {
    start(handlers: TabCoordinatorHandlers): void {
      if (started || closed) return;
      started = true;
      channel = new BroadcastChannel(name);
      channel.onmessage = (event: MessageEvent) => {
        if (!closed) handlers.onMessage(event.data);
      };
      globalThis.addEventListener?.("pagehide", onPageHide);
      globalThis.addEventListener?.("pageshow", onPageShow);
      request = locks
        .request(name, { mode: "exclusive", signal: abort.signal }, async () => {
          if (closed) return;
          handlers.onLeader();
          await held;
        })
        .catch(() => {
          // Aborted by close() while waiting: nothing to release.
        });
    },

    broadcast(message: unknown): void {
      channel?.postMessage(message);
    },

    close,
  };
}
