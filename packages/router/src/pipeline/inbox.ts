import type { HistoryStore, NewUserEvent } from "@parley/history";
import type { ConsumeOptions, Consumer, EventLog, LogRecord } from "../log/port.js";
import type { Logger } from "../logger.js";
import { readInboxRecord } from "./fanout.js";
import type { Hub } from "./hub.js";
import type { TopicConfig } from "./topics.js";

/** Options for {@link createInboxConsumer}. */
export interface InboxConsumerOptions {
  log: EventLog;
  history: HistoryStore;
  hub: Hub;
  topics: TopicConfig;
  logger: Logger;
  /** Consumer group of all gateways. @defaultValue "parley.gateways" */
  group?: string;
  /** See {@link ConsumeOptions.onAssignment}: which inbox partitions (users) this gateway serves now. */
  onAssignment?: ConsumeOptions["onAssignment"];
}

/**
 * The gateway's half of fan-out: consumes the inbox topic partitions this
 * gateway owns, stores each user's events (assigning stream positions, dropping
 * replays by event id) and then pushes them to the user's live streams. The
 * users of one batch are stored concurrently; each user's events are published
 * right after they are stored, and any failed append fails the batch (after all
 * appends settled) so the log redelivers it.
 */
export async function createInboxConsumer(options: InboxConsumerOptions): Promise<Consumer> {
  const { log, history, hub, topics, logger } = options;
  const handler = async (records: LogRecord[]) => {
    const byUser = new Map<string, NewUserEvent[]>();
    for (const record of records) {
      let userId: string;
      let event: NewUserEvent;
      try {
        const inbox = readInboxRecord(record.value);
        if (!inbox.event) continue;
        userId = inbox.userId;
        event = { eventId: inbox.eventId, payload: inbox.event, timeMs: inbox.timeMs ?? record.timestampMs };
      } catch (err) {
        logger.error("skipping undecodable inbox record", {
          partition: record.partition,
          offset: record.offset,
          err,
        });
        continue;
      }
      let list = byUser.get(userId);
      if (!list) {
        list = [];
        byUser.set(userId, list);
      }
      list.push(event);
    }
    // One append per user, all at once, so a group-committing store (SQLite) writes the
    // batch's users in one commit; each user still has a single writer (one call here,
    // and the next batch waits for this one). A user's events go live as soon as they
    // are stored: waiting for the other users would only add latency, and a user stored
    // but not published (another user's append failed) would not be published by the
    // retry either, since the retry skips stored event ids.
    const results = await Promise.allSettled(
      Array.from(byUser, async ([userId, events]) => {
        const stored = await history.appendUserEvents(userId, events);
        hub.publish(userId, stored);
      }),
    );
    // Fail the whole batch only after every append has settled, so the redelivery never
    // runs alongside a still-pending append of the same user.
    for (const result of results) if (result.status === "rejected") throw result.reason;
  };
  await log.ensureTopic(topics.inbox, topics.inboxPartitions);
  return log.consume({
    topic: topics.inbox,
    group: options.group ?? "parley.gateways",
    handler,
    onAssignment: options.onAssignment,
    onError: (err, records) =>
      logger.warn("inbox batch failed; will retry", {
        err,
        partition: records[0]?.partition,
        count: records.length,
      }),
  });
}
