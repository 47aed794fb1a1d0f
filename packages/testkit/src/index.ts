/**
 * `@parley/testkit`: conformance suites every adapter of Parley's ports runs, and
 * helpers for testing code built on Parley.
 *
 * @packageDocumentation
 */
export { describeEventLog, type EventLogUnderTest } from "./event-log.js";
export { describePresenceStore, type PresenceStoreUnderTest } from "./presence-store.js";
export { describeHistoryStore, type HistoryStoreUnderTest } from "./history-store.js";
