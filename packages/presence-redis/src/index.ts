/**
 * `@parley/presence-redis`: the `PresenceStore` port of `@parley/presence` on
 * Redis (ioredis) for cluster mode (presence with TTL heartbeats, last seen, typing
 * fan-out, rate limits, shared by every gateway); the routing map of which
 * gateway owns which inbox partition and where each gateway is reached; and the
 * reply channel that carries command results from workers back to gateways.
 *
 * @packageDocumentation
 */
export type { RedisConnectionOptions } from "./connection.js";
export {
  createRedisReplyChannel,
  type RedisReplyChannel,
  type RedisReplyChannelOptions,
} from "./replies.js";
export {
  type ClaimOptions,
  createRedisRoutingMap,
  type RedisRoutingMapOptions,
  type RoutingMap,
} from "./routing.js";
export { createRedisPresenceStore, type RedisPresenceStoreOptions } from "./store.js";
