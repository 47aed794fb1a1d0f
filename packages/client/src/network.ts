/**
 * Tells the client whether the device is online, so it can stop retrying while it
 * is not and reconnect at once when it is again (browsers: `navigator.onLine` and
 * the online/offline events; `@parley/client-web` has one).
 */
export interface NetworkMonitor {
  /** True when the device believes it is online. */
  isOnline(): boolean;
  /** Calls `listener` on every change; returns the unsubscribe handle. */
  subscribe(listener: (online: boolean) => void): () => void;
}

/** A monitor that always says online: the default. */
export const alwaysOnline: NetworkMonitor = {
  isOnline: () => true,
  subscribe: () => () => {},
};
