/**
 * `@parley/router`: the event log port and its in-process SQLite implementation,
 * and the pipeline on top of it: command bus, sequencer/fan-out worker, inbox
 * consumer and gateway hub.
 *
 * @packageDocumentation
 */
export { partitionForKey } from "./log/partitioner.js";
export type {
  AppendResult,
  ConsumeOptions,
  Consumer,
  EventLog,
  LogRecord,
  NewRecord,
  RecordHandler,
} from "./log/port.js";
export { createSqliteEventLog, type SqliteEventLogOptions } from "./log/sqlite.js";
export { type LogFields, type Logger, silentLogger } from "./logger.js";
export { type Applied, type ApplyContext, applyCommand, CommandRejected } from "./pipeline/apply.js";
export {
  type CommandBus,
  type CommandBusOptions,
  type CommandInit,
  createCommandBus,
} from "./pipeline/command-bus.js";
export { createHub, type Hub, type HubListener } from "./pipeline/hub.js";
export { createInboxConsumer, type InboxConsumerOptions } from "./pipeline/inbox.js";
export { createLocalReplyChannel, type ReplyChannel } from "./pipeline/replies.js";
export { DEFAULT_TOPICS, type TopicConfig } from "./pipeline/topics.js";
export { conversationView, findMember, memberView } from "./pipeline/views.js";
export { createWorker, dedupKey, type Worker, type WorkerOptions } from "./pipeline/worker.js";
export { isSocketUnavailable } from "./socket-errors.js";
