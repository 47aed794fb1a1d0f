import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Message, MessageSchema } from "@parley/protocol";
import type {
  ConversationState,
  DedupEntry,
  HistoryQuery,
  HistoryStore,
  MemberState,
  UserEvent,
  UserEventPage,
} from "./port.js";

/** How long a user's event stream is kept; older events are pruned when new ones are appended. */
export interface UserEventRetention {
  // Duplicate event ids are detected among the events still stored: an id whose
  // event was pruned is appended again (readers also drop replays by id).
  /**
   * Most events kept per user. On append, events more than this many positions
   * behind the newest are deleted and the stream's horizon moves up to them.
   * @defaultValue unlimited
   */
  maxEventsPerUser?: number;
  /**
   * Most age of an event, by its `timeMs` against `now()`. On append, the events
   * up to the newest one older than this are deleted and the horizon moves up to it.
   * @defaultValue unlimited
   */
  maxAgeMs?: number;
}

/** Options for {@link createSqliteHistoryStore}. */
export interface SqliteHistoryStoreOptions {
  /**
   * The database file (created with its schema when missing), or `":memory:"` for
   * a store that lives only as long as the process.
   */
  path: string;
  /**
   * Pruning of user event streams, applied to a user's stream whenever events are
   * appended to it.
   * @defaultValue no pruning: every event is kept
   */
  userEventRetention?: UserEventRetention;
  /**
   * The clock used for age-based retention, in epoch milliseconds (tests pass a fake one).
   * @defaultValue `Date.now`
   */
  now?: () => number;
  /**
   * How long a statement waits for a lock held by another connection to the same
   * file before failing, in milliseconds.
   * @defaultValue 5000
   */
  busyTimeoutMs?: number;
}

/**
 * Schema migrations; entry `i` moves the database from schema version `i` to
 * `i + 1` (kept in `PRAGMA user_version`). Append new entries; never edit old ones.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE conversations (
    conversation_id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    title TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
    members_json TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE user_conversations (
    user_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
  ) WITHOUT ROWID;

  CREATE TABLE messages (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 1),
    created_at_ms INTEGER NOT NULL,
    message BLOB NOT NULL,
    PRIMARY KEY (conversation_id, seq)
  ) WITHOUT ROWID;
  CREATE INDEX messages_by_time ON messages (conversation_id, created_at_ms, seq);

  CREATE TABLE dedup (
    conversation_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    result BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, client_id)
  ) WITHOUT ROWID;

  CREATE TABLE user_events (
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL CHECK (position >= 1),
    event_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, position),
    UNIQUE (user_id, event_id)
  ) WITHOUT ROWID;
  CREATE INDEX user_events_by_time ON user_events (user_id, time_ms);

  CREATE TABLE user_streams (
    user_id TEXT PRIMARY KEY,
    last_position INTEGER NOT NULL,
    horizon INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];

interface ConversationRow {
  conversation_id: string;
  kind: number;
  title: string;
  created_by: string;
  created_at_ms: number;
  updated_at_ms: number;
  last_seq: number;
  members_json: string;
}

interface UserEventRow {
  position: number;
  event_id: string;
  payload: Uint8Array;
  time_ms: number;
}

interface StreamRow {
  last_position: number;
  horizon: number;
}

/**
 * Opens (creating when missing) a SQLite-backed {@link HistoryStore} with
 * `node:sqlite`. One store owns one connection; all work runs synchronously on it,
 * and each `commit` / `appendUserEvents` is a single transaction.
 *
 * @throws Error when the file cannot be opened or holds a newer schema version.
 */
