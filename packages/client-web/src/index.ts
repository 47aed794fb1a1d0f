/**
 * `@parley/client-web`: Parley's client SDK for browsers. {@link createParleyWebClient}
 * wires `@parley/client` with a connect-web transport, an IndexedDB store and one
 * server connection shared by all of a user's tabs (Web Locks + BroadcastChannel).
 * The parts are exported too, for apps that assemble the client themselves.
 *
 * @packageDocumentation
 */

export {
  createIndexedDbClientStore,
  deleteIndexedDbClientStore,
  type IndexedDbClientStoreOptions,
} from "./idb-store.js";
export { createBrowserNetworkMonitor } from "./network-monitor.js";
export { createParleyWebClient, type ParleyWebClientOptions, parleyDatabaseName } from "./web-client.js";
export { createWebLocksCoordinator, type WebLocksCoordinatorOptions } from "./web-locks-coordinator.js";
