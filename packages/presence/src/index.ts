/**
 * `@parley/presence`: the {@link PresenceStore} port (presence, last seen, typing
 * fan-out, rate limits) and its in-memory implementation for the embedded server.
 * The Redis implementation lives in `@parley/presence-redis`.
 *
 * @packageDocumentation
 */
export { callListeners } from "./listeners.js";
export { createMemoryPresenceStore, type MemoryPresenceStoreOptions } from "./memory.js";
export type { PresenceRecord, PresenceStore, Unsubscribe } from "./port.js";
