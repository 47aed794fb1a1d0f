import {
  type AppendResult,
  type ConsumeOptions,
  type Consumer,
  type EventLog,
  type Logger,
  type NewRecord,
  partitionForKey,
} from "@parley/router";
import kafkajs, { type Admin, type Kafka, type Message, type Producer, type RecordMetadata } from "kafkajs";
import { closedError, isKafkaUnavailable, kafkaErrorType, toParleyError } from "./errors.js";
import { GroupConsumer } from "./group-consumer.js";
import { kafkajsLevel, kafkajsLogCreator } from "./logging.js";
import { type KafkaEventLogOptions, type ResolvedOptions, resolveOptions } from "./options.js";

// kafkajs is CommonJS and spreads its error classes into module.exports, which Node's
// ESM named-export detection cannot see: take what we need from the default export.
const { Kafka: KafkaClient, Partitioners } = kafkajs;

const DEFAULT_MAX_BATCH = 500;

/**
 * Creates Parley's {@link EventLog} on Apache Kafka, with kafkajs.
 *
 * - **Partitioning.** A key goes to `partitionForKey(key, partitions)` from
 *   `@parley/router`: Kafka's murmur2 partitioner, the one the Java client and kafkajs's
 *   `DefaultPartitioner` use, so `partitionFor`, the in-process log and any other Kafka
 *   producer agree. The log sets each record's partition itself, so `append` always
 *   lands where `partitionFor` says.
 * - **Topics.** `ensureTopic` creates a missing topic through the admin client with the
 *   configured replication factor and topic config; it is idempotent. A topic that
 *   exists with another partition count is an error: adding partitions would move keys
 *   to other partitions and break the per-key order (and the single owner of a
 *   conversation's sequence). The partition count of a topic is learnt from
 *   `ensureTopic`, `append` or `consume`; `partitionFor` before any of them throws.
 * - **Appends.** An idempotent producer with `acks: -1` (all in-sync replicas) and one
 *   request in flight; `append` resolves once the broker acknowledged every record, with
 *   each record's partition and offset. Appends are sent one produce request at a time
 *   (waiting appends are combined into the next request); after a failed request the
 *   producer is replaced, so a retried or later append can never be mistaken by the
 *   broker for a duplicate of a request whose outcome is unknown.
 * - **Consumers.** One kafkajs consumer (group member) per `consume` call. A new group
 *   starts at the oldest record. Offsets are committed right after each handler call
 *   resolves; a handler that throws gets the same records again after a backoff (50 ms
 *   doubling up to 1 s), before any later record of that partition; rebalances deliver
 *   records handled but not yet committed again, and never skip one. `onAssignment`
 *   gets the member's partitions after every join of the group (kafkajs's GROUP_JOIN,
 *   also after a rebalance or a restart), before their records are fetched; [] when
 *   the kafkajs consumer crashed and once `stop()` finished. How fast a killed member's
 *   partitions move to the others is `sessionTimeoutMs` (see the options).
 * - **Errors.** A cluster that cannot be reached (or answer) in the configured time and
 *   retries gives the `DEPENDENCY_UNAVAILABLE` Parley error (Connect `unavailable`).
 * - `close` stops every consumer (waiting for handler calls in flight, which may still
 *   append), waits for the appends in progress, then disconnects; every later call
 *   rejects.
 *
 * @param options - brokers and tuning; see {@link KafkaEventLogOptions}.
 */
export function createKafkaEventLog(options: KafkaEventLogOptions): EventLog {
  return new KafkaEventLog(resolveOptions(options));
}

/** An append waiting for its produce request. */
interface PendingAppend {
  topic: string;
  /** Partition of each record, in order. */
  partitions: number[];
  messages: Message[];
  bytes: number;
  resolve: (results: AppendResult[]) => void;
  reject: (error: unknown) => void;
}

class KafkaEventLog implements EventLog {
  private readonly o: ResolvedOptions;
  private readonly logger: Logger;
  private readonly kafka: Kafka;
  /** Partition count per topic, as learnt from the cluster. */
  private readonly partitionCounts = new Map<string, number>();
  /** Metadata lookups in flight, by topic. */
  private readonly lookups = new Map<string, Promise<number | undefined>>();
  private adminReady: Promise<Admin> | undefined;
  private producer: Producer | undefined;
  private producerReady: Promise<Producer> | undefined;
  private readonly queue: PendingAppend[] = [];
  private sending: Promise<void> | undefined;
  private readonly consumers = new Set<GroupConsumer>();
  private state: "open" | "closing" | "closed" = "open";
  private closing: Promise<void> | undefined;

