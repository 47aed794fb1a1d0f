// Snippets of the server composition guide: the cluster adapters and the two halves
// of the pipeline (worker and gateway) composed by hand. Typechecked only: running
// them needs Kafka, Cassandra and Redis (the reference server's cluster roles run the
// same composition in its integration tests).
import { createCassandraHistoryStore } from "@parley/history-cassandra";
import {
  createRedisPresenceStore,
  createRedisReplyChannel,
  createRedisRoutingMap,
} from "@parley/presence-redis";
import {
  createCommandBus,
  createHub,
  createInboxConsumer,
  createWorker,
  DEFAULT_TOPICS,
  type Logger,
  type TopicConfig,
} from "@parley/router";
import { createKafkaEventLog } from "@parley/router-kafka";
import { createTokenVerifier, type GatewayOwnership, type ParleyDeps } from "@parley/server";

/**
 * Tracks which inbox partitions Kafka assigned this gateway and publishes them in the
 * routing map (the reference server's `createPartitionOwnership` does this).
 */
declare function partitionOwnership(options: {
  routes: ReturnType<typeof createRedisRoutingMap>;
  gatewayId: string;
  publicUrl: string;
}): GatewayOwnership & { assigned(partitions: number[]): void };

export async function composeCluster(logger: Logger, processId: string, publicUrl: string) {
  // #region adapters
  const log = createKafkaEventLog({
    brokers: ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"],
    clientId: processId,
    replicationFactor: 3, // for the topics Parley creates
    topicConfig: { "min.insync.replicas": "2" },
    logger,
  });
  const history = createCassandraHistoryStore({
    contactPoints: ["cassandra-1:9042", "cassandra-2:9042", "cassandra-3:9042"],
    localDataCenter: "dc1",
    keyspace: "parley",
    replication: { class: "NetworkTopologyStrategy", dataCenters: { dc1: 3 } },
  });
  const redis = { url: "redis://redis:6379", keyPrefix: "parley:", logger };
  const presence = createRedisPresenceStore(redis); // presence, typing, rate limits
  const replies = createRedisReplyChannel(redis); // command results, worker → gateway
  const routes = createRedisRoutingMap(redis); // which gateway serves which users

  // Partition counts are fixed when the topics are created: size for growth.
  const topics: TopicConfig = { ...DEFAULT_TOPICS, commandPartitions: 32, inboxPartitions: 32 };
  await history.ready(); // connects and migrates the keyspace
  await log.ensureTopic(topics.commands, topics.commandPartitions);
  await log.ensureTopic(topics.inbox, topics.inboxPartitions);
  // #endregion adapters

  // #region worker
  // Owns the commands partitions Kafka assigns it: dedup, seq, history commit, fan-out.
  const worker = await createWorker({ log, history, replies, topics, logger });
  // #endregion worker

  // #region gateway
  const hub = createHub(); // this process's live device streams
  const commands = createCommandBus({ log, replies, topics, processId });
  await replies.ready(); // replies to this process are delivered from here on
  const gateway = partitionOwnership({ routes, gatewayId: processId, publicUrl });
  const inbox = await createInboxConsumer({
    log,
    history,
    hub,
    topics,
    onAssignment: (partitions) => gateway.assigned(partitions), // these users are mine now
    logger,
  });
  const deps: ParleyDeps = {
    history,
    presence,
    hub,
    commands,
    gateway, // streams of users this gateway does not own get WRONG_GATEWAY + the owner
    verifyToken: createTokenVerifier({ jwksUrl: "https://auth.example.com/.well-known/jwks.json" }),
    discovery: { baseUrl: publicUrl, gatewayId: processId },
    logger,
  };
  // Mount deps with createParleyRoutes + parleyInterceptors, as in embedded mode.
  // #endregion gateway

  return {
    deps,
    async close() {
      commands.close();
      await inbox.stop();
      await worker.stop();
      await Promise.all([log.close(), history.close(), presence.close(), replies.close(), routes.close()]);
    },
  };
}