export function createSqliteHistoryStore(options: SqliteHistoryStoreOptions): HistoryStore {
  const now = options.now ?? Date.now;
  const maxEventsPerUser = options.userEventRetention?.maxEventsPerUser;
  const maxAgeMs = options.userEventRetention?.maxAgeMs;

  const db = openDatabase(options.path, options.busyTimeoutMs ?? 5000);

  const sql = (text: string): StatementSync => db.prepare(text);
  const page = (select: string): StatementSync => sql(`SELECT message FROM (${select}) ORDER BY seq ASC`);
  const stmt = {
    begin: sql("BEGIN IMMEDIATE"),
    commit: sql("COMMIT"),
    rollback: sql("ROLLBACK"),
    savepoint: sql("SAVEPOINT one_write"),
    release: sql("RELEASE one_write"),
    rollbackToSavepoint: sql("ROLLBACK TO one_write"),
    getConversation: sql("SELECT * FROM conversations WHERE conversation_id = ?"),
    upsertConversation: sql(`
      INSERT INTO conversations
        (conversation_id, kind, title, created_by, created_at_ms, updated_at_ms, last_seq, members_json)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (conversation_id) DO UPDATE SET
        kind = excluded.kind, title = excluded.title, created_by = excluded.created_by,
        created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms,
        last_seq = excluded.last_seq, members_json = excluded.members_json`),
    addUserConversation: sql(
      "INSERT INTO user_conversations (user_id, conversation_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
    ),
    removeUserConversation: sql("DELETE FROM user_conversations WHERE user_id = ? AND conversation_id = ?"),
    listUserConversations: sql("SELECT conversation_id FROM user_conversations WHERE user_id = ?"),
    upsertMessage: sql(`
      INSERT INTO messages (conversation_id, seq, created_at_ms, message) VALUES (?, ?, ?, ?)
      ON CONFLICT (conversation_id, seq) DO UPDATE SET
        created_at_ms = excluded.created_at_ms, message = excluded.message`),
    getMessage: sql("SELECT message FROM messages WHERE conversation_id = ? AND seq = ?"),
    // Each page query selects its rows in the inner query and returns them ascending by seq.
    latest: page("SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?"),
    before: page("SELECT * FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"),
    after: page("SELECT * FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?"),
    beforeTime: page(`
      SELECT * FROM messages WHERE conversation_id = ? AND created_at_ms < ?
      ORDER BY created_at_ms DESC, seq DESC LIMIT ?`),
    afterTime: page(`
      SELECT * FROM messages WHERE conversation_id = ? AND created_at_ms >= ?
      ORDER BY created_at_ms ASC, seq ASC LIMIT ?`),
    upsertDedup: sql(`
      INSERT INTO dedup (conversation_id, client_id, result, created_at_ms) VALUES (?, ?, ?, ?)
      ON CONFLICT (conversation_id, client_id) DO UPDATE SET
        result = excluded.result, created_at_ms = excluded.created_at_ms`),
    getDedup: sql("SELECT result, created_at_ms FROM dedup WHERE conversation_id = ? AND client_id = ?"),
    getStream: sql("SELECT last_position, horizon FROM user_streams WHERE user_id = ?"),
    upsertStream: sql(`
      INSERT INTO user_streams (user_id, last_position, horizon) VALUES (?, ?, ?)
      ON CONFLICT (user_id) DO UPDATE SET
        last_position = excluded.last_position, horizon = excluded.horizon`),
    insertEvent: sql(`
      INSERT INTO user_events (user_id, position, event_id, payload, time_ms) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (user_id, event_id) DO NOTHING`),
    readEvents: sql(`
      SELECT position, event_id, payload, time_ms FROM user_events
      WHERE user_id = ? AND position > ? ORDER BY position ASC LIMIT ?`),
    newestExpiredPosition: sql(
      "SELECT MAX(position) AS position FROM user_events WHERE user_id = ? AND time_ms < ?",
    ),
    pruneEvents: sql("DELETE FROM user_events WHERE user_id = ? AND position <= ?"),
  };

  let closed = false;

  /** Runs `work` on the open database, turning every failure into "unable to <operation>; <reason>". */
  async function run<T>(operation: string, work: () => T): Promise<T> {
    if (closed) throw new Error(`unable to ${operation}; the history store is closed`);
    try {
      return work();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`unable to ${operation}; ${reason}`, { cause: error });
    }
  }

  /** A write waiting for the next group commit. */
  interface Write {
    operation: string;
    work: () => unknown;
    resolve(value: unknown): void;
    reject(error: unknown): void;
  }
  let writes: Write[] = [];
  let flushScheduled = false;

  /**
   * Runs `work` atomically and resolves after the commit. Writes requested before the
   * pending flush runs (it runs in the event loop's check phase, after the I/O and
   * timers of the current turn) share one transaction: e.g. the inbox partitions'
   * user-event appends and the workers' commits of one turn cost one COMMIT together
   * instead of one each. A write that throws is rolled back alone.
   */
  function write<T>(operation: string, work: () => T): Promise<T> {
    if (closed) return Promise.reject(new Error(`unable to ${operation}; the history store is closed`));
    return new Promise<T>((resolve, reject) => {
      writes.push({ operation, work, resolve: resolve as (value: unknown) => void, reject });
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    });
  }

  function failure(operation: string, error: unknown): Error {
    const reason = error instanceof Error ? error.message : String(error);
    return new Error(`unable to ${operation}; ${reason}`, { cause: error });
  }

  type Outcome = { ok: boolean; value: unknown };

  /**
   * Runs the batch in one transaction. Without `isolate`, the first write that throws
   * rolls the whole transaction back (and the caller retries with `isolate`); with it,
   * each write runs in its own savepoint, so a failing write is undone alone. Throws
   * when the transaction itself fails.
   */
  function transact(batch: Write[], isolate: boolean): Outcome[] | undefined {
    const outcomes: Outcome[] = [];
    stmt.begin.run();
    try {
      for (const w of batch) {
        if (!isolate) {
          outcomes.push({ ok: true, value: w.work() });
          continue;
        }
        stmt.savepoint.run();
        try {
          outcomes.push({ ok: true, value: w.work() });
          stmt.release.run();
        } catch (error) {
          stmt.rollbackToSavepoint.run();
          stmt.release.run();
          outcomes.push({ ok: false, value: error });
        }
      }
    } catch (error) {
      if (db.isTransaction) stmt.rollback.run();
      if (batch.length > 1) return undefined;
      return [{ ok: false, value: error }];
    }
    stmt.commit.run();
    return outcomes;
  }

  /**
   * Group commit. Writes almost never fail, so the batch first runs without a savepoint
   * per write (savepoints cost two statements each); only when one throws is the batch
   * run again with them, to fail that write alone.
   */
  function flush(): void {
    flushScheduled = false;
    const batch = writes;
    writes = [];
    if (batch.length === 0) return;
    if (closed) {
      for (const w of batch) w.reject(new Error(`unable to ${w.operation}; the history store is closed`));
      return;
    }
    let outcomes: Outcome[] | undefined;
    try {
      outcomes = transact(batch, false) ?? transact(batch, true);
    } catch (error) {
      if (db.isTransaction) stmt.rollback.run();
      for (const w of batch) w.reject(failure(w.operation, error));
      return;
    }
    batch.forEach((w, i) => {
      const outcome = (outcomes as Outcome[])[i] as Outcome;
      if (outcome.ok) w.resolve(outcome.value);
      else w.reject(failure(w.operation, outcome.value));
    });
  }

  function readStream(userId: string): StreamRow {
    return (stmt.getStream.get(userId) as StreamRow | undefined) ?? { last_position: 0, horizon: 0 };
  }

  /** The horizon after applying retention to a stream whose newest position is `last`. */
  function prunedHorizon(userId: string, last: number, horizon: number): number {
    let next = horizon;
    if (maxEventsPerUser !== undefined) next = Math.max(next, last - maxEventsPerUser);
    if (maxAgeMs !== undefined) {
      const row = stmt.newestExpiredPosition.get(userId, now() - maxAgeMs) as { position: number | null };
      if (row.position !== null) next = Math.max(next, row.position);
    }
    if (next > horizon) stmt.pruneEvents.run(userId, next);
    return next;
  }

  return {
    getConversation(conversationId) {
      return run("read conversation", () => {
        const row = stmt.getConversation.get(conversationId) as ConversationRow | undefined;
        return row && conversationFromRow(row);
      });
    },

    listUserConversations(userId) {
      return run("list user conversations", () =>
        stmt.listUserConversations.all(userId).map((row) => row.conversation_id as string),
      );
    },

    commit(change) {
      return write("commit", () => {
        const conversationId = change.conversation.conversationId;
        const rows = change.messages.map((message) => messageRow(conversationId, message));
        stmt.upsertConversation.run(...conversationRow(change.conversation));
        for (const row of rows) stmt.upsertMessage.run(...row);
        if (change.dedup) {
          const { clientId, result, createdAtMs } = change.dedup;
          stmt.upsertDedup.run(conversationId, clientId, result, createdAtMs);
        }
        for (const userId of change.addedUserIds) stmt.addUserConversation.run(userId, conversationId);
        for (const userId of change.removedUserIds) stmt.removeUserConversation.run(userId, conversationId);
      });
    },

    getDedup(conversationId, clientId) {
      return run("read dedup entry", (): DedupEntry | undefined => {
        const row = stmt.getDedup.get(conversationId, clientId) as
          | { result: Uint8Array; created_at_ms: number }
          | undefined;
        return row && { clientId, result: row.result, createdAtMs: row.created_at_ms };
      });
    },

    getMessage(conversationId, seq) {
      return run("read message", () => {
        const row = stmt.getMessage.get(conversationId, seq) as { message: Uint8Array } | undefined;
        return row && fromBinary(MessageSchema, row.message);
      });
    },

    getMessages(conversationId, query) {
      return run("read messages", () => readMessages(conversationId, query));
    },

    appendUserEvents(userId, events) {
      return write("append user events", () => {
        const stream = readStream(userId);
        let last = stream.last_position;
        const appended: UserEvent[] = [];
        for (const event of events) {
          const position = last + 1;
          const { changes } = stmt.insertEvent.run(
            userId,
            position,
            event.eventId,
            event.payload,
            event.timeMs,
          );
          if (changes === 0) continue;
          last = position;
          appended.push({ position, eventId: event.eventId, payload: event.payload, timeMs: event.timeMs });
        }
        if (appended.length > 0) {
          const horizon = prunedHorizon(userId, last, stream.horizon);
          stmt.upsertStream.run(userId, last, horizon);
        }
        return appended;
      });
    },

    readUserEvents(userId, afterPosition, limit) {
      return run("read user events", (): UserEventPage => {
        requireCount("afterPosition", afterPosition);
        requireCount("limit", limit);
        const stream = readStream(userId);
        const rows = stmt.readEvents.all(userId, afterPosition, limit) as unknown as UserEventRow[];
        return {
          events: rows.map((row) => ({
            position: row.position,
            eventId: row.event_id,
            payload: row.payload,
            timeMs: row.time_ms,
          })),
          horizon: stream.horizon,
          last: stream.last_position,
        };
      });
    },

    async close() {
      if (closed) return;
      flush();
      closed = true;
      db.close();
    },
  };

  function readMessages(conversationId: string, query: HistoryQuery): Message[] {
    requireCount("limit", query.limit);
    const id = conversationId;
    let rows: unknown[];
    switch (query.kind) {
      case "latest":
        rows = stmt.latest.all(id, query.limit);
        break;
      case "before":
        rows = stmt.before.all(id, requireCount("seq", query.seq), query.limit);
        break;
      case "after":
        rows = stmt.after.all(id, requireCount("seq", query.seq), query.limit);
        break;
      case "beforeTime":
        rows = stmt.beforeTime.all(id, requireTime(query.timeMs), query.limit);
        break;
      case "afterTime":
        rows = stmt.afterTime.all(id, requireTime(query.timeMs), query.limit);
        break;
      default: {
        const unknown: never = query;
        throw new Error(`unknown query kind ${JSON.stringify((unknown as { kind: unknown }).kind)}`);
      }
    }
    return rows.map((row) => fromBinary(MessageSchema, (row as { message: Uint8Array }).message));
  }
}

