import { DatabaseSync, type StatementSync } from "node:sqlite";
import { partitionForKey } from "./partitioner.js";
import type {
  AppendResult,
  ConsumeOptions,
  Consumer,
  EventLog,
  LogRecord,
  NewRecord,
  RecordHandler,
} from "./port.js";

/** Options for {@link createSqliteEventLog}. */
export interface SqliteEventLogOptions {
  /**
   * The SQLite database file (created if missing), or `":memory:"` for a log that
   * lives only as long as the returned object. One process owns a file: the next
   * offset of every partition is tracked in memory, so two processes must not append
   * to the same file.
   */
  path: string;
  /**
   * How often an idle partition consumer re-reads the database in case records
   * arrived without an in-process notification. Appends through this object wake its
   * consumers at once, so this is only a fallback.
   * @defaultValue 1000
   */
  pollIntervalMs?: number;
  /**
   * Optional pruning. After a group commits, records of that partition are deleted
   * when every group known to the partition (every group that has ever consumed the
   * topic) has committed past them and more than `maxRecordsPerPartition` newer
   * records remain. A group that starts consuming after records were pruned starts
   * from the oldest record left.
   * @defaultValue undefined (keep every record)
   */
  retention?: {
    /**
     * Records to keep per partition even when every group has committed them; at
     * least 1 (the newest record tells a reopened log where the partition ends).
     * @defaultValue undefined (no pruning)
     */
    maxRecordsPerPartition?: number;
  };
  /**
   * The clock for record timestamps (`timestampMs`), in milliseconds since the epoch.
   * @defaultValue Date.now
   */
  now?: () => number;
}

const DEFAULT_POLL_INTERVAL_MS = 1000;
const DEFAULT_MAX_BATCH = 500;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;
const BUSY_TIMEOUT_MS = 5000;

