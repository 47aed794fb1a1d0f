import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { num, type Session } from "./cql.js";
import { type ResolvedOptions, replicationCql } from "./options.js";

/** One schema change: CQL statements with `{ks}` standing for the keyspace. */
interface Migration {
  version: number;
  description: string;
  statements: string[];
}

/**
 * The schema, as migrations applied in order and recorded in `schema_version`.
 * Append new entries; never edit applied ones. Every statement must be safe to run
 * again (`IF NOT EXISTS`, ...), since a process can die between running a migration
 * and recording it.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "conversations with members, user conversation lists, messages, dedup, user event streams",
    statements: [
      // One partition per conversation: its state in static columns, one row per
      // current member (role and receipts), and the commit record of the newest
      // commit (pending_*) until that commit's follow-up writes are done.
      `CREATE TABLE IF NOT EXISTS {ks}.conversations (
        conversation_id text,
        user_id text,
        kind int STATIC,
        title text STATIC,
        created_by text STATIC,
        created_at_ms bigint STATIC,
        updated_at_ms bigint STATIC,
        last_seq bigint STATIC,
        pending_ts bigint STATIC,
        pending_messages frozen<list<blob>> STATIC,
        pending_removed frozen<list<text>> STATIC,
        pending_dedup_key text STATIC,
        pending_dedup_result blob STATIC,
        pending_dedup_created_at_ms bigint STATIC,
        ordinal int,
        role int,
        delivered_seq bigint,
        read_seq bigint,
        joined_at_ms bigint,
        PRIMARY KEY ((conversation_id), user_id)
      )`,
      `CREATE TABLE IF NOT EXISTS {ks}.user_conversations (
        user_id text,
        conversation_id text,
        PRIMARY KEY ((user_id), conversation_id)
      )`,
      `CREATE TABLE IF NOT EXISTS {ks}.messages (
        conversation_id text,
        bucket bigint,
        seq bigint,
        created_at_ms bigint,
        message blob,
        PRIMARY KEY ((conversation_id, bucket), seq)
      ) WITH CLUSTERING ORDER BY (seq ASC)`,
      `CREATE TABLE IF NOT EXISTS {ks}.dedup (
        conversation_id text,
        client_id text,
        result blob,
        created_at_ms bigint,
        PRIMARY KEY ((conversation_id, client_id))
      )`,
      // One partition per user: the newest position and the horizon (static), and one
      // row per bucket that still holds events, expiring with the newest event in it.
      `CREATE TABLE IF NOT EXISTS {ks}.user_streams (
        user_id text,
        bucket bigint,
        last_position bigint STATIC,
        horizon bigint STATIC,
        written_at_ms bigint,
        PRIMARY KEY ((user_id), bucket)
      ) WITH CLUSTERING ORDER BY (bucket ASC)`,
      `CREATE TABLE IF NOT EXISTS {ks}.user_events (
        user_id text,
        bucket bigint,
        position bigint,
        event_id text,
        payload blob,
        time_ms bigint,
        PRIMARY KEY ((user_id, bucket), position)
      ) WITH CLUSTERING ORDER BY (position ASC)`,
      `CREATE TABLE IF NOT EXISTS {ks}.user_event_ids (
        user_id text,
        event_id text,
        position bigint,
        PRIMARY KEY ((user_id, event_id))
      )`,
    ],
  },
];

/** The newest schema version this package knows. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Name of the lease row in `schema_meta` that one migrating process holds. */
const LOCK = "migration_lock";
/** Seconds the lease lives if its holder dies without releasing it. */
const LOCK_TTL_SECONDS = 120;

/** Settings fixed when the keyspace is created, kept in `schema_meta`. */
function fixedSettings(options: ResolvedOptions): Record<string, string> {
  return {
    messages_per_bucket: String(options.messagesPerBucket),
    user_events_per_bucket: String(options.userEventsPerBucket),
  };
}

