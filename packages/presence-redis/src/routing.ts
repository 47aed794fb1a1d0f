import { ErrorReason, reasonOf } from "@parley/protocol";
import { openConnections, type RedisConnectionOptions, runScript, silentLogger } from "./connection.js";
import { closedError, toParleyError } from "./errors.js";
import { CLAIM, OWNER, OWNERS, RELEASE } from "./scripts.js";

/**
 * Which gateway owns which inbox partition, in cluster mode. Ownership is a lease
 * with a TTL: a gateway claims its partitions and renews the claims (heartbeats)
 * well before they run out, so the partitions of a gateway that died free up by
 * themselves once its leases expire. Expiry is judged on the Redis server's clock.
 */
export interface RoutingMap {
  /**
   * Claims `partition` for `gatewayId` for `ttlMs`, or renews the gateway's lease.
   * Resolves true when the gateway holds the lease now; false when another gateway
   * holds a live lease (nothing changes then).
   */
  claim(partition: number, gatewayId: string, ttlMs: number): Promise<boolean>;
  /** The gateway holding a live lease on `partition`, or undefined. */
  owner(partition: number): Promise<string | undefined>;
  /** Every live lease: partition → gateway. */
  owners(): Promise<Map<number, string>>;
  /**
   * Gives up the gateway's lease on `partition` (e.g. on a clean shutdown or a
   * rebalance). Resolves true when the gateway held a live lease; another gateway's
   * lease is left alone.
   */
  release(partition: number, gatewayId: string): Promise<boolean>;
  /** Closes the connections the map opened. Later calls fail with `SHUTTING_DOWN`. */
  close(): Promise<void>;
}

/** Options for {@link createRedisRoutingMap}. */
export interface RedisRoutingMapOptions extends RedisConnectionOptions {}

function checkPartition(partition: number): void {
  if (!Number.isSafeInteger(partition) || partition < 0) {
    throw new RangeError(`partition must be a non-negative integer, got ${partition}`);
  }
}

/**
 * A {@link RoutingMap} in Redis: one hash (`<keyPrefix>routes`) of partition →
 * lease expiry and holder, changed only by atomic Lua scripts.
 *
 * @example
 * ```ts
 * const routes = createRedisRoutingMap({ url: "redis://127.0.0.1:6379" });
 * if (await routes.claim(3, "gateway-a", 15_000)) {
 *   // gateway-a serves inbox partition 3; claim again every few seconds to keep it
 * }
 * await routes.owner(3); // "gateway-a"
 * await routes.close();
 * ```
 */
export function createRedisRoutingMap(options: RedisRoutingMapOptions): RoutingMap {
  const routesKey = `${options.keyPrefix ?? "parley:"}routes`;
  const logger = (options.logger ?? silentLogger).withContext({ component: "routing-redis" });
  const connections = openConnections(options, logger);
  const client = connections.client;
  let closed = false;

  async function command<T>(operation: string, body: () => Promise<T>): Promise<T> {
    if (closed) throw closedError(operation, "routing map");
    try {
      return await body();
    } catch (err) {
      const translated = toParleyError(operation, err);
      if (reasonOf(translated) === ErrorReason.INTERNAL) logger.error(`unable to ${operation}`, { err });
      throw translated;
    }
  }

  return {
    async claim(partition, gatewayId, ttlMs) {
      checkPartition(partition);
      if (gatewayId === "") throw new RangeError("gatewayId must not be empty");
      if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
      return command(
        "claim a partition",
        async () =>
          (await runScript(client, CLAIM, [routesKey], [partition, gatewayId, Math.ceil(ttlMs)])) === 1,
      );
    },

    async owner(partition) {
      checkPartition(partition);
      return command("read a partition owner", async () => {
        const holder = await runScript(client, OWNER, [routesKey], [partition]);
        return typeof holder === "string" ? holder : undefined;
      });
    },

    owners() {
      return command("read partition owners", async () => {
        const flat = (await runScript(client, OWNERS, [routesKey], [])) as string[];
        const map = new Map<number, string>();
        for (let i = 0; i + 1 < flat.length; i += 2) map.set(Number(flat[i]), flat[i + 1] as string);
        return map;
      });
    },

    async release(partition, gatewayId) {
      checkPartition(partition);
      return command(
        "release a partition",
        async () => (await runScript(client, RELEASE, [routesKey], [partition, gatewayId])) === 1,
      );
    },

    async close() {
      if (closed) return;
      closed = true;
      await connections.close();
    },
  };
}
