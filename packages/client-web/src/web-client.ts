import type { Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  type ClientStore,
  createParleyClient,
  createSoloCoordinator,
  type NetworkMonitor,
  type ParleyClient,
  type ParleyClientOptions,
  type TabCoordinator,
} from "@parley/client";
import { createIndexedDbClientStore } from "./idb-store.js";
import { createBrowserNetworkMonitor } from "./network-monitor.js";
import { createWebLocksCoordinator } from "./web-locks-coordinator.js";

/**
 * Options for {@link createParleyWebClient}: those of `createParleyClient` with a
 * server URL in place of the transport, and browser defaults for the store,
 * the tab coordinator and the network monitor.
 */
export interface ParleyWebClientOptions extends Omit<ParleyClientOptions, "transport"> {
  /**
   * The server's URL, e.g. `"https://chat.example.com"` or `"/"` when the app is
   * served from the same origin as the API.
   */
  baseUrl: string;
  /**
   * The IndexedDB database, and the Web Lock and BroadcastChannel, the user's tabs
   * share. Names differ by user and server, so two accounts never mix.
   * @defaultValue `parley:<userId>@<baseUrl>`
   */
  databaseName?: string;
  /**
   * Whether the tabs of one user share one server connection (one leader tab
   * holds it; the others follow over BroadcastChannel). When false, each tab
   * connects on its own (they still share the IndexedDB cache and outbox).
   * Ignored when `coordinator` is given.
   * @defaultValue true
   */
  shareAcrossTabs?: boolean;
  /**
   * Whether the transport speaks the Connect protocol's binary (protobuf) format
   * rather than JSON. Binary is smaller on the wire and cheaper to parse; JSON is
   * easier to read in the browser's network panel. Ignored when `transport` is given.
   * @defaultValue true
   */
  useBinaryFormat?: boolean;
  /**
   * The Connect transport to use instead of `createConnectTransport({ baseUrl })`
   * from `@connectrpc/connect-web`.
   * @defaultValue a connect-web transport on `baseUrl`
   */
  transport?: Transport;
  /**
   * Builds the transport to another gateway of a cluster, from its base URL: the
   * device stream follows a gateway's `WRONG_GATEWAY` redirect there (see
   * `ParleyClientOptions.transportFor`). Give your own when you give `transport`.
   * @defaultValue a connect-web transport on that URL with the same
   * `useBinaryFormat`; none (the stream never moves) when `transport` is given
   */
  transportFor?: (baseUrl: string) => Transport;
  /**
   * Where the client keeps its cursor, cache and outbox.
   * @defaultValue `createIndexedDbClientStore({ name: databaseName })`
   */
  store?: ClientStore;
  /**
   * Which tab holds the connection.
   * @defaultValue `createWebLocksCoordinator({ name: databaseName })`, or a solo
   * coordinator when `shareAcrossTabs` is false
   */
  coordinator?: TabCoordinator;
  /**
   * Tells the client when the device goes on- and offline.
   * @defaultValue `createBrowserNetworkMonitor()`
   */
  network?: NetworkMonitor;
}

/**
 * The default IndexedDB database (and Web Lock) name of a user on a server:
 * `parley:<userId>@<baseUrl>`.
 */
export function parleyDatabaseName(userId: string, baseUrl: string): string {
  return `parley:${userId}@${baseUrl}`;
}

/**
 * Creates a {@link ParleyClient} wired for browsers: a connect-web transport on
 * `baseUrl` (the device stream follows a cluster gateway's redirect to another
 * URL with the same kind of transport), an IndexedDB store (the cache and the
 * outbox survive reloads), one server connection shared by all of the user's tabs
 * (Web Locks and BroadcastChannel), and the browser's online/offline events.
 * Every part can be replaced through its option.
 *
 * @example
 * ```ts
 * import { createParleyWebClient } from "@parley/client-web";
 *
 * const client = createParleyWebClient({
 *   baseUrl: "https://chat.example.com",
 *   userId: "alice",
 *   token: () => fetch("/my-token").then((res) => res.text()),
 * });
 * await client.ready();
 * client.on("message", ({ conversationId, message }) => render(conversationId, message));
 * await client.send(conversationId, { text: "hello" });
 * ```
 */
export function createParleyWebClient(options: ParleyWebClientOptions): ParleyClient {
  const {
    baseUrl,
    databaseName,
    shareAcrossTabs = true,
    useBinaryFormat = true,
    transport,
    transportFor,
    store,
    coordinator,
    network,
    ...clientOptions
  } = options;
  const name = databaseName ?? parleyDatabaseName(options.userId, baseUrl);
  const { logger } = options;
  const connectTo = (url: string) => createConnectTransport({ baseUrl: url, useBinaryFormat });
  return createParleyClient({
    ...clientOptions,
    transport: transport ?? connectTo(baseUrl),
    transportFor: transportFor ?? (transport ? undefined : connectTo),
    store: store ?? createIndexedDbClientStore({ name, logger }),
    coordinator:
      coordinator ??
      (shareAcrossTabs ? createWebLocksCoordinator({ name, logger }) : createSoloCoordinator()),
    network: network ?? createBrowserNetworkMonitor(),
  });
}
