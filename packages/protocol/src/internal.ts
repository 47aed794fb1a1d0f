/**
 * `@parley/protocol/internal`: records Parley's server processes exchange through
 * the event log. Not for clients; they may change between releases.
 *
 * @packageDocumentation
 */
export * from "./gen/parley/internal/v1/log_pb.js";
