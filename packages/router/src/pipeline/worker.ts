import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ConversationState, HistoryStore } from "@parley/history";
import { ParleyErrorDetailSchema } from "@parley/protocol";
import {
  type Command,
  CommandErrorSchema,
  type CommandResult,
  CommandResultSchema,
  CommandSchema,
  type InboxRecord,
  InboxRecordSchema,
} from "@parley/protocol/internal";
import type { Consumer, EventLog, LogRecord } from "../log/port.js";
import type { Logger } from "../logger.js";
import { applyCommand, CommandRejected } from "./apply.js";
import type { ReplyChannel } from "./replies.js";
import type { TopicConfig } from "./topics.js";

/** Options for {@link createWorker}. */
export interface WorkerOptions {
  log: EventLog;
  history: HistoryStore;
  replies: ReplyChannel;
  topics: TopicConfig;
  logger: Logger;
  /** Consumer group of all workers. @defaultValue "parley.workers" */
  group?: string;
  /** Clock. @defaultValue Date.now */
  now?: () => number;
  /** Conversation states kept in memory. @defaultValue 10000 */
  cacheSize?: number;
}

/** A running worker: owns partitions of the commands topic. */
export interface Worker {
  stop(): Promise<void>;
}

/** The key a command's outcome is remembered under, per conversation. */
export function dedupKey(command: Command): string {
  const k = command.kind;
  let clientId = "";
  switch (k.case) {
    case "createGroup":
      clientId = k.value.clientId;
      break;
    case "sendMessage":
      clientId = k.value.clientMsgId;
      break;
    case "editMessage":
    case "deleteMessage":
    case "addReaction":
    case "removeReaction":
    case "markDelivered":
    case "markRead":
      clientId = k.value.clientId;
      break;
  }
  return clientId ? `c/${command.actorId}/${clientId}` : `x/${command.commandId}`;
}

/**
 * The sequencer and fan-out: consumes the commands topic, and for each command
 * (in partition order) returns the remembered result of a retry, or applies it:
 * assigns seq, commits to history with its dedup entry, appends one inbox record
 * per affected user, and replies. A redelivered command re-emits its stored
 * fan-out (inbox consumers drop duplicates by event id), so a crash anywhere in
 * between loses nothing.
 *
 * Conversation states are cached (`cacheSize`) while this worker owns their
 * partition; the cache is emptied whenever the log reports an assignment (a partition
 * may have been handled by another worker meanwhile) and when a command fails.
 */
export async function createWorker(options: WorkerOptions): Promise<Worker> {
  const { log, history, replies, topics, logger } = options;
  const now = options.now ?? Date.now;
  const cacheSize = options.cacheSize ?? 10_000;
  const cache = new Map<string, ConversationState>();

  const remember = (state: ConversationState) => {
    cache.delete(state.conversationId);
    cache.set(state.conversationId, state);
    if (cache.size > cacheSize) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
  };

  const loadState = async (conversationId: string) => {
    const cached = cache.get(conversationId);
    if (cached) return cached;
    const state = await history.getConversation(conversationId);
    if (state) remember(state);
    return state;
  };

  const emit = async (fanout: InboxRecord[]) => {
    if (fanout.length === 0) return;
    await log.append(
      topics.inbox,
      fanout.map((r) => ({ key: r.userId, value: toBinary(InboxRecordSchema, r) })),
    );
  };

  const process = async (command: Command): Promise<CommandResult> => {
    const key = dedupKey(command);
    const remembered = await history.getDedup(command.conversationId, key);
    if (remembered) {
      const stored = fromBinary(CommandResultSchema, remembered.result);
      await emit(stored.fanout);
      return create(CommandResultSchema, { commandId: command.commandId, outcome: stored.outcome });
    }
    const state = await loadState(command.conversationId);
    let applied: Awaited<ReturnType<typeof applyCommand>>;
    try {
      applied = await applyCommand(state, command, {
        now: now(),
        getMessage: (id, seq) => history.getMessage(id, seq),
      });
    } catch (err) {
      if (!(err instanceof CommandRejected)) throw err;
      return create(CommandResultSchema, {
        commandId: command.commandId,
        outcome: {
          case: "error",
          value: create(CommandErrorSchema, {
            message: err.message,
            detail: create(ParleyErrorDetailSchema, { reason: err.reason, field: err.field }),
          }),
        },
      });
    }
    if (applied.write) {
      const stored = create(CommandResultSchema, { ...applied.result, fanout: applied.fanout });
      await history.commit({
        ...applied.write,
        dedup: { clientId: key, result: toBinary(CommandResultSchema, stored), createdAtMs: now() },
      });
      remember(applied.write.conversation);
    }
    await emit(applied.fanout);
    return applied.result;
  };

  const handler = async (records: LogRecord[]) => {
    for (const record of records) {
      let command: Command;
      try {
        command = fromBinary(CommandSchema, record.value);
      } catch (err) {
        logger.error("skipping undecodable command", {
          offset: record.offset,
          partition: record.partition,
          err,
        });
        continue;
      }
      let outcome: CommandResult;
      try {
        outcome = await process(command);
      } catch (err) {
        // Dependency failure: drop cached state (it may be ahead of storage) and let the log redeliver.
        cache.delete(command.conversationId);
        throw err;
      }
      if (command.replyTo) await replies.send(command.replyTo, outcome);
    }
  };

  await log.ensureTopic(topics.commands, topics.commandPartitions);
  await log.ensureTopic(topics.inbox, topics.inboxPartitions);
  const consumer: Consumer = await log.consume({
    topic: topics.commands,
    group: options.group ?? "parley.workers",
    handler,
    // A cached state is only right while this worker has owned the conversation's
    // partition without a break: if the partition went to another worker and came back
    // (A -> B -> A), B has committed newer states, and A would assign seqs B already
    // used. So every change of ownership empties the whole cache, not only the states of
    // partitions this worker lost: Kafka reports a rejoin with the same partitions after
    // this worker was out of the group (its session expired while it stalled) and another
    // member may have handled them meanwhile, which no diff of the sets can show.
    // Rebalances are rare and a cold cache costs one read per active conversation. No
    // handler call runs during the callback (see ConsumeOptions.onAssignment).
    onAssignment: () => cache.clear(),
    onError: (err, records) =>
      logger.warn("command batch failed; will retry", {
        err,
        partition: records[0]?.partition,
        count: records.length,
      }),
  });
  logger.info("worker started", { topic: topics.commands });
  return {
    stop: () => consumer.stop(),
  };
}
