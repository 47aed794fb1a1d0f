import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { HistoryStore, NewUserEvent } from "@parley/history";
import { EventSchema } from "@parley/protocol";
import { InboxRecordSchema } from "@parley/protocol/internal";
import type { ConsumeOptions, Consumer, EventLog, LogRecord } from "../log/port.js";
import type { Logger } from "../logger.js";
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
 * replays by event id) and then pushes them to the user's live streams.
 */
export async function createInboxConsumer(options: InboxConsumerOptions): Promise<Consumer> {
  const { log, history, hub, topics, logger } = options;
  const handler = async (records: LogRecord[]) => {
    const byUser = new Map<string, NewUserEvent[]>();
    for (const record of records) {
      let userId: string;
      let event: NewUserEvent;
      try {
        const inbox = fromBinary(InboxRecordSchema, record.value);
        if (!inbox.event) continue;
        userId = inbox.userId;
        event = {
          eventId: inbox.event.eventId,
          payload: toBinary(EventSchema, inbox.event),
          timeMs: inbox.event.time ? timestampMs(inbox.event.time) : record.timestampMs,
        };
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
    for (const [userId, events] of byUser) {
      const stored = await history.appendUserEvents(userId, events);
      hub.publish(userId, stored);
    }
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
