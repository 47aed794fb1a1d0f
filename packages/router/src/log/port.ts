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
  /**
   * Called with every partition of the topic this consumer owns, whenever that set
   * changes (after it joins the group and after each rebalance), before records of a
   * newly assigned partition reach the handler; called with [] once `stop()` finished.
   *
   * Partitions are listed in ascending order. It may be called again with the same set
   * (Kafka reports every rejoin): a member that was out of the group for a while (a
   * stalled process whose session expired) may have lost a partition and got it back,
   * and another member may have handled records of it in between. So anything kept
   * about a partition's records (caches of state they build) should be treated as
   * possibly stale after every call, not only after calls that drop the partition.
   * Kafka also calls it with [] when its client gives up on a consumer (before it
   * restarts and joins again). It must not throw; it is called synchronously, never
   * during a handler call of a partition it takes away.
   */
  onAssignment?: (partitions: number[]) => void;
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
  /**
   * The partition a key maps to. Synchronous, so the topic's partition count must be
   * known already: the in-process log reads it from its database (any topic created
   * with `ensureTopic`, in this process or an earlier one); the Kafka log learns it
   * from a prior `ensureTopic`, `append` or `consume` on the topic by this object,
   * and throws before that. Call `ensureTopic` at start-up.
   */
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
