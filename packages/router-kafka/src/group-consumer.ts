import type { ConsumeOptions, Consumer, Logger, LogRecord } from "@parley/router";
import type { EachBatchPayload, Kafka, Consumer as KafkaConsumer, KafkaMessage } from "kafkajs";
import type { ResolvedOptions } from "./options.js";

/** Backoff before a partition whose handler threw is fetched again: 50 ms, doubling up to 1 s. */
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;
/** Backoff before a consumer that kafkajs gave up on is started again. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

/** @internal */
export interface GroupConsumerInit {
  kafka: Kafka;
  options: ResolvedOptions;
  consume: ConsumeOptions;
  maxBatch: number;
  logger: Logger;
  /** Called once, when `stop()` has finished. */
  onStopped: () => void;
}

/**
 * One member of a Kafka consumer group over one topic (one `EventLog.consume` call).
 *
 * Offsets are committed by hand (`autoCommit: false`), right after each handler call
 * resolves and before the next call on that partition, so a committed offset is never
 * ahead of what a handler finished. When a handler throws, nothing is resolved or
 * committed for those records: the partition is paused for a backoff and fetched again
 * from the first unhandled record, while the other partitions go on. After a rebalance
 * kafkajs starts every assigned partition from the group's committed offset, so records
 * handled but not yet committed are delivered again (at-least-once), and none is skipped.
 *
 * `onAssignment` gets the partitions of kafkajs's GROUP_JOIN event after every join
 * (sorted; reported even when unchanged, since a member that rejoins may have been out
 * of the group meanwhile), [] when kafkajs crashed (it has left the group), and [] once
 * `stop()` finished. kafkajs's rebalances are eager: every member finishes its handler
 * calls and rejoins before any gets its new partitions, so a partition is never
 * handled after the call that took it away.
 * @internal
 */
export class GroupConsumer implements Consumer {
  private readonly topic: string;
  private readonly group: string;
  private current: KafkaConsumer | undefined;
  private starting: Promise<void> | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay = RESTART_MIN_MS;
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  /** Next backoff per partition that failed; cleared when a handler call succeeds. */
  private readonly backoff = new Map<number, number>();
  /** The partitions last reported to `onAssignment`; undefined before the first join. */
  private assignment: number[] | undefined;

  constructor(private readonly init: GroupConsumerInit) {
    this.topic = init.consume.topic;
    this.group = init.consume.group;
  }

