/**
 * `@parley/protocol`: Parley's wire contracts (generated from `proto/parley/v1` by
 * protoc-gen-es) plus the small helpers every client and server shares.
 *
 * @packageDocumentation
 */

export { decodeCursor, encodeCursor, InvalidCursorError } from "./cursor.js";
export {
  type ParleyErrorOptions,
  parleyDetail,
  parleyError,
  REASONS,
  type ReasonInfo,
  reasonName,
  reasonOf,
} from "./errors.js";
export * from "./gen/parley/v1/auth_pb.js";
export * from "./gen/parley/v1/conversation_pb.js";
export * from "./gen/parley/v1/discovery_pb.js";
export * from "./gen/parley/v1/errors_pb.js";
export * from "./gen/parley/v1/message_pb.js";
export * from "./gen/parley/v1/models_pb.js";
export * from "./gen/parley/v1/presence_pb.js";
export * from "./gen/parley/v1/sync_pb.js";
export { isValidClientId, isValidUserId, LIMITS, textLength } from "./limits.js";
export { ulid } from "./ulid.js";