/**
 * Brings the keyspace to {@link SCHEMA_VERSION}: creates the keyspace (with the
 * configured replication) and the bookkeeping tables when missing, then, holding a
 * lease row taken with a lightweight transaction (so processes starting together
 * do not change the schema at the same time), applies each migration not yet in
 * `schema_version` and records it. Also records the bucket sizes on first use and
 * fails when the options disagree with the recorded ones. Idempotent.
 *
 * @returns the schema version after migrating.
 * @throws Error when the keyspace has a newer schema than this package knows, its
 *   bucket sizes differ from the options, or another migration holds the lease for
 *   longer than `migrationLockTimeoutMs`.
 */
export async function migrateSchema(session: Session, options: ResolvedOptions): Promise<number> {
  const { client, ks } = session;
  const ddl = { ...session.write, prepare: false };
  await client.execute(
    `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replicationCql(options.replication)}`,
    [],
    ddl,
  );
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.schema_version (
      version int PRIMARY KEY, description text, applied_at_ms bigint)`,
    [],
    ddl,
  );
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${ks}.schema_meta (name text PRIMARY KEY, value text)`,
    [],
    ddl,
  );

  let applied = await appliedVersions(session);
  if (applied.size < MIGRATIONS.length) {
    const owner = randomUUID();
    await acquireLock(session, owner, options.migrationLockTimeoutMs);
    try {
      applied = await appliedVersions(session);
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        for (const statement of migration.statements) {
          await client.execute(statement.replaceAll("{ks}", ks), [], ddl);
        }
        await client.execute(
          `INSERT INTO ${ks}.schema_version (version, description, applied_at_ms) VALUES (?, ?, ?)`,
          [migration.version, migration.description, session.bigint(Date.now())],
          session.write,
        );
        applied.add(migration.version);
      }
    } finally {
      await client
        .execute(`DELETE FROM ${ks}.schema_meta WHERE name = ? IF value = ?`, [LOCK, owner], session.serial)
        .catch(() => {
          // The lease expires by itself.
        });
    }
  }
  await checkSettings(session, fixedSettings(options));
  return Math.max(0, ...applied);
}

/** Versions recorded in `schema_version`; throws when one is newer than this package knows. */
async function appliedVersions(session: Session): Promise<Set<number>> {
  const result = await session.client.execute(
    `SELECT version FROM ${session.ks}.schema_version`,
    [],
    session.read,
  );
  const versions = new Set(result.rows.map((row) => num(row.get("version")) ?? 0));
  const newest = Math.max(0, ...versions);
  if (newest > SCHEMA_VERSION) {
    throw new Error(
      `keyspace ${session.ks} has schema version ${newest}, newer than the ${SCHEMA_VERSION} this package supports`,
    );
  }
  return versions;
}

async function acquireLock(session: Session, owner: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await session.client.execute(
      `INSERT INTO ${session.ks}.schema_meta (name, value) VALUES (?, ?) IF NOT EXISTS USING TTL ${LOCK_TTL_SECONDS}`,
      [LOCK, owner],
      session.serial,
    );
    if (result.rows[0]?.get("[applied]") === true) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `another process has been migrating keyspace ${session.ks} for longer than ${timeoutMs} ms (lease ${LOCK} in schema_meta)`,
      );
    }
    await sleep(250);
  }
}

/** Records each setting on first use; throws when a recorded value differs. */
async function checkSettings(session: Session, settings: Record<string, string>): Promise<void> {
  const names = Object.keys(settings);
  const result = await session.client.execute(
    `SELECT name, value FROM ${session.ks}.schema_meta WHERE name IN ?`,
    [names],
    session.read,
  );
  const stored = new Map(result.rows.map((row) => [row.get("name") as string, row.get("value") as string]));
  for (const [name, value] of Object.entries(settings)) {
    let recorded = stored.get(name);
    if (recorded === undefined) {
      // First use: the first process to record a value wins; the others compare with it.
      const insert = await session.client.execute(
        `INSERT INTO ${session.ks}.schema_meta (name, value) VALUES (?, ?) IF NOT EXISTS`,
        [name, value],
        session.serial,
      );
      const row = insert.rows[0];
      recorded = row?.get("[applied]") === true ? value : (row?.get("value") as string | undefined);
    }
    if (recorded !== value) {
      throw new Error(
        `keyspace ${session.ks} was created with ${name} = ${recorded}, but the store was opened with ${value}; bucket sizes cannot change`,
      );
    }
  }
}