  constructor(options: ResolvedOptions) {
    this.o = options;
    this.logger = options.logger.withContext({ component: "router-kafka" });
    this.kafka = new KafkaClient({
      brokers: options.brokers,
      clientId: options.clientId,
      ssl: options.ssl,
      sasl: options.sasl,
      connectionTimeout: options.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      retry: {
        retries: options.retry.retries,
        initialRetryTime: options.retry.initialRetryTimeMs,
        maxRetryTime: options.retry.maxRetryTimeMs,
      },
      logLevel: kafkajsLevel(options.kafkajsLogLevel),
      logCreator: kafkajsLogCreator(options.logger),
    });
  }

  async ensureTopic(topic: string, partitions: number): Promise<void> {
    this.assertUsable("ensure topic");
    assertTopicName(topic, "ensure topic");
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new RangeError(
        `unable to ensure topic "${topic}"; partitions must be a positive integer, got ${partitions}`,
      );
    }
    let existing: number | undefined;
    try {
      existing = await this.withAdmin(async (admin) => {
        let created: boolean;
        try {
          created = await admin.createTopics({
            topics: [
              {
                topic,
                numPartitions: partitions,
                replicationFactor: this.o.replicationFactor,
                configEntries: Object.entries(this.o.topicConfig).map(([name, value]) => ({ name, value })),
              },
            ],
            waitForLeaders: true,
            timeout: this.o.requestTimeoutMs,
          });
        } catch (error) {
          // With waitForLeaders, kafkajs polls the new topic's metadata but gives up at once
          // when the broker does not know the topic yet (its metadata can lag the
          // controller's, seen on a busy KRaft broker): the topic was created, so wait for it.
          if (kafkaErrorType(error) !== "UNKNOWN_TOPIC_OR_PARTITION") throw error;
          return await waitForTopic(admin, topic, this.o.requestTimeoutMs);
        }
        return created ? partitions : await readPartitionCount(admin, topic);
      });
    } catch (error) {
      throw toParleyError(`ensure topic "${topic}"`, error);
    }
    if (existing === undefined) {
      throw new Error(`unable to ensure topic "${topic}"; the cluster does not list it after creating it`);
    }
    if (existing !== partitions) {
      throw new Error(
        `unable to ensure topic "${topic}"; it exists with ${existing} partitions, not ${partitions} (the Kafka event log does not change a topic's partition count: that would move keys to other partitions and break their order; move to a new topic instead)`,
      );
    }
    this.partitionCounts.set(topic, partitions);
  }

  partitionFor(topic: string, key: string): number {
    this.assertUsable("choose a partition");
    const partitions = this.partitionCounts.get(topic);
    if (partitions === undefined) {
      throw new Error(
        `unable to choose a partition for topic "${topic}"; its partition count is not known yet (call ensureTopic, append or consume first)`,
      );
    }
    return partitionForKey(key, partitions);
  }

  async append(topic: string, records: NewRecord[]): Promise<AppendResult[]> {
    this.assertUsable("append");
    assertTopicName(topic, "append");
    // Copied before the first await, so the caller may reuse its buffers at once.
    const copies: { key: Buffer; value: Buffer; text: string }[] = [];
    for (const record of records) {
      if (typeof record?.key !== "string" || !(record.value instanceof Uint8Array)) {
        throw new TypeError(
          `unable to append to topic "${topic}"; every record needs a string key and a Uint8Array value`,
        );
      }
      copies.push({
        key: Buffer.from(record.key, "utf8"),
        value: Buffer.from(record.value),
        text: record.key,
      });
    }
    const partitions = await this.partitionCountOf(topic, `append to topic "${topic}"`);
    if (copies.length === 0) return [];
    const pending: Omit<PendingAppend, "resolve" | "reject"> = {
      topic,
      partitions: [],
      messages: [],
      bytes: 0,
    };
    for (const { key, value, text } of copies) {
      const partition = partitionForKey(text, partitions);
      pending.partitions.push(partition);
      pending.messages.push({ key, value, partition });
      pending.bytes += key.byteLength + value.byteLength;
    }
    // close() may have finished while the partition count was looked up.
    this.assertUsable("append");
    return new Promise<AppendResult[]>((resolve, reject) => {
      this.queue.push({ ...pending, resolve, reject });
      this.pump();
    });
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const { topic, group, handler } = options;
    if (this.state !== "open") throw closedError("consume");
    assertTopicName(topic, "consume");
    if (typeof group !== "string" || group.length === 0) {
      throw new TypeError(`unable to consume topic "${topic}"; the group must be a non-empty string`);
    }
    if (typeof handler !== "function") {
      throw new TypeError(`unable to consume topic "${topic}"; the handler must be a function`);
    }
    const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError(
        `unable to consume topic "${topic}"; maxBatch must be a positive integer, got ${maxBatch}`,
      );
    }
    const operation = `consume topic "${topic}" as group "${group}"`;
    // Fails fast when the topic is missing or the cluster unreachable, and learns the
    // partition count for partitionFor.
    await this.partitionCountOf(topic, operation);
    if (this.state !== "open") throw closedError("consume");
    const consumer: GroupConsumer = new GroupConsumer({
      kafka: this.kafka,
      options: this.o,
      consume: options,
      maxBatch,
      logger: this.logger.withContext({ topic, group }),
      onStopped: () => this.consumers.delete(consumer),
    });
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (error) {
      await consumer.stop();
      throw toParleyError(operation, error);
    }
    return consumer;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = "closing";
      await Promise.allSettled([...this.consumers].map((consumer) => consumer.stop()));
      while (this.sending) await this.sending;
      this.state = "closed";
      const admin = this.adminReady;
      this.adminReady = undefined;
      await Promise.allSettled([this.producer?.disconnect(), admin?.then((client) => client.disconnect())]);
      this.producer = undefined;
      this.producerReady = undefined;
    })();
    return this.closing;
  }

  /** Sends waiting appends, one produce request at a time, until none is left. */
  private pump(): void {
    if (this.sending) return;
    this.sending = (async () => {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          await this.send(batch);
        } catch (error) {
          // send() settles every append itself; this only guards against a bug there.
          for (const pending of batch) pending.reject(error);
        }
      }
    })().finally(() => {
      this.sending = undefined;
      if (this.queue.length > 0) this.pump();
    });
  }

  /** The oldest waiting appends that fit in one request (at least one). */
  private takeBatch(): PendingAppend[] {
    const batch = [this.queue.shift() as PendingAppend];
    let count = (batch[0] as PendingAppend).messages.length;
    let bytes = (batch[0] as PendingAppend).bytes;
    for (;;) {
      const next = this.queue[0];
      if (!next) break;
      if (count + next.messages.length > this.o.maxRecordsPerSend) break;
      if (bytes + next.bytes > this.o.maxBytesPerSend) break;
      this.queue.shift();
      batch.push(next);
      count += next.messages.length;
      bytes += next.bytes;
    }
    return batch;
  }

  private async send(batch: PendingAppend[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const pending of batch) {
      const messages = byTopic.get(pending.topic);
      if (messages) messages.push(...pending.messages);
      else byTopic.set(pending.topic, [...pending.messages]);
    }
    let acknowledged: RecordMetadata[];
    try {
      const producer = await this.connectedProducer();
      acknowledged = await producer.sendBatch({
        acks: -1,
        timeout: this.o.requestTimeoutMs,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (error) {
      this.resetProducer(error);
      for (const pending of batch) pending.reject(toParleyError(`append to topic "${pending.topic}"`, error));
      return;
    }
    // Each partition's records were written in request order from its base offset.
    const next = new Map<string, number>();
    for (const meta of acknowledged) {
      next.set(partitionKey(meta.topicName, meta.partition), Number(meta.baseOffset));
    }
    for (const pending of batch) {
      const results: AppendResult[] = [];
      for (const partition of pending.partitions) {
        const key = partitionKey(pending.topic, partition);
        const offset = next.get(key);
        if (offset === undefined || !Number.isSafeInteger(offset)) break;
        next.set(key, offset + 1);
        results.push({ partition, offset });
      }
      if (results.length === pending.partitions.length) pending.resolve(results);
      else {
        pending.reject(
          new Error(
            `unable to append to topic "${pending.topic}"; the broker acknowledged the records without their offsets`,
          ),
        );
      }
    }
  }

  private connectedProducer(): Promise<Producer> {
    if (!this.producerReady) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // Never used for partitioning (every record has its partition); passing it
        // keeps kafkajs from warning about its v2 default.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      this.producer = producer;
      this.producerReady = producer.connect().then(() => producer);
    }
    return this.producerReady;
  }

  /**
   * Drops the producer after a failed send. kafkajs rewinds the idempotence sequence
   * numbers of a request that failed, though the broker may have written it; a different
   * request sent with the same numbers could then be acknowledged as a duplicate without
   * being written. A new producer gets a new producer id, with fresh numbers.
   */
  private resetProducer(error: unknown): void {
    const producer = this.producer;
    this.producer = undefined;
    this.producerReady = undefined;
    if (!producer) return;
    this.logger.warn("kafka append failed; replacing the producer", { err: error });
    producer.disconnect().catch(() => {});
  }

  /**
   * Runs `operation` with the connected admin client. After an unavailability error the
   * client is dropped and the next operation connects afresh: kafkajs can keep a broker
   * whose handshake timed out as "connected", failing every later request.
   */
  private async withAdmin<T>(operation: (admin: Admin) => Promise<T>): Promise<T> {
    if (!this.adminReady) {
      const admin = this.kafka.admin();
      this.adminReady = admin.connect().then(
        () => admin,
        async (error: unknown) => {
          this.adminReady = undefined;
          await admin.disconnect().catch(() => {});
          throw error;
        },
      );
    }
    const ready = this.adminReady;
    try {
      return await operation(await ready);
    } catch (error) {
      if (isKafkaUnavailable(error) && this.adminReady === ready) {
        this.adminReady = undefined;
        ready.then((admin) => admin.disconnect()).catch(() => {});
      }
      throw error;
    }
  }

  /** The topic's partition count, from the cache or the cluster; rejects when the topic is missing. */
  private async partitionCountOf(topic: string, operation: string): Promise<number> {
    const known = this.partitionCounts.get(topic);
    if (known !== undefined) return known;
    let lookup = this.lookups.get(topic);
    if (!lookup) {
      lookup = this.withAdmin((admin) => readPartitionCount(admin, topic)).finally(() =>
        this.lookups.delete(topic),
      );
      this.lookups.set(topic, lookup);
    }
    let partitions: number | undefined;
    try {
      partitions = await lookup;
    } catch (error) {
      throw toParleyError(operation, error);
    }
    if (partitions === undefined) {
      throw new Error(`unable to ${operation}; the topic does not exist (call ensureTopic first)`);
    }
    this.partitionCounts.set(topic, partitions);
    return partitions;
  }

  /** Appends (and partitionFor, ensureTopic) keep working while close() stops consumers. */
  private assertUsable(operation: string): void {
    if (this.state === "closed") throw closedError(operation);
  }
}

function assertTopicName(topic: string, operation: string): void {
  if (typeof topic !== "string" || topic.length === 0) {
    throw new TypeError(`unable to ${operation}; the topic name must be a non-empty string`);
  }
}

/** Reads the partition count from the cluster; undefined when the topic does not exist. */
async function readPartitionCount(admin: Admin, topic: string): Promise<number | undefined> {
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = topics.find((t) => t.name === topic)?.partitions.length;
    return partitions ? partitions : undefined;
  } catch (error) {
    if (kafkaErrorType(error) === "UNKNOWN_TOPIC_OR_PARTITION") return undefined;
    throw error;
  }
}

/**
 * Polls the topic's metadata until every partition has a leader; its partition count, or
 * undefined when it is still unknown after `timeoutMs`.
 */
async function waitForTopic(admin: Admin, topic: string, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const found = topics.find((t) => t.name === topic);
      if (found && found.partitions.length > 0 && found.partitions.every((p) => p.leader >= 0)) {
        return found.partitions.length;
      }
    } catch (error) {
      if (kafkaErrorType(error) !== "UNKNOWN_TOPIC_OR_PARTITION" && !isKafkaUnavailable(error)) throw error;
    }
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
