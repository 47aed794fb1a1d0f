import type { UserEventRetention } from "@parley/history";
import type { Client, ClientOptions } from "cassandra-driver";

/** Consistency levels the store may read and write with (Cassandra's names). */
export type CassandraConsistency =
  | "ANY"
  | "ONE"
  | "TWO"
  | "THREE"
  | "QUORUM"
  | "ALL"
  | "LOCAL_QUORUM"
  | "EACH_QUORUM"
  | "LOCAL_ONE";

/**
 * Replication of the keyspace, used only when `migrate()` creates it (an existing
 * keyspace is never altered).
 *
 * - `SimpleStrategy`: one replication factor for the whole cluster; for development
 *   and single-datacenter test clusters.
 * - `NetworkTopologyStrategy`: a replication factor per datacenter, e.g.
 *   `{ class: "NetworkTopologyStrategy", dataCenters: { dc1: 3, dc2: 3 } }`; use it in
 *   production.
 */
export type CassandraReplication =
  | { class: "SimpleStrategy"; replicationFactor: number }
  | { class: "NetworkTopologyStrategy"; dataCenters: Record<string, number> };

/** Options for {@link createCassandraHistoryStore}. */
export interface CassandraHistoryStoreOptions {
  /**
   * The keyspace holding the store's tables: lowercase letters, digits and `_`,
   * starting with a letter, at most 48 characters. Created by `migrate()` when missing.
   */
  keyspace: string;
  /**
   * Nodes to connect to, `"host"` or `"host:port"`. Required unless `client` is given.
   */
  contactPoints?: string[];
  /**
   * The datacenter whose nodes serve the store's requests (`LOCAL_*` consistency
   * levels count replicas there). Required unless `client` is given.
   */
  localDataCenter?: string;
  /**
   * Username and password for `PasswordAuthenticator`.
   * @defaultValue no authentication
   */
  credentials?: { username: string; password: string };
  /**
   * Further cassandra-driver options for the client the store creates (TLS, pooling,
   * policies). Ignored when `client` is given.
   * @defaultValue none
   */
  clientOptions?: Omit<ClientOptions, "contactPoints" | "localDataCenter" | "credentials" | "keyspace">;
  /**
   * An existing cassandra-driver client to use instead of creating one. The store
   * connects it if needed and never shuts it down (`close()` leaves it to its owner);
   * `contactPoints`, `localDataCenter`, `credentials`, `clientOptions` and
   * `connectTimeoutMs` are then ignored.
   * @defaultValue a client the store creates from the options above and shuts down on `close()`
   */
  client?: Client;
  /**
   * Replication of the keyspace when `migrate()` creates it.
   * @defaultValue `{ class: "SimpleStrategy", replicationFactor: 1 }` (development only)
   */
  replication?: CassandraReplication;
  /**
   * Whether the store runs `migrate()` when it connects. Turn it off when schema
   * changes are applied by a separate step (then call `migrate()` yourself once).
   * @defaultValue true
   */
  migrate?: boolean;
  /**
   * Consistency of every read.
   * @defaultValue "LOCAL_QUORUM"
   */
  readConsistency?: CassandraConsistency;
  /**
   * Consistency of every write.
   * @defaultValue "LOCAL_QUORUM"
   */
  writeConsistency?: CassandraConsistency;
  /**
   * Messages per partition of the `messages` table: message `seq` lives in bucket
   * `floor(seq / messagesPerBucket)`. Fixed when the keyspace is created: opening a
   * keyspace with a different value fails.
   * @defaultValue 1000
   */
  messagesPerBucket?: number;
  /**
   * Events per partition of the `user_events` table: the event at `position` lives in
   * bucket `floor(position / userEventsPerBucket)`. Fixed when the keyspace is created.
   * @defaultValue 1000
   */
  userEventsPerBucket?: number;
  /**
   * How much of each user's event stream is kept (the same option as the SQLite
   * store's). `maxAgeMs` becomes a Cassandra TTL, counted from when the event was
   * stored and rounded up to whole seconds. `maxEventsPerUser` moves the stream's
   * horizon on each append to `last - maxEventsPerUser` and deletes the buckets that
   * fall entirely below it. A device whose cursor is below the horizon is told to
   * resync. Pass `{}` to keep every event.
   * @defaultValue `{ maxAgeMs: 2_592_000_000 }` (30 days, no count limit)
   */
  userEventRetention?: UserEventRetention;
  /**
   * How long a dedup entry (the remembered result of a client mutation) is kept, in
   * seconds (a Cassandra TTL); 0 keeps entries forever. A client that retries a
   * mutation after its entry expired applies it a second time, so keep this longer
   * than any client keeps unsent mutations.
   * @defaultValue 0 (forever)
   */
  dedupTtlSeconds?: number;
  /**
   * How long opening a connection to a node may take before it counts as
   * unreachable, in milliseconds.
   * @defaultValue 5000
   */
  connectTimeoutMs?: number;
  /**
   * How long one request may wait for a node's answer before it fails as
   * unavailable, in milliseconds.
   * @defaultValue 12000
   */
  requestTimeoutMs?: number;
  /**
   * Rows fetched per page when a read returns many rows (members, a user's
   * conversations, history and event pages).
   * @defaultValue 500
   */
  pageSize?: number;
  /**
   * Most requests one operation runs in parallel (e.g. the conversation-list rows of
   * a group's members).
   * @defaultValue 32
   */
  concurrency?: number;
  /**
   * How long `migrate()` waits for another process's migration to finish, in
   * milliseconds.
   * @defaultValue 60000
   */
  migrationLockTimeoutMs?: number;
}

