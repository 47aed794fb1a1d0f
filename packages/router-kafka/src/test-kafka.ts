import type { ConsumeOptions, EventLog } from "@parley/router";
import kafkajs from "kafkajs";

/**
 * Test support (not exported by the package): where the integration tests find Kafka,
 * and cleanup of what they create there. The only place the tests read the environment.
 */

/** PARLEY_KAFKA_BROKERS (comma-separated), else the address `scripts/services.sh` uses. */
export function testBrokers(): string[] {
  const brokers = (process.env.PARLEY_KAFKA_BROKERS ?? "127.0.0.1:9092")
    .split(",")
    .map((broker) => broker.trim())
    .filter((broker) => broker.length > 0);
  return brokers.length > 0 ? brokers : ["127.0.0.1:9092"];
}

/**
 * Options that keep tests fast on a one-broker dev cluster: the smallest session timeout
 * the broker accepts by default (6 s), frequent heartbeats (a rebalance is noticed within
 * half a second), short fetch waits (a stop takes at most 100 ms) and short retries.
 */
export const FAST_TEST_OPTIONS = {
  clientId: "parley-test",
  sessionTimeoutMs: 6000,
  heartbeatIntervalMs: 500,
  rebalanceTimeoutMs: 10_000,
  maxWaitTimeMs: 100,
  retry: { retries: 5, initialRetryTimeMs: 100, maxRetryTimeMs: 2000 },
} as const;

/** Topics and groups a test created, to delete afterwards. */
export interface Created {
  topics: Map<string, number>;
  groups: Set<string>;
}

export function created(): Created {
  return { topics: new Map(), groups: new Set() };
}

/** Wraps `log` to note the topics it ensures and the groups it consumes as. */
export function recording(log: EventLog, into: Created): EventLog {
  return {
    async ensureTopic(topic: string, partitions: number) {
      await log.ensureTopic(topic, partitions);
      into.topics.set(topic, partitions);
    },
    partitionFor: (topic: string, key: string) => log.partitionFor(topic, key),
    append: (topic, records) => log.append(topic, records),
    consume(options: ConsumeOptions) {
      into.groups.add(options.group);
      return log.consume(options);
    },
    close: () => log.close(),
  };
}

/** Deletes the groups (once their members left) and topics a test created. Best effort. */
export async function deleteCreated(what: Created): Promise<void> {
  if (what.topics.size === 0 && what.groups.size === 0) return;
  const kafka = new kafkajs.Kafka({
    brokers: testBrokers(),
    clientId: "parley-test-cleanup",
    logLevel: kafkajs.logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 100 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    if (what.groups.size > 0) await admin.deleteGroups([...what.groups]).catch(() => {});
    if (what.topics.size > 0) await admin.deleteTopics({ topics: [...what.topics.keys()] }).catch(() => {});
  } finally {
    await admin.disconnect().catch(() => {});
  }
  what.topics.clear();
  what.groups.clear();
}
