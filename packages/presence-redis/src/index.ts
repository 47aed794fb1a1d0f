/**
 * `@parley/presence-redis`: the {@link PresenceStore} port of `@parley/presence` on
 * Redis (ioredis) for cluster mode (presence with TTL heartbeats, last seen, typing
 * fan-out, rate limits, shared by every gateway), and the routing map of which
 * gateway owns which inbox partition.
 *
 * @packageDocumentation
 */
export type { RedisConnectionOptions } from "./connection.js";
export { createRedisRoutingMap, type RedisRoutingMapOptions, type RoutingMap } from "./routing.js";
export { createRedisPresenceStore, type RedisPresenceStoreOptions } from "./store.js";
