/** A record in a topic partition. */
export interface LogRecord {
  topic: string;
  partition: number;
  /** Position in the partition: 0, 1, 2 ... */
  offset: number;
  key: string;
  value: Uint8Array;
  timestampMs: number;
}

/** Where an appended record landed. */
export interface AppendResult {
  partition: number;
  offset: number;
}

/** A record to append. */
export interface NewRecord {
  key: string;
  value: Uint8Array;
}

/**
 * Called with records of one partition in offset order. When it resolves, the
 * records are committed for the group; when it throws, they are delivered again
 * (at-least-once).
 */
export type RecordHandler = (records: LogRecord[]) => Promise<void>;

/** Options for {@link EventLog.consume}. */
export interface ConsumeOptions {
  topic: string;
  /** Consumer group; committed offsets are kept per group and partition. */
  group: string;
  handler: RecordHandler;
  /** Most records per handler call. @defaultValue 500 */
  maxBatch?: number;
  /** Called when the handler throws, before redelivery. */
  onError?: (error: unknown, records: LogRecord[]) => void;
}

/** A running consumer. */
export interface Consumer {
  /** Stops fetching, waits for the handler call in flight, and commits what it finished. */
  stop(): Promise<void>;
}

/**
 * A partitioned, durable, append-only log (Kafka's model). Records with the same
 * key go to the same partition, in append order. Implementations: the in-process
 * SQLite log (`createSqliteEventLog`) and Kafka (`@parley/router-kafka`); all pass
 * `describeEventLog` from `@parley/testkit`.
 */
export interface EventLog {
  /** Creates the topic with `partitions` partitions if it does not exist. */
  ensureTopic(topic: string, partitions: number): Promise<void>;
  /** The partition a key maps to. */
  partitionFor(topic: string, key: string): number;
  /** Appends records; resolves once they are durable (committed to disk / acks=all). */
  append(topic: string, records: NewRecord[]): Promise<AppendResult[]>;
  /**
   * Starts a group consumer over the topic's partitions assigned to this process
   * (all of them for the in-process log). Each partition is handled in offset
   * order, one handler call at a time.
   */
  consume(options: ConsumeOptions): Promise<Consumer>;
  /** Stops consumers and releases resources. */
  close(): Promise<void>;
}