function openDatabase(path: string, busyTimeoutMs: number): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { timeout: busyTimeoutMs });
    db.exec("PRAGMA journal_mode = WAL");
    // In WAL mode, synchronous=NORMAL is durable against a killed process: a commit
    // is in the WAL file (in the OS page cache) before COMMIT returns. Only a power
    // loss or OS crash can lose the newest commits, never corrupt the database.
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    migrate(db);
    return db;
  } catch (error) {
    db?.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`unable to open history store at ${path}; ${reason}`, { cause: error });
  }
}

/** Brings the schema up to the newest version in {@link MIGRATIONS}, one transaction per step. */
function migrate(db: DatabaseSync): void {
  const version = (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (version > MIGRATIONS.length) {
    throw new Error(`schema version ${version} is newer than the supported ${MIGRATIONS.length}`);
  }
  for (let next = version; next < MIGRATIONS.length; next++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[next] as string);
      db.exec(`PRAGMA user_version = ${next + 1}`);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  }
}

function conversationRow(state: ConversationState): SQLInputValue[] {
  const members: MemberState[] = state.members.map((m) => ({
    userId: m.userId,
    role: m.role,
    deliveredSeq: m.deliveredSeq,
    readSeq: m.readSeq,
    joinedAtMs: m.joinedAtMs,
  }));
  return [
    state.conversationId,
    state.kind,
    state.title,
    state.createdBy,
    state.createdAtMs,
    state.updatedAtMs,
    state.lastSeq,
    JSON.stringify(members),
  ];
}

function conversationFromRow(row: ConversationRow): ConversationState {
  return {
    conversationId: row.conversation_id,
    kind: row.kind,
    title: row.title,
    createdBy: row.created_by,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
    lastSeq: row.last_seq,
    members: JSON.parse(row.members_json) as MemberState[],
  };
}

/** Parameters of `upsertMessage`; the message must belong to the written conversation. */
function messageRow(conversationId: string, message: Message): SQLInputValue[] {
  if (message.conversationId !== conversationId) {
    throw new Error(
      `message seq ${message.seq} belongs to conversation ${JSON.stringify(message.conversationId)}, not ${JSON.stringify(conversationId)}`,
    );
  }
  const createdAtMs = message.createdAt ? timestampMs(message.createdAt) : 0;
  return [conversationId, message.seq, createdAtMs, toBinary(MessageSchema, message)];
}

/** Returns `value` when it is a non-negative safe integer; throws otherwise. */
function requireCount(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** Returns `timeMs` when it is finite; throws otherwise. */
function requireTime(timeMs: number): number {
  if (!Number.isFinite(timeMs)) throw new Error(`timeMs must be a finite number, got ${timeMs}`);
  return timeMs;
}
