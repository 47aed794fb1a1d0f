import type { RoutingMap } from "@parley/presence-redis";
import type { EventLog, Logger } from "@parley/router";
import type { GatewayOwnership } from "@parley/server";

/** Options for {@link createPartitionOwnership}. */
export interface PartitionOwnershipOptions {
  log: EventLog;
  /** The inbox topic: its partitions are keyed by user id. */
  topic: string;
  routes: RoutingMap;
  gatewayId: string;
  /** Where devices reach this gateway. */
  publicUrl: string;
  /** Lease of the routing-map entries; renewed every third of it. @defaultValue 15000 */
  leaseMs?: number;
  logger: Logger;
}

/** A gateway's {@link GatewayOwnership}, fed by its inbox consumer's assignments. */
export interface PartitionOwnership {
  ownership: GatewayOwnership;
  /** Pass as the inbox consumer's `onAssignment`. */
  assigned(partitions: number[]): void;
  /** Inbox partitions this gateway owns now. */
  owned(): ReadonlySet<number>;
  /** Stops renewing and releases this gateway's routing-map entries. */
  close(): Promise<void>;
}

/**
 * Which users a gateway serves. Kafka's group assignment of the inbox topic is the
 * authority: a gateway serves exactly the users whose inbox partition its consumer owns.
 * The Redis routing map is the discovery hint built from it: each gateway announces
 * its public URL and claims (taking over from a dead holder at once) the partitions
 * Kafka gave it, renewing both leases so a killed gateway's entries expire by themselves.
 */
export function createPartitionOwnership(options: PartitionOwnershipOptions): PartitionOwnership {
  const { log, topic, routes, gatewayId, publicUrl, logger } = options;
  const leaseMs = options.leaseMs ?? 15_000;
  let owned = new Set<number>();
  let closed = false;
  const listeners = new Set<() => void>();

  const publish = async (partitions: Iterable<number>) => {
    await routes.announce(gatewayId, publicUrl, leaseMs);
    await Promise.all([...partitions].map((p) => routes.claim(p, gatewayId, leaseMs, { force: true })));
  };
  const renew = () => {
    if (closed) return;
    publish(owned).catch((err) => logger.warn("unable to renew routing-map leases", { err }));
  };
  const timer = setInterval(renew, Math.max(500, Math.floor(leaseMs / 3)));
  timer.unref();
  renew();

  return {
    ownership: {
      owns(userId) {
        return owned.size > 0 && owned.has(log.partitionFor(topic, userId));
      },
      async endpointFor(userId) {
        const partition = log.partitionFor(topic, userId);
        if (owned.has(partition)) return { baseUrl: publicUrl, gatewayId };
        const holder = await routes.owner(partition);
        if (!holder) return undefined;
        const baseUrl = await routes.endpoint(holder);
        return baseUrl ? { baseUrl, gatewayId: holder } : undefined;
      },
      onChange(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    assigned(partitions) {
      const previous = owned;
      owned = new Set(partitions);
      const lost = [...previous].filter((p) => !owned.has(p));
      const gained = partitions.filter((p) => !previous.has(p));
      if (lost.length > 0 || gained.length > 0) {
        logger.info("inbox partitions assigned", { owned: partitions, gained, lost });
      }
      if (!closed) {
        Promise.all([publish(gained), ...lost.map((p) => routes.release(p, gatewayId))]).catch((err) =>
          logger.warn("unable to update the routing map", { err }),
        );
      }
      for (const listener of listeners) {
        try {
          listener();
        } catch (err) {
          logger.error("ownership listener failed", { err });
        }
      }
    },
    owned: () => owned,
    async close() {
      closed = true;
      clearInterval(timer);
      const mine = [...owned];
      await Promise.all(mine.map((p) => routes.release(p, gatewayId))).catch((err) =>
        logger.warn("unable to release routing-map leases", { err }),
      );
    },
  };
}
