/**
 * `@parley/history-cassandra`: Parley's `HistoryStore` on Apache Cassandra
 * (cassandra-driver). It passes the same conformance suite as the SQLite store and
 * keeps its guarantees with single-partition commits (see the README).
 *
 * @packageDocumentation
 */

/** The errors the store fails with, and the one function that translates driver errors. */
export {
  /** True when a cassandra-driver error means Cassandra cannot serve the request right now. */
  isCassandraUnavailable,
  /** Turns a cassandra-driver error into a Parley error (`DEPENDENCY_UNAVAILABLE` or `INTERNAL`). */
  toParleyError,
} from "./errors.js";
/** Options of the store. */
export type {
  /** Consistency levels the store may read and write with. */
  CassandraConsistency,
  /** Options for `createCassandraHistoryStore`. */
  CassandraHistoryStoreOptions,
  /** Replication of the keyspace when `migrate()` creates it. */
  CassandraReplication,
} from "./options.js";
/** The newest schema version this package migrates keyspaces to. */
export { SCHEMA_VERSION } from "./schema.js";
/** The store. */
export {
  /** A `HistoryStore` on Cassandra, with `ready()` and `migrate()`. */
  type CassandraHistoryStore,
  /** Creates a `HistoryStore` on Cassandra. */
  createCassandraHistoryStore,
} from "./store.js";
