import type { NetworkMonitor } from "@parley/client";

/**
 * A {@link NetworkMonitor} on the browser's own view of connectivity:
 * `navigator.onLine` and the window's `online` / `offline` events. "Online" only
 * means the device has a network; the client still finds out by connecting
 * whether the server is reachable. Where `navigator.onLine` is unknown it reports
 * online.
 *
 * @example
 * ```ts
 * const network = createBrowserNetworkMonitor();
 * const stop = network.subscribe((online) => console.log(online ? "online" : "offline"));
 * ```
 */
export function createBrowserNetworkMonitor(): NetworkMonitor {
  const isOnline = () => typeof navigator === "undefined" || navigator.onLine !== false;
  return {
    isOnline,
    subscribe(listener: (online: boolean) => void): () => void {
      const onOnline = () => listener(true);
      const onOffline = () => listener(false);
      globalThis.addEventListener?.("online", onOnline);
      globalThis.addEventListener?.("offline", onOffline);
      return () => {
        globalThis.removeEventListener?.("online", onOnline);
        globalThis.removeEventListener?.("offline", onOffline);
      };
    },
  };
}
