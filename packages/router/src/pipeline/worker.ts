import { create, fromBinary } from "@bufbuild/protobuf";
import type { ConversationState, HistoryStore } from "@parley/history";
import { ParleyErrorDetailSchema } from "@parley/protocol";
import {
  type Command,
  CommandErrorSchema,
  type CommandResult,
  CommandResultSchema,
  CommandSchema,
} from "@parley/protocol/internal";
import type { Consumer, EventLog, LogRecord, NewRecord } from "../log/port.js";
import type { Logger } from "../logger.js";
import { applyCommand, CommandRejected } from "./apply.js";
import { encodeFanout, encodeStoredResult } from "./fanout.js";
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

  /** Applies one command (or finds its remembered outcome); its fan-out goes to `fanout`. */
  const process = async (command: Command, fanout: NewRecord[]): Promise<CommandResult> => {
    const key = dedupKey(command);
    const remembered = await history.getDedup(command.conversationId, key);
    if (remembered) {
      const stored = fromBinary(CommandResultSchema, remembered.result);
      fanout.push(...encodeFanout(stored.fanout));
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
    const records = encodeFanout(applied.fanout);
    if (applied.write) {
      await history.commit({
        ...applied.write,
        dedup: { clientId: key, result: encodeStoredResult(applied.result, records), createdAtMs: now() },
      });
      remember(applied.write.conversation);
    }
    fanout.push(...records);
    return applied.result;
  };

  /** Applies one conversation's commands of a batch, in order. */
  const processConversation = async (
    commands: Command[],
    fanout: NewRecord[],
    outcomes: Map<Command, CommandResult>,
  ) => {
    const conversationId = (commands[0] as Command).conversationId;
    try {
      for (const command of commands) outcomes.set(command, await process(command, fanout));
    } catch (err) {
      // Dependency failure: drop cached state (it may be ahead of storage) and let the log redeliver.
      cache.delete(conversationId);
      throw err;
    }
  };

  // One batch of a partition: the conversations in it are independent (each has one
  // writer: this worker, while it owns the partition), so they are applied concurrently,
  // each in log order; a store that group-commits (SQLite) then writes them in one
  // transaction. Their fan-out is appended in one call once all are committed, and the
  // replies go out after that, so an acknowledged command's events are in the log. If
  // anything fails, the whole batch is redelivered: commands already committed find
  // their dedup entry and re-emit their stored fan-out (inbox consumers drop the
  // duplicates by event id) and reply with their stored outcome.
  const handler = async (records: LogRecord[]) => {
    const byConversation = new Map<string, Command[]>();
    const commands: Command[] = [];
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
      commands.push(command);
      const list = byConversation.get(command.conversationId);
      if (list) list.push(command);
      else byConversation.set(command.conversationId, [command]);
    }
    const fanouts = Array.from(byConversation.values(), () => [] as NewRecord[]);
    const outcomes = new Map<Command, CommandResult>();
    const settled = await Promise.allSettled(
      Array.from(byConversation.values(), (list, i) =>
        processConversation(list, fanouts[i] as NewRecord[], outcomes),
      ),
    );
    for (const s of settled) if (s.status === "rejected") throw s.reason;
    const fanout = fanouts.flat();
    if (fanout.length > 0) await log.append(topics.inbox, fanout);
    await Promise.all(
      commands.map((command) => {
        const outcome = outcomes.get(command);
        return command.replyTo && outcome ? replies.send(command.replyTo, outcome) : undefined;
      }),
    );
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
