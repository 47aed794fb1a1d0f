import type { LogFields, Logger } from "@parley/router";
import type { LogEntry, logCreator } from "kafkajs";
import type { KafkaJsLogLevel } from "./options.js";

/** kafkajs's numeric levels (its `logLevel` enum), without importing its runtime. */
const KAFKAJS_LEVELS: Record<KafkaJsLogLevel, number> = {
  nothing: 0,
  error: 1,
  warn: 2,
  info: 4,
  debug: 5,
};

/**
 * kafkajs lines that describe a choice this package made on purpose, logged at debug
 * instead of warn: bounded retries of the idempotent producer (the log replaces the
 * producer after a failed send instead, see the README), and the CreateTopics answer
 * for a topic that exists already (`ensureTopic` is idempotent by design, and runs on
 * every start and readiness probe; a creation that really fails makes it throw).
 */
const EXPECTED_WARNINGS = ["Limiting retries for the idempotent producer", "Response CreateTopics"];

/** The numeric kafkajs log level for a {@link KafkaJsLogLevel}. @internal */
export function kafkajsLevel(level: KafkaJsLogLevel): number {
  return KAFKAJS_LEVELS[level];
}

/**
 * A kafkajs `logCreator` writing to `logger` (with `component: "kafkajs"` and the
 * kafkajs namespace). kafkajs logs the errors it is about to retry at "error"; they are
 * passed on at warn, since the event log throws (or reports through `onError`) what it
 * could not recover from. Info and debug lines go to debug.
 * @internal
 */
export function kafkajsLogCreator(logger: Logger): logCreator {
  const base = logger.withContext({ component: "kafkajs" });
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _name, ...rest } = log;
      const fields: LogFields = namespace ? { namespace, ...rest } : { ...rest };
      const text = String(message);
      if (level <= KAFKAJS_LEVELS.warn && !EXPECTED_WARNINGS.some((w) => text.startsWith(w))) {
        base.warn(text, fields);
      } else {
        base.debug(text, fields);
      }
    };
}