  /** Connects, subscribes and resolves once this member has joined the group. */
  start(): Promise<void> {
    const starting = this.startConsumer();
    this.starting = starting;
    return starting.finally(() => {
      if (this.starting === starting) this.starting = undefined;
    });
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      clearTimeout(this.restartTimer);
      for (const timer of this.resumeTimers) clearTimeout(timer);
      this.resumeTimers.clear();
      // A start in progress finishes first, so its consumer is the one disconnected.
      await this.starting?.catch(() => {});
      try {
        // Waits for the handler call in flight (which commits what it finished), then
        // leaves the group so the partitions go to the other members at once.
        await this.current?.disconnect();
      } catch (error) {
        this.init.logger.warn("kafka consumer did not disconnect cleanly", { err: error });
      }
      this.current = undefined;
      this.assignment = undefined;
      this.callOnAssignment([]);
      this.init.onStopped();
    })();
    return this.stopping;
  }

  private async startConsumer(): Promise<void> {
    const { kafka, options: o } = this.init;
    const consumer = kafka.consumer({
      groupId: this.group,
      sessionTimeout: o.sessionTimeoutMs,
      rebalanceTimeout: o.rebalanceTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      maxWaitTimeInMs: o.maxWaitTimeMs,
      allowAutoTopicCreation: false,
    });
    this.current = consumer;
    consumer.on(consumer.events.CRASH, (event) => this.onCrash(consumer, event.payload));
    // Emitted after every join and sync (first join, each rebalance, each rejoin after
    // kafkajs restarted itself), before the fetches for the new assignment start, and
    // only once the handler calls of the previous assignment have finished.
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      if (this.stopped || consumer !== this.current) return;
      const partitions = event.payload.memberAssignment[this.topic] ?? [];
      this.reportAssignment([...partitions].sort((a, b) => a - b));
    });
    try {
      await consumer.connect();
      // A group without a committed offset starts at the oldest record (Kafka's
      // auto.offset.reset=earliest), so nothing appended before it joined is missed.
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      if (this.stopped) throw new Error("stopped while starting");
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: o.partitionsConsumedConcurrently,
        eachBatch: (payload) => this.eachBatch(payload),
      });
    } catch (error) {
      await consumer.disconnect().catch(() => {});
      throw error;
    }
  }

  private onCrash(consumer: KafkaConsumer, payload: { error: Error; restart: boolean }): void {
    if (this.stopped || consumer !== this.current) return;
    // kafkajs has left the group (it disconnects before reporting a crash): this member
    // owns nothing until it joins again, restarted by kafkajs or by restartLater.
    this.reportAssignment([]);
    if (payload.restart) {
      this.init.logger.warn("kafka consumer failed; kafkajs restarts it", {
        topic: this.topic,
        group: this.group,
        err: payload.error,
      });
      return;
    }
    this.restartLater(payload.error);
  }

  /** kafkajs does not restart a consumer after a non-retriable error: start a new one after a backoff. */
  private restartLater(error: unknown): void {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(delay * 2, RESTART_MAX_MS);
    this.init.logger.error("kafka consumer stopped on an error; restarting it", {
      topic: this.topic,
      group: this.group,
      err: error,
      inMs: delay,
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.start().then(
        () => {
          this.restartDelay = RESTART_MIN_MS;
        },
        (failure: unknown) => {
          if (!this.stopped) this.restartLater(failure);
        },
      );
    }, delay);
  }

  /**
   * Reports a join's assignment (every join, even when unchanged: the member may have
   * been out of the group meanwhile) or a crash's [] (only if something was owned).
   */
  private reportAssignment(partitions: number[]): void {
    if (partitions.length === 0 && this.assignment !== undefined && this.assignment.length === 0) return;
    this.assignment = partitions;
    this.callOnAssignment(partitions);
  }

  private callOnAssignment(partitions: number[]): void {
    try {
      this.init.consume.onAssignment?.(partitions);
    } catch (error) {
      // A throwing callback must not break kafkajs's join (nor stop()).
      this.init.logger.error("onAssignment threw", { topic: this.topic, group: this.group, err: error });
    }
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { maxBatch } = this.init;
    const partition = batch.partition;
    const all = batch.messages.map((message) => toRecord(this.topic, partition, message));
    for (let from = 0; from < all.length; from += maxBatch) {
      // Stopping (or a seek): deliver nothing more; what is not resolved is fetched again.
      if (!payload.isRunning() || payload.isStale()) return;
      const records = all.slice(from, from + maxBatch);
      if (!(await this.deliver(payload, records))) {
        this.retryLater(payload, partition);
        return;
      }
      const last = records[records.length - 1] as LogRecord;
      payload.resolveOffset(String(last.offset));
      // Throws when this member lost the partition in a rebalance; kafkajs then rejoins
      // and the new owner starts from the last committed offset.
      await payload.commitOffsetsIfNecessary({
        topics: [{ topic: this.topic, partitions: [{ partition, offset: String(last.offset + 1) }] }],
      });
      this.backoff.delete(partition);
      await payload.heartbeat();
    }
  }

  /** Calls the handler, heartbeating meanwhile; false (after `onError`) when it throws. */
  private async deliver(payload: EachBatchPayload, records: LogRecord[]): Promise<boolean> {
    const heartbeats = setInterval(() => {
      // A rebalance reported here is acted on after the call, by the heartbeat that follows it.
      payload.heartbeat().catch(() => {});
    }, this.init.options.heartbeatIntervalMs);
    try {
      await this.init.consume.handler(records);
      return true;
    } catch (error) {
      try {
        this.init.consume.onError?.(error, records);
      } catch {
        // A throwing onError must not end delivery of the partition.
      }
      return false;
    } finally {
      clearInterval(heartbeats);
    }
  }

  /** Pauses the partition for its backoff; it is then fetched again from the failed record. */
  private retryLater(payload: EachBatchPayload, partition: number): void {
    const delay = this.backoff.get(partition) ?? BACKOFF_MIN_MS;
    this.backoff.set(partition, Math.min(delay * 2, BACKOFF_MAX_MS));
    const resume = payload.pause();
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      resume();
    }, delay);
    this.resumeTimers.add(timer);
  }
}

function toRecord(topic: string, partition: number, message: KafkaMessage): LogRecord {
  return {
    topic,
    partition,
    offset: Number(message.offset),
    key: message.key ? message.key.toString("utf8") : "",
    // A copy: the fetched buffer is shared by the whole batch.
    value: message.value ? new Uint8Array(message.value) : new Uint8Array(0),
    timestampMs: Number(message.timestamp),
  };
}
