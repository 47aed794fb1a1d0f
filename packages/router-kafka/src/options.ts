import type { Logger } from "@parley/router";
import { silentLogger } from "@parley/router";
import type { KafkaConfig, SASLOptions } from "kafkajs";

/** How much of kafkajs's own logging reaches the injected {@link Logger}. */
export type KafkaJsLogLevel = "nothing" | "error" | "warn" | "info" | "debug";

/** Retries of one Kafka request (connect, metadata, produce, commit, ...). */
export interface KafkaRetryOptions {
  /**
   * Retries after the first attempt; then the operation fails with the
   * dependency-unavailable error.
   * @defaultValue 5
   */
  retries?: number;
  /** Wait before the first retry; it roughly doubles (with jitter) on each retry. @defaultValue 300 */
  initialRetryTimeMs?: number;
  /** Longest wait between two retries. @defaultValue 30000 */
  maxRetryTimeMs?: number;
}

/** Options for {@link createKafkaEventLog}. */
export interface KafkaEventLogOptions {
  /** Bootstrap brokers, `host:port` each, e.g. `["kafka-1:9092", "kafka-2:9092"]`. */
  brokers: string[];
  /** Client id the brokers see (quotas, request logs). @defaultValue "parley" */
  clientId?: string;
  /**
   * TLS to the brokers, passed to kafkajs unchanged: `true` for the system CAs, or Node
   * `tls.connect` options (ca, cert, key, servername, ...).
   * @defaultValue undefined (plaintext)
   */
  ssl?: KafkaConfig["ssl"];
  /**
   * SASL authentication, passed to kafkajs unchanged
   * (`{ mechanism: "scram-sha-512", username, password }`, `plain`, `aws`, `oauthbearer`).
   * @defaultValue undefined (no authentication)
   */
  sasl?: SASLOptions;
  /** Where the log and kafkajs write their lines. @defaultValue silentLogger */
  logger?: Logger;
  /**
   * The most verbose kafkajs lines passed on to `logger` (under `component: "kafkajs"`).
   * kafkajs reports every error it retries at "error"; those lines are passed on at warn,
   * since the log reports what it could not recover from itself.
   * @defaultValue "warn"
   */
  kafkajsLogLevel?: KafkaJsLogLevel;
  /**
   * Replication factor of the topics `ensureTopic` creates. 1 suits a one-broker
   * development cluster; use 3 in production (with `topicConfig`
   * `{ "min.insync.replicas": "2" }`), so an append acknowledged with acks=all survives
   * the loss of a broker.
   * @defaultValue 1
   */
  replicationFactor?: number;
  /**
   * Topic-level configuration of the topics `ensureTopic` creates, e.g.
   * `{ "min.insync.replicas": "2", "retention.ms": "604800000" }`. Existing topics are
   * not altered.
   * @defaultValue {} (the broker's defaults)
   */
  topicConfig?: Record<string, string>;
  /** Time to open a connection to a broker. @defaultValue 3000 */
  connectionTimeoutMs?: number;
  /** Time to wait for a broker's answer to one request. @defaultValue 30000 */
  requestTimeoutMs?: number;
  /** Retries of failed requests (see {@link KafkaRetryOptions}). @defaultValue kafkajs's: 5 retries from 300 ms up to 30 s */
  retry?: KafkaRetryOptions;
  /**
   * A consumer that sends no heartbeat for this long is removed from its group and its
   * partitions go to the other members: this is how long the partitions of a member
   * killed without leaving (SIGKILL, a lost machine) stay unhandled. A member that stops
   * cleanly leaves at once. The broker only accepts values between its
   * `group.min.session.timeout.ms` (6000 by default) and `group.max.session.timeout.ms`.
   * For a cluster that must notice a killed worker or gateway within about 10 s, use
   * `sessionTimeoutMs: 10000` with `heartbeatIntervalMs: 3000`; lower values hand over
   * faster but drop members during long pauses (GC, an overloaded host).
   * @defaultValue 30000 (kafkajs's default)
   */
  sessionTimeoutMs?: number;
  /**
   * How long the group waits for every member to rejoin during a rebalance; a member
   * whose handler call is still running must finish it within this time (or it is
   * dropped from the group and its records are handled again by the new owner).
   * @defaultValue 60000 (kafkajs's default)
   */
  rebalanceTimeoutMs?: number;
  /**
   * How often consumers heartbeat (also while a handler call runs); well under
   * `sessionTimeoutMs`, about a third of it. A rebalance is noticed within one interval.
   * @defaultValue 3000 (kafkajs's default)
   */
  heartbeatIntervalMs?: number;
  /**
   * Longest wait of a fetch for new records; an idle consumer's `stop()` can take this long.
   * @defaultValue 500
   */
  maxWaitTimeMs?: number;
  /**
   * Partitions of one consumer whose handler calls may run at once (each partition still
   * has one call at a time, in offset order).
   * @defaultValue 8
   */
  partitionsConsumedConcurrently?: number;
  /**
   * Appends are written one produce request at a time (see the package README); the
   * appends waiting meanwhile are sent together in the next request, up to this many
   * records. An append larger than this is sent alone.
   * @defaultValue 1000
   */
  maxRecordsPerSend?: number;
  /**
   * The most key and value bytes of waiting appends combined into one produce request.
   * An append larger than this is sent alone.
   * @defaultValue 524288 (512 KiB)
   */
  maxBytesPerSend?: number;
}