// "offset" and "group" are SQL keywords, hence the quotes. WITHOUT ROWID keeps each
// table as one B-tree ordered by its key, so a consumer's batch read is one range scan
// and an append writes one tree instead of a table plus an index.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS topics (
  name TEXT PRIMARY KEY,
  partitions INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  "offset" INTEGER NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  ts INTEGER NOT NULL,
  PRIMARY KEY (topic, partition, "offset")
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_offsets (
  "group" TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY (topic, partition, "group")
) STRICT, WITHOUT ROWID;
`;

/**
 * Creates the in-process partitioned log (Kafka's model) persisted in SQLite through
 * `node:sqlite`.
 *
 * - `append` writes all its records atomically and resolves after the commit. Appends
 *   and offset commits made in one turn of the event loop share one transaction (group
 *   commit), so concurrent appends cost one commit, not one each.
 * - `consume` runs one loop per partition: it reads up to `maxBatch` records after the
 *   group's committed offset, calls the handler, and commits when it resolves (with the
 *   next group commit; at the latest when the consumer stops). When the
 *   handler throws, `onError` is called and the same records are delivered again after
 *   a backoff (50 ms, doubling up to 1 s). Partitions run concurrently; within a
 *   partition there is one handler call at a time, in offset order.
 * - There is one consumer per group and topic in this log (no partition assignment
 *   between consumers): a second `consume` of the same group and topic rejects while
 *   the first runs. Different groups consume independently. `onAssignment` is called
 *   once with every partition when `consume` starts, and with [] when `stop()` ends.
 * - A topic's partition count is fixed when it is created; `ensureTopic` with another
 *   count rejects (Kafka cannot shrink a topic; growing is not supported here either,
 *   since it would move keys to other partitions).
 * - `close` stops every consumer (waiting for handler calls in flight, which may still
 *   append) and then closes the database; every later call rejects.
 */
export function createSqliteEventLog(options: SqliteEventLogOptions): EventLog {
  return new SqliteEventLog(options);
}

interface Statements {
  begin: StatementSync;
  commit: StatementSync;
  rollback: StatementSync;
  savepoint: StatementSync;
  release: StatementSync;
  rollbackToSavepoint: StatementSync;
  selectTopic: StatementSync;
  insertTopic: StatementSync;
  selectPartitionEnds: StatementSync;
  insertRecord: StatementSync;
  selectBatch: StatementSync;
  selectCommitted: StatementSync;
  upsertCommitted: StatementSync;
  insertCommittedIfMissing: StatementSync;
  prune: StatementSync;
}

/** An `append` waiting for the next group commit. */
interface PendingAppend {
  topic: string;
  partitions: number;
  records: NewRecord[];
  resolve(results: AppendResult[]): void;
  reject(error: Error): void;
}

/** A group's offset waiting for the next group commit. */
interface PendingOffset {
  group: string;
  topic: string;
  partition: number;
  next: number;
}

/** An append written in the current group commit, resolved once it commits. */
interface WrittenAppend {
  pending: PendingAppend;
  results: AppendResult[];
  /** The topic's next offsets before this append, to restore when the commit fails. */
  before: number[];
}

interface RecordRow {
  offset: number;
  key: string;
  value: Uint8Array;
  ts: number;
}

class SqliteEventLog implements EventLog {
  private readonly db: DatabaseSync;
  private readonly statements: Statements;
  private readonly pollIntervalMs: number;
  private readonly keepRecords: number | undefined;
  private readonly now: () => number;
  /** Partition count per known topic. */
  private readonly topics = new Map<string, number>();
  /** Next offset per partition, per topic; loaded on first append. */
  private readonly nextOffsets = new Map<string, number[]>();
  /** Running consumers by group and topic. */
  private readonly consumers = new Map<string, GroupConsumer>();
  /** Partition loops waiting for appends, by topic and partition. */
  private readonly listeners = new Map<string, Set<PartitionLoop>>();
  private state: "open" | "closing" | "closed" = "open";
  /** Appends and offset commits made since the last group commit. */
  private pendingAppends: PendingAppend[] = [];
  private readonly pendingOffsets = new Map<string, PendingOffset>();
  private flushScheduled = false;
  private closing: Promise<void> | undefined;

  constructor(options: SqliteEventLogOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (!(this.pollIntervalMs > 0)) {
      throw new RangeError(
        `unable to create the event log; pollIntervalMs must be positive, got ${this.pollIntervalMs}`,
      );
    }
    this.keepRecords = options.retention?.maxRecordsPerPartition;
    if (this.keepRecords !== undefined && !(Number.isInteger(this.keepRecords) && this.keepRecords >= 1)) {
      throw new RangeError(
        `unable to create the event log; retention.maxRecordsPerPartition must be an integer >= 1, got ${this.keepRecords}`,
      );
    }
    this.now = options.now ?? Date.now;
    this.db = new DatabaseSync(options.path);
    try {
      // WAL lets consumers read while an append writes. synchronous=NORMAL skips the
      // fsync on each commit (WAL is synced at checkpoints): a committed transaction is
      // in the WAL file in the OS page cache, so it survives the process being killed;
      // only an OS crash or power loss can lose the last commits.
      this.db.exec(
        `PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS};`,
      );
      this.db.exec(SCHEMA);
      this.statements = this.prepareStatements();
    } catch (error) {
      this.db.close();
      throw new Error(`unable to open the event log at ${options.path}; ${describe(error)}`, {
        cause: error,
      });
    }
  }

  private prepareStatements(): Statements {
    const db = this.db;
    return {
      begin: db.prepare("BEGIN IMMEDIATE"),
      commit: db.prepare("COMMIT"),
      rollback: db.prepare("ROLLBACK"),
      savepoint: db.prepare("SAVEPOINT one_append"),
      release: db.prepare("RELEASE one_append"),
      rollbackToSavepoint: db.prepare("ROLLBACK TO one_append"),
      selectTopic: db.prepare("SELECT partitions FROM topics WHERE name = ?"),
      insertTopic: db.prepare("INSERT INTO topics (name, partitions) VALUES (?, ?)"),
      selectPartitionEnds: db.prepare(
        'SELECT partition, max("offset") AS last FROM records WHERE topic = ? GROUP BY partition',
      ),
      insertRecord: db.prepare(
        'INSERT INTO records (topic, partition, "offset", key, value, ts) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      selectBatch: db.prepare(
        'SELECT "offset" AS offset, key, value, ts FROM records WHERE topic = ? AND partition = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?',
      ),
      selectCommitted: db.prepare(
        'SELECT next_offset AS next FROM group_offsets WHERE topic = ? AND partition = ? AND "group" = ?',
      ),
      upsertCommitted: db.prepare(
        'INSERT INTO group_offsets ("group", topic, partition, next_offset) VALUES (?, ?, ?, ?) ON CONFLICT (topic, partition, "group") DO UPDATE SET next_offset = excluded.next_offset',
      ),
      insertCommittedIfMissing: db.prepare(
        'INSERT INTO group_offsets ("group", topic, partition, next_offset) VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING',
      ),
      // min(x, NULL) is NULL, so a partition no group has consumed is never pruned.
      prune: db.prepare(
        'DELETE FROM records WHERE topic = ?1 AND partition = ?2 AND "offset" < min(?3, (SELECT min(next_offset) FROM group_offsets WHERE topic = ?1 AND partition = ?2))',
      ),
    };
  }

  async ensureTopic(topic: string, partitions: number): Promise<void> {
    this.assertUsable("ensure topic");
    if (typeof topic !== "string" || topic.length === 0) {
      throw new TypeError("unable to ensure topic; the topic name must be a non-empty string");
    }
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new RangeError(
        `unable to ensure topic "${topic}"; partitions must be a positive integer, got ${partitions}`,
      );
    }
    const existing = this.partitionCount(topic);
    if (existing === undefined) {
      this.statements.insertTopic.run(topic, partitions);
      this.topics.set(topic, partitions);
    } else if (existing !== partitions) {
      throw new Error(
        `unable to ensure topic "${topic}"; it exists with ${existing} partitions, not ${partitions} (the in-process log cannot change a topic's partition count)`,
      );
    }
  }

  partitionFor(topic: string, key: string): number {
    this.assertUsable("choose a partition");
    return partitionForKey(key, this.requireTopic(topic, "choose a partition for topic"));
  }

  async append(topic: string, records: NewRecord[]): Promise<AppendResult[]> {
    this.assertUsable("append");
    const partitions = this.requireTopic(topic, "append to topic");
    if (records.length === 0) return [];
    for (const record of records) {
      if (typeof record.key !== "string" || !(record.value instanceof Uint8Array)) {
        throw new TypeError(
          `unable to append to topic "${topic}"; every record needs a string key and a Uint8Array value`,
        );
      }
    }
    return new Promise<AppendResult[]>((resolve, reject) => {
      this.pendingAppends.push({ topic, partitions, records, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(delayMs = 0): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const run = () => {
      this.flushScheduled = false;
      this.flush();
    };
    if (delayMs > 0) setTimeout(run, delayMs);
    else setImmediate(run);
  }

  /**
   * Group commit: writes every append and offset commit made since the last flush
   * in one transaction, then resolves the appends and wakes their partitions' consumers.
   * Appends from one turn of the event loop (e.g. many requests' commands) share one
   * commit instead of paying one each; nothing resolves before its commit. Appends
   * almost never fail, so the batch first runs without a savepoint per append; when
   * one fails, the batch is rolled back and run again with a savepoint each, so the
   * failing append fails alone.
   */
  private flush(): void {
    const appends = this.pendingAppends;
    this.pendingAppends = [];
    const offsets = [...this.pendingOffsets.values()];
    this.pendingOffsets.clear();
    if (appends.length === 0 && offsets.length === 0) return;
    if (this.state === "closed") {
      for (const p of appends) p.reject(closedError("append"));
      return;
    }
    let written: WrittenAppend[];
    try {
      try {
        written = this.transact(appends, offsets, false);
      } catch (error) {
        if (appends.length <= 1) throw error;
        written = this.transact(appends, offsets, true);
      }
    } catch (error) {
      for (const p of appends) p.reject(appendError(p.topic, error));
      // Offsets stay pending (unless a newer one came meanwhile) and are retried.
      for (const o of offsets) {
        const key = offsetKey(o.group, o.topic, o.partition);
        if (!this.pendingOffsets.has(key)) this.pendingOffsets.set(key, o);
      }
      if (this.pendingOffsets.size > 0) this.scheduleFlush(BACKOFF_MIN_MS);
      return;
    }
    for (const w of written) w.pending.resolve(w.results);
    const touched = new Set<string>();
    for (const w of written) {
      for (const r of w.results) {
        const key = listenerKey(w.pending.topic, r.partition);
        if (touched.has(key)) continue;
        touched.add(key);
        const loops = this.listeners.get(key);
        if (loops) for (const loop of loops) loop.notifyAppend();
      }
    }
  }

  /**
   * One group commit's transaction. With `isolate`, each append runs in a savepoint and
   * one that fails is rejected here and left out; without it, any failure fails the
   * whole transaction. Throws when the transaction fails, after rolling it back and
   * putting every topic's next offsets back where they were.
   */
  private transact(appends: PendingAppend[], offsets: PendingOffset[], isolate: boolean): WrittenAppend[] {
    const { begin, commit, rollback, savepoint, release, rollbackToSavepoint, insertRecord } =
      this.statements;
    const { upsertCommitted, prune } = this.statements;
    const written: WrittenAppend[] = [];
    const ts = this.now();
    try {
      begin.run();
      for (const pending of appends) {
        const next = this.nextOffsetsOf(pending.topic, pending.partitions);
        const before = next.slice();
        if (isolate) savepoint.run();
        try {
          const results: AppendResult[] = [];
          for (const record of pending.records) {
            const partition = partitionForKey(record.key, pending.partitions);
            const offset = next[partition] as number;
            insertRecord.run(pending.topic, partition, offset, record.key, record.value, ts);
            next[partition] = offset + 1;
            results.push({ partition, offset });
          }
          if (isolate) release.run();
          written.push({ pending, results, before });
        } catch (error) {
          next.splice(0, next.length, ...before);
          if (!isolate) throw error;
          rollbackToSavepoint.run();
          release.run();
          pending.reject(appendError(pending.topic, error));
        }
      }
      for (const o of offsets) {
        upsertCommitted.run(o.group, o.topic, o.partition, o.next);
        if (this.keepRecords !== undefined) {
          const end = this.nextOffsets.get(o.topic)?.[o.partition] ?? o.next;
          const keepFrom = end - this.keepRecords;
          if (keepFrom > 0) prune.run(o.topic, o.partition, keepFrom);
        }
      }
      commit.run();
    } catch (error) {
      if (this.db.isTransaction) rollback.run();
      // Undo the offsets handed out, newest first, so each topic is back where it was.
      for (const w of written.reverse()) {
        const next = this.nextOffsets.get(w.pending.topic);
        next?.splice(0, next.length, ...w.before);
      }
      throw error;
    }
    return written;
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const { topic, group, handler } = options;
    // New consumers are refused as soon as close() starts.
    if (this.state !== "open") throw closedError("consume");
    const partitions = this.requireTopic(topic, "consume topic");
    const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError(
        `unable to consume topic "${topic}"; maxBatch must be a positive integer, got ${maxBatch}`,
      );
    }
    const consumerKey = `${group}\u0000${topic}`;
    if (this.consumers.has(consumerKey)) {
      throw new Error(
        `unable to consume topic "${topic}" as group "${group}"; this group already has a running consumer on this topic (the in-process log runs one consumer per group and topic; stop it first)`,
      );
    }
    const starts = this.registerGroup(group, topic, partitions);
    const onAssignment = options.onAssignment;
    const consumer = new GroupConsumer(() => {
      // What the stopped loops finished is committed now, not at the next flush.
      this.flush();
      this.consumers.delete(consumerKey);
      notifyAssignment(onAssignment, []);
    });
    // Every partition belongs to this consumer, before its loops deliver anything.
    notifyAssignment(
      onAssignment,
      Array.from({ length: partitions }, (_, partition) => partition),
    );
    for (let partition = 0; partition < partitions; partition++) {
      const loop = new PartitionLoop({
        log: this,
        topic,
        group,
        partition,
        next: starts[partition] as number,
        maxBatch,
        handler,
        onError: options.onError,
      });
      consumer.add(loop);
    }
    this.consumers.set(consumerKey, consumer);
    return consumer;
  }

  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.state = "closing";
    this.closing = (async () => {
      await Promise.all([...this.consumers.values()].map((consumer) => consumer.stop()));
      this.flush();
      this.state = "closed";
      this.db.close();
    })();
    return this.closing;
  }

  /** @internal Reads up to `limit` records of a partition from `from` on. */
  readBatch(topic: string, partition: number, from: number, limit: number): LogRecord[] {
    const rows = this.statements.selectBatch.all(topic, partition, from, limit) as unknown as RecordRow[];
    return rows.map((row) => ({
      topic,
      partition,
      offset: row.offset,
      key: row.key,
      value: row.value,
      timestampMs: row.ts,
    }));
  }

  /**
   * @internal Records a group's next offset; it is written (and the partition pruned,
   * if retention is on) with the next group commit, at the latest when the consumer
   * stops. A crash before that only redelivers records, which at-least-once allows.
   */
  commitOffset(group: string, topic: string, partition: number, next: number): void {
    this.pendingOffsets.set(offsetKey(group, topic, partition), { group, topic, partition, next });
    this.scheduleFlush();
  }

  /** @internal */
  get idlePollMs(): number {
    return this.pollIntervalMs;
  }

  /** @internal Registers a partition loop to be woken by appends to its partition. */
  listen(topic: string, partition: number, loop: PartitionLoop): () => void {
    const key = listenerKey(topic, partition);
    let loops = this.listeners.get(key);
    if (!loops) {
      loops = new Set();
      this.listeners.set(key, loops);
    }
    loops.add(loop);
    return () => {
      loops.delete(loop);
      if (loops.size === 0) this.listeners.delete(key);
    };
  }

  /** Reads the group's committed offsets, recording the group (at 0) where it has none. */
  private registerGroup(group: string, topic: string, partitions: number): number[] {
    const { begin, commit, rollback, selectCommitted, insertCommittedIfMissing } = this.statements;
    const starts: number[] = [];
    begin.run();
    try {
      for (let partition = 0; partition < partitions; partition++) {
        const row = selectCommitted.get(topic, partition, group) as { next: number } | undefined;
        if (!row) insertCommittedIfMissing.run(group, topic, partition);
        starts.push(row?.next ?? 0);
      }
      commit.run();
    } catch (error) {
      if (this.db.isTransaction) rollback.run();
      throw new Error(`unable to consume topic "${topic}" as group "${group}"; ${describe(error)}`, {
        cause: error,
      });
    }
    return starts;
  }

  private partitionCount(topic: string): number | undefined {
    const cached = this.topics.get(topic);
    if (cached !== undefined) return cached;
    const row = this.statements.selectTopic.get(topic) as { partitions: number } | undefined;
    if (row) this.topics.set(topic, row.partitions);
    return row?.partitions;
  }

  private requireTopic(topic: string, operation: string): number {
    const partitions = this.partitionCount(topic);
    if (partitions === undefined) {
      throw new Error(`unable to ${operation} "${topic}"; the topic does not exist (call ensureTopic first)`);
    }
    return partitions;
  }

  private nextOffsetsOf(topic: string, partitions: number): number[] {
    let next = this.nextOffsets.get(topic);
    if (!next) {
      next = new Array<number>(partitions).fill(0);
      const rows = this.statements.selectPartitionEnds.all(topic) as unknown as {
        partition: number;
        last: number;
      }[];
      for (const row of rows) next[row.partition] = row.last + 1;
      this.nextOffsets.set(topic, next);
    }
    return next;
  }

  /** Appends (and partitionFor, ensureTopic) keep working while close() stops consumers. */
  private assertUsable(operation: string): void {
    if (this.state === "closed") throw closedError(operation);
  }
}

function closedError(operation: string): Error {
  return new Error(`unable to ${operation}; the event log is closed`);
}

function notifyAssignment(onAssignment: ConsumeOptions["onAssignment"], partitions: number[]): void {
  try {
    onAssignment?.(partitions);
  } catch {
    // A throwing onAssignment must not stop delivery (nor stop() from finishing).
  }
}

function offsetKey(group: string, topic: string, partition: number): string {
  return `${group}\u0000${topic}\u0000${partition}`;
}

function appendError(topic: string, error: unknown): Error {
  return new Error(`unable to append to topic "${topic}"; ${describe(error)}`, { cause: error });
}

function listenerKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The partition loops of one `consume` call. */
class GroupConsumer implements Consumer {
  private readonly loops: PartitionLoop[] = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly onStopped: () => void) {}

  add(loop: PartitionLoop): void {
    this.loops.push(loop);
  }

  stop(): Promise<void> {
    this.stopping ??= Promise.all(this.loops.map((loop) => loop.stop())).then(this.onStopped);
    return this.stopping;
  }
}