/** The options with every default filled in (internal). */
export interface ResolvedOptions {
  keyspace: string;
  replication: CassandraReplication;
  migrate: boolean;
  readConsistency: CassandraConsistency;
  writeConsistency: CassandraConsistency;
  messagesPerBucket: number;
  userEventsPerBucket: number;
  /** TTL of user events; 0 for none. */
  userEventTtlSeconds: number;
  /** Most events kept per stream; undefined for no limit. */
  maxEventsPerUser: number | undefined;
  dedupTtlSeconds: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  pageSize: number;
  concurrency: number;
  migrationLockTimeoutMs: number;
}

/** Cassandra's largest TTL (20 years). */
const MAX_TTL_SECONDS = 630_720_000;

const CONSISTENCIES = new Set<string>([
  "ANY",
  "ONE",
  "TWO",
  "THREE",
  "QUORUM",
  "ALL",
  "LOCAL_QUORUM",
  "EACH_QUORUM",
  "LOCAL_ONE",
]);

/** Fills in defaults and validates; throws on an invalid option (internal). */
export function resolveOptions(options: CassandraHistoryStoreOptions): ResolvedOptions {
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(options.keyspace)) {
    throw new Error(
      `keyspace must be lowercase letters, digits and _, starting with a letter, at most 48 characters; got ${JSON.stringify(options.keyspace)}`,
    );
  }
  if (!options.client && (!options.contactPoints?.length || !options.localDataCenter)) {
    throw new Error("contactPoints and localDataCenter are required when no client is given");
  }
  const replication = options.replication ?? { class: "SimpleStrategy", replicationFactor: 1 };
  const retention = options.userEventRetention ?? { maxAgeMs: 30 * 24 * 3_600_000 };
  const maxAgeMs = retention.maxAgeMs;
  if (
    maxAgeMs !== undefined &&
    !(Number.isFinite(maxAgeMs) && maxAgeMs > 0 && maxAgeMs <= MAX_TTL_SECONDS * 1000)
  ) {
    throw new Error(
      `userEventRetention.maxAgeMs must be a number from 1 to ${MAX_TTL_SECONDS * 1000} (Cassandra's longest TTL), got ${maxAgeMs}`,
    );
  }
  replicationCql(replication);
  const resolved: ResolvedOptions = {
    keyspace: options.keyspace,
    replication,
    migrate: options.migrate ?? true,
    readConsistency: consistency("readConsistency", options.readConsistency ?? "LOCAL_QUORUM"),
    writeConsistency: consistency("writeConsistency", options.writeConsistency ?? "LOCAL_QUORUM"),
    messagesPerBucket: integer("messagesPerBucket", options.messagesPerBucket ?? 1000, 1, 1_000_000),
    userEventsPerBucket: integer("userEventsPerBucket", options.userEventsPerBucket ?? 1000, 1, 1_000_000),
    userEventTtlSeconds: maxAgeMs === undefined ? 0 : Math.ceil(maxAgeMs / 1000),
    maxEventsPerUser:
      retention.maxEventsPerUser === undefined
        ? undefined
        : integer(
            "userEventRetention.maxEventsPerUser",
            retention.maxEventsPerUser,
            1,
            Number.MAX_SAFE_INTEGER,
          ),
    dedupTtlSeconds: integer("dedupTtlSeconds", options.dedupTtlSeconds ?? 0, 0, MAX_TTL_SECONDS),
    connectTimeoutMs: integer("connectTimeoutMs", options.connectTimeoutMs ?? 5000, 1, 600_000),
    requestTimeoutMs: integer("requestTimeoutMs", options.requestTimeoutMs ?? 12_000, 1, 600_000),
    pageSize: integer("pageSize", options.pageSize ?? 500, 1, 100_000),
    concurrency: integer("concurrency", options.concurrency ?? 32, 1, 1024),
    migrationLockTimeoutMs: integer(
      "migrationLockTimeoutMs",
      options.migrationLockTimeoutMs ?? 60_000,
      0,
      3_600_000,
    ),
  };
  return resolved;
}

/** The CQL map literal of a replication setting; throws when it is invalid (internal). */
export function replicationCql(replication: CassandraReplication): string {
  if (replication.class === "SimpleStrategy") {
    const factor = integer("replication.replicationFactor", replication.replicationFactor, 1, 100);
    return `{'class': 'SimpleStrategy', 'replication_factor': ${factor}}`;
  }
  if (replication.class === "NetworkTopologyStrategy") {
    const entries = Object.entries(replication.dataCenters);
    if (entries.length === 0) throw new Error("replication.dataCenters must name at least one datacenter");
    const parts = entries.map(([dc, factor]) => {
      if (!/^[A-Za-z0-9_.-]{1,100}$/.test(dc)) {
        throw new Error(`replication.dataCenters has an invalid datacenter name ${JSON.stringify(dc)}`);
      }
      return `'${dc}': ${integer(`replication.dataCenters.${dc}`, factor, 0, 100)}`;
    });
    return `{'class': 'NetworkTopologyStrategy', ${parts.join(", ")}}`;
  }
  const unknown: never = replication;
  throw new Error(`unknown replication class ${JSON.stringify((unknown as { class: unknown }).class)}`);
}

function consistency(name: string, value: CassandraConsistency): CassandraConsistency {
  if (!CONSISTENCIES.has(value))
    throw new Error(`${name} must be a consistency level, got ${JSON.stringify(value)}`);
  return value;
}

function integer(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}
