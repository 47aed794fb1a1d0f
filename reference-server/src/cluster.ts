import { createCassandraHistoryStore } from "@parley/history-cassandra";
import {
  createRedisPresenceStore,
  createRedisReplyChannel,
  createRedisRoutingMap,
} from "@parley/presence-redis";
import {
  type Consumer,
  createCommandBus,
  createHub,
  createInboxConsumer,
  createWorker,
  type Logger,
  type TopicConfig,
  type Worker,
} from "@parley/router";
import { createKafkaEventLog } from "@parley/router-kafka";
import { createTokenVerifier, type ParleyDeps } from "@parley/server";
import type { Composition } from "./composition.js";
import type { ClusterConfig, Config } from "./config.js";
import type { ServerMetrics } from "./metrics.js";
import { createPartitionOwnership, type PartitionOwnership } from "./ownership.js";

/** Topic names and partition counts from the cluster config. */
export function clusterTopics(cluster: ClusterConfig): TopicConfig {
  return {
    commands: `${cluster.topics.prefix}commands`,
    inbox: `${cluster.topics.prefix}inbox`,
    commandPartitions: cluster.topics.commandPartitions,
    inboxPartitions: cluster.topics.inboxPartitions,
  };
}

/**
 * Builds the `gateway`, `worker` or `all` role on Kafka (event log), Cassandra (history)
 * and Redis (presence, typing, command replies, routing map):
 * - a worker consumes the commands partitions Kafka assigns it (the router's worker:
 *   dedup, seq, Cassandra commit, inbox fan-out) and replies over Redis;
 * - a gateway serves the Connect API, submits commands to Kafka and waits for replies
 *   on its Redis channel, consumes the inbox partitions Kafka assigns it (stores each
 *   user's events, pushes them to live streams), holds the device streams of exactly
 *   those users and redirects others (`WRONG_GATEWAY`) to their owner.
 */
export async function composeCluster(
  config: Config,
  logger: Logger,
  shutdownSignal: AbortSignal,
  metrics: ServerMetrics,
): Promise<Composition> {
  const cluster = config.cluster;
  if (!cluster) throw new Error(`role ${config.role} needs the cluster settings`);
  const { processId } = cluster;
  const topics = clusterTopics(cluster);
  const isGateway = config.role === "gateway" || config.role === "all";
  const isWorker = config.role === "worker" || config.role === "all";
  const closers: Array<[string, () => Promise<void> | void]> = [];
  const close = async () => {
    for (const [name, fn] of closers.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn("unable to close cleanly", { part: name, err });
      }
    }
  };

  try {
    const log = metrics.instrumentLog(
      createKafkaEventLog({
        brokers: cluster.kafka.brokers,
        clientId: processId,
        replicationFactor: cluster.kafka.replicationFactor,
        sessionTimeoutMs: cluster.kafka.sessionTimeoutMs,
        heartbeatIntervalMs: Math.floor(cluster.kafka.sessionTimeoutMs / 3),
        logger: logger.withContext({ component: "kafka" }),
      }),
    );
    closers.push(["kafka", () => log.close()]);
    const history = createCassandraHistoryStore({
      keyspace: cluster.cassandra.keyspace,
      contactPoints: cluster.cassandra.contactPoints,
      localDataCenter: cluster.cassandra.localDataCenter,
      replication: { class: "SimpleStrategy", replicationFactor: cluster.cassandra.replicationFactor },
      userEventRetention: { maxEventsPerUser: config.userEventsMax },
    });
    closers.push(["cassandra", () => history.close()]);
    const redis = {
      url: cluster.redis.url,
      keyPrefix: cluster.redis.keyPrefix,
      logger: logger.withContext({ component: "redis" }),
    };
    const replies = createRedisReplyChannel(redis);
    closers.push(["replies", () => replies.close()]);
    const routes = createRedisRoutingMap(redis);
    closers.push(["routes", () => routes.close()]);

    logger.info("connecting to the cluster services", {
      kafka: cluster.kafka.brokers,
      cassandra: cluster.cassandra.contactPoints,
      keyspace: cluster.cassandra.keyspace,
      redis: cluster.redis.url,
    });
    await history.ready(); // connects and migrates the keyspace
    await log.ensureTopic(topics.commands, topics.commandPartitions);
    await log.ensureTopic(topics.inbox, topics.inboxPartitions);

    const checks: Composition["checks"] = [
      { name: "kafka", check: () => log.ensureTopic(topics.commands, topics.commandPartitions) },
      { name: "cassandra", check: async () => void (await history.getConversation("~readyz")) },
      { name: "redis", check: async () => void (await routes.owner(0)) },
    ];

    let worker: Worker | undefined;
    if (isWorker) {
      worker = await createWorker({
        log,
        history,
        replies,
        topics,
        group: `${cluster.topics.prefix}workers`,
        logger: logger.withContext({ part: "worker" }),
      });
      closers.push(["worker", () => worker?.stop()]);
    }

    let deps: ParleyDeps | undefined;
    let ownership: PartitionOwnership | undefined;
    let inbox: Consumer | undefined;
    if (isGateway) {
      const hub = createHub();
      const presence = createRedisPresenceStore(redis);
      closers.push(["presence", () => presence.close()]);
      const commands = createCommandBus({ log, replies, topics, processId });
      closers.push(["commands", () => commands.close()]);
      await replies.ready();
      ownership = createPartitionOwnership({
        log,
        topic: topics.inbox,
        routes,
        gatewayId: processId,
        publicUrl: config.publicUrl,
        logger: logger.withContext({ part: "routing" }),
      });
      closers.push(["ownership", () => ownership?.close()]);
      deps = {
        history,
        presence,
        hub,
        commands,
        gateway: ownership.ownership,
        verifyToken: createTokenVerifier(config.jwt),
        devLogin: config.devLogin && "secret" in config.jwt ? config.jwt : undefined,
        discovery: { baseUrl: config.publicUrl, gatewayId: processId },
        logger,
        shutdownSignal,
      };
      const owner = ownership;
      inbox = await createInboxConsumer({
        log,
        history,
        hub,
        topics,
        group: `${cluster.topics.prefix}gateways`,
        onAssignment: (partitions) => owner.assigned(partitions),
        logger: logger.withContext({ part: "inbox" }),
      });
      closers.push(["inbox", () => inbox?.stop()]);
    }

    return {
      deps,
      checks,
      stats: () => ({
        role: config.role,
        processId,
        streams: deps?.hub.size ?? 0,
        ...(ownership ? { inboxPartitions: ownership.owned().size } : {}),
      }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