interface PartitionLoopOptions {
  log: SqliteEventLog;
  topic: string;
  group: string;
  partition: number;
  /** The group's committed offset: the first record to deliver. */
  next: number;
  maxBatch: number;
  handler: RecordHandler;
  onError: ((error: unknown, records: LogRecord[]) => void) | undefined;
}

/** Delivers one partition to one group: one handler call at a time, in offset order. */
class PartitionLoop {
  private stopped = false;
  private wake: (() => void) | undefined;
  private wakeOnAppend = false;
  private readonly done: Promise<void>;

  constructor(private readonly o: PartitionLoopOptions) {
    this.done = this.run();
  }

  notifyAppend(): void {
    if (this.wakeOnAppend) this.wake?.();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    return this.done;
  }

  private async run(): Promise<void> {
    const { log, topic, group, partition, maxBatch, handler } = this.o;
    const unlisten = log.listen(topic, partition, this);
    let next = this.o.next;
    let backoff = BACKOFF_MIN_MS;
    try {
      while (!this.stopped) {
        let records: LogRecord[] = [];
        try {
          records = log.readBatch(topic, partition, next, maxBatch);
          if (records.length === 0) {
            await this.sleep(log.idlePollMs, true);
            continue;
          }
          await handler(records);
          const last = records[records.length - 1] as LogRecord;
          log.commitOffset(group, topic, partition, last.offset + 1);
          next = last.offset + 1;
          backoff = BACKOFF_MIN_MS;
        } catch (error) {
          this.report(error, records);
          if (this.stopped) break;
          await this.sleep(backoff, false);
          backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
        }
      }
    } finally {
      unlisten();
    }
  }

  private report(error: unknown, records: LogRecord[]): void {
    try {
      this.o.onError?.(error, records);
    } catch {
      // A throwing onError must not end delivery of the partition.
    }
  }

  /** Waits `ms`, or less if stopped (or, with `wakeOnAppend`, when records are appended). */
  private sleep(ms: number, wakeOnAppend: boolean): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        this.wakeOnAppend = false;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wake = finish;
      this.wakeOnAppend = wakeOnAppend;
    });
  }
}
