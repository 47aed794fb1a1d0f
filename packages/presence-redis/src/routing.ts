import { ErrorReason, reasonOf } from "@parley/protocol";
import { openConnections, type RedisConnectionOptions, runScript, silentLogger } from "./connection.js";
import { closedError, toParleyError } from "./errors.js";
import { CLAIM, OWNER, OWNERS, RELEASE } from "./scripts.js";

/** Options of {@link RoutingMap.claim}. */
export interface ClaimOptions {
  /**
   * Take the lease even when another gateway holds a live one. A gateway that
   * Kafka's group assignment just gave the partition to claims with `force`, so it
   * does not wait for a dead (or slow to revoke) gateway's lease to run out; the
   * previous holder's next (unforced) renewal then resolves false.
   * @defaultValue false
   */
  force?: boolean;
}

/**
 * Which gateway owns which inbox partition, and where each gateway is reached, in
 * cluster mode. Kafka's consumer group assignment is the authority on ownership;
 * the map is the discovery hint clients are sent by. Both are leases with a TTL: a
 * gateway claims its partitions and announces its endpoint, and renews both
 * (heartbeats) well before they run out, so what a dead gateway held frees up by
 * itself once its leases expire. Expiry is judged on the Redis server's clock.
 */
export interface RoutingMap {
  /**
   * Claims `partition` for `gatewayId` for `ttlMs`, or renews the gateway's lease.
   * Resolves true when the gateway holds the lease now; false when another gateway
   * holds a live lease and `options.force` is not set (nothing changes then).
   */
  claim(partition: number, gatewayId: string, ttlMs: number, options?: ClaimOptions): Promise<boolean>;
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
  /**
   * Publishes (or renews) where clients reach `gatewayId`: its base URL (http or
   * https), for `ttlMs`. Announce again well before the lease runs out; a gateway
   * that stops doing so (it died) is forgotten once it has.
   */
  announce(gatewayId: string, baseUrl: string, ttlMs: number): Promise<void>;
  /** The base URL `gatewayId` last announced, or undefined when it never did or its lease ran out. */
  endpoint(gatewayId: string): Promise<string | undefined>;
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

function checkGatewayId(gatewayId: string): void {
  if (typeof gatewayId !== "string" || gatewayId === "") throw new RangeError("gatewayId must not be empty");
}

function checkTtl(ttlMs: number): void {
  if (!(ttlMs > 0) || ttlMs === Number.POSITIVE_INFINITY) {
    throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
  }
}

function checkBaseUrl(baseUrl: string): void {
  const url = typeof baseUrl === "string" && URL.canParse(baseUrl) ? new URL(baseUrl) : undefined;
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    throw new RangeError(`baseUrl must be an http or https URL, got ${JSON.stringify(baseUrl)}`);
  }
}

/**
 * A {@link RoutingMap} in Redis: one hash (`<keyPrefix>routes`) of partition →
 * lease expiry and holder, changed only by atomic Lua scripts; and one key per
 * gateway (`<keyPrefix>gateway:<gatewayId>`) holding its base URL, which Redis
 * expires (`SET … PX`).
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
  const prefix = options.keyPrefix ?? "parley:";
  const routesKey = `${prefix}routes`;
  const endpointKey = (gatewayId: string) => `${prefix}gateway:${gatewayId}`;
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
    async claim(partition, gatewayId, ttlMs, claimOptions = {}) {
      checkPartition(partition);
      checkGatewayId(gatewayId);
      checkTtl(ttlMs);
      const force = claimOptions.force === true ? "1" : "0";
      return command(
        "claim a partition",
        async () =>
          (await runScript(client, CLAIM, [routesKey], [partition, gatewayId, Math.ceil(ttlMs), force])) ===
          1,
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

    async announce(gatewayId, baseUrl, ttlMs) {
      checkGatewayId(gatewayId);
      checkBaseUrl(baseUrl);
      checkTtl(ttlMs);
      await command("announce a gateway", async () => {
        // One command: atomic, and expired by Redis on its own clock.
        await client.set(endpointKey(gatewayId), baseUrl, "PX", Math.ceil(ttlMs));
      });
    },

    async endpoint(gatewayId) {
      checkGatewayId(gatewayId);
      return command(
        "read a gateway endpoint",
        async () => (await client.get(endpointKey(gatewayId))) ?? undefined,
      );
    },

    async close() {
      if (closed) return;
      closed = true;
      await connections.close();
    },
  };
}