/** Options with every default applied. @internal */
export interface ResolvedOptions {
  brokers: string[];
  clientId: string;
  ssl: KafkaConfig["ssl"];
  sasl: SASLOptions | undefined;
  logger: Logger;
  kafkajsLogLevel: KafkaJsLogLevel;
  replicationFactor: number;
  topicConfig: Record<string, string>;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  retry: Required<KafkaRetryOptions>;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  maxWaitTimeMs: number;
  partitionsConsumedConcurrently: number;
  maxRecordsPerSend: number;
  maxBytesPerSend: number;
}

const LOG_LEVELS: readonly KafkaJsLogLevel[] = ["nothing", "error", "warn", "info", "debug"];

function positiveInteger(name: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(
      `unable to create the Kafka event log; ${name} must be an integer >= ${min}, got ${value}`,
    );
  }
  return value;
}

/** Applies defaults and validates, once. @internal */
export function resolveOptions(options: KafkaEventLogOptions): ResolvedOptions {
  if (
    !Array.isArray(options.brokers) ||
    options.brokers.length === 0 ||
    options.brokers.some((broker) => typeof broker !== "string" || broker.length === 0)
  ) {
    throw new TypeError(
      "unable to create the Kafka event log; brokers must be a non-empty array of host:port strings",
    );
  }
  const kafkajsLogLevel = options.kafkajsLogLevel ?? "warn";
  if (!LOG_LEVELS.includes(kafkajsLogLevel)) {
    throw new RangeError(
      `unable to create the Kafka event log; kafkajsLogLevel must be one of ${LOG_LEVELS.join(", ")}, got ${kafkajsLogLevel}`,
    );
  }
  const resolved: ResolvedOptions = {
    brokers: [...options.brokers],
    clientId: options.clientId ?? "parley",
    ssl: options.ssl,
    sasl: options.sasl,
    logger: options.logger ?? silentLogger,
    kafkajsLogLevel,
    replicationFactor: positiveInteger("replicationFactor", options.replicationFactor ?? 1),
    topicConfig: { ...(options.topicConfig ?? {}) },
    connectionTimeoutMs: positiveInteger("connectionTimeoutMs", options.connectionTimeoutMs ?? 3000),
    requestTimeoutMs: positiveInteger("requestTimeoutMs", options.requestTimeoutMs ?? 30_000),
    retry: {
      retries: positiveInteger("retry.retries", options.retry?.retries ?? 5, 0),
      initialRetryTimeMs: positiveInteger(
        "retry.initialRetryTimeMs",
        options.retry?.initialRetryTimeMs ?? 300,
      ),
      maxRetryTimeMs: positiveInteger("retry.maxRetryTimeMs", options.retry?.maxRetryTimeMs ?? 30_000),
    },
    sessionTimeoutMs: positiveInteger("sessionTimeoutMs", options.sessionTimeoutMs ?? 30_000),
    rebalanceTimeoutMs: positiveInteger("rebalanceTimeoutMs", options.rebalanceTimeoutMs ?? 60_000),
    heartbeatIntervalMs: positiveInteger("heartbeatIntervalMs", options.heartbeatIntervalMs ?? 3000),
    maxWaitTimeMs: positiveInteger("maxWaitTimeMs", options.maxWaitTimeMs ?? 500),
    partitionsConsumedConcurrently: positiveInteger(
      "partitionsConsumedConcurrently",
      options.partitionsConsumedConcurrently ?? 8,
    ),
    maxRecordsPerSend: positiveInteger("maxRecordsPerSend", options.maxRecordsPerSend ?? 1000),
    maxBytesPerSend: positiveInteger("maxBytesPerSend", options.maxBytesPerSend ?? 512 * 1024),
  };
  if (resolved.heartbeatIntervalMs >= resolved.sessionTimeoutMs) {
    throw new RangeError(
      `unable to create the Kafka event log; heartbeatIntervalMs (${resolved.heartbeatIntervalMs}) must be below sessionTimeoutMs (${resolved.sessionTimeoutMs})`,
    );
  }
  return resolved;
}
