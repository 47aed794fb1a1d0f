/**
 * `@parley/history`: the `HistoryStore` port (durable conversations, messages,
 * dedup records and per-user event streams) and its SQLite implementation.
 *
 * @packageDocumentation
 */

/** Port types; see each declaration in `port.ts` for its contract. */
export type {
  /** The authoritative state of one conversation. */
  ConversationState,
  /** Everything one command changes in one conversation, committed as a unit. */
  ConversationWrite,
  /** The remembered outcome of a client mutation. */
  DedupEntry,
  /** Which page of history to read. */
  HistoryQuery,
  /** Durable history: the port every history backend implements. */
  HistoryStore,
  /** A member of a conversation as stored. */
  MemberState,
  /** An event to append to a user's stream. */
  NewUserEvent,
  /** One durable event in a user's event stream. */
  UserEvent,
  /** A page read from a user's event stream. */
  UserEventPage,
} from "./port.js";
/** The SQLite `HistoryStore` (`node:sqlite`) and its options. */
export {
  /** Opens a SQLite-backed `HistoryStore`. */
  createSqliteHistoryStore,
  /** Options for `createSqliteHistoryStore`. */
  type SqliteHistoryStoreOptions,
  /** Retention of user event streams in the SQLite store. */
  type UserEventRetention,
} from "./sqlite.js";
