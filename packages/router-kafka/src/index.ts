/**
 * `@parley/router-kafka`: Parley's `EventLog` port on Apache Kafka, with kafkajs. It
 * passes the same conformance suite (`describeEventLog` from `@parley/testkit`) as the
 * in-process SQLite log, so the router's pipeline (command bus, worker, inbox consumer)
 * runs on it unchanged.
 *
 * @packageDocumentation
 */
export { createKafkaEventLog } from "./kafka-log.js";
export type { KafkaEventLogOptions, KafkaJsLogLevel, KafkaRetryOptions } from "./options.js";
