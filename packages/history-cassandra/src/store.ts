/**
 * The Cassandra `HistoryStore`.
 *
 * ## How a commit stays correct without multi-table transactions
 *
 * The worker applies a command like this: `getDedup(key)`; if absent, read the
 * conversation state, apply the command to it (assigning the next seq), `commit` the
 * result with the dedup entry, fan out, reply. If it dies anywhere in between, the
 * log redelivers the command and the worker starts over. SQLite commits in one
 * transaction, so a redelivered command finds either everything or nothing.
 *
 * In Cassandra only the writes to one partition are atomic (and isolated: a reader
 * sees all of a single-partition batch or none of it). Writing each table in turn
 * with the dedup entry last is not enough:
 *
 * - if the conversation state (newest seq) is stored but the dedup entry is not, the
 *   redelivered send misses the dedup entry, reads the new state and appends the
 *   message a second time under the next seq;
 * - if an updated message (edit, delete, reaction) is stored but the dedup entry is
 *   not, the redelivered delete or reaction finds it already applied and returns
 *   without writing or fanning out: members never hear of it.
 *
 * So the commit point is ONE single-partition batch on the conversation's partition
 * in `conversations`: the new state, its members (rows of the same partition), and
 * a commit record (`pending_*` columns) holding the dedup entry, the messages and the
 * users to remove from conversation lists. Everything else is either harmless before
 * that batch or derived from the commit record after it:
 *
 * 1. Read the conversation's head (write time, commit record). If an earlier commit
 *    left a commit record (it died before step 4), finish it first (step 4).
 * 2. Before the commit point: add the new members to `user_conversations`. Harmless
 *    if the commit never happens: the server lists only conversations whose state
 *    has the user as a member, and the redelivered command adds them again.
 * 3. Commit point: one batch on the conversation partition: a partition deletion at
 *    timestamp `ts` (so members that left disappear) and the state, the member rows
 *    and the commit record at `ts + 1`.
 * 4. After the commit point, idempotently (fixed timestamp `ts + 1`, rows keyed by
 *    (conversation, bucket, seq), (user, conversation) and (conversation, client id)):
 *    upsert the messages, remove the users from their conversation lists, store the
 *    dedup entry in `dedup`. The record then describes only what the tables hold, so
 *    the writer leaves it for its next commit's partition deletion to remove (a write
 *    saved per commit) and remembers not to finish it again; any other store finishing
 *    it (a new owner of the partition) repeats idempotent writes and deletes it (at
 *    `ts + 2`).
 *
 * A redelivered command finds its dedup entry in the commit record even if step 4
 * never ran: `getDedup` finishes step 4 from the record first (the worker always asks
 * it before applying a command), and `commit` does the same for an earlier record.
 * Readers overlay the commit record's messages on the `messages` table, so a message
 * is visible exactly when the state that counts it is. Crashing at any point gives
 * either "nothing happened" (before step 3) or "everything happened" (after it).
 *
 * Timestamps: every write carries an explicit timestamp. Each conversation's are
 * above the write time of its stored state (read in step 1), and each user stream's
 * above its stored position, so a new owner whose clock is behind the old one's
 * still overwrites it (last write wins).
 *
 * User event streams follow the same pattern with `user_streams.last_position` as
 * the commit point: event rows (and their id index) are written first at positions
 * above the stored last position, where readers ignore them and a retried append
 * overwrites them; then the last position (and the horizon, with
 * `maxEventsPerUser`) moves in one single-partition batch. Buckets pruned by the
 * count limit are deleted before that batch: a reader that finds positions missing
 * treats them as expired and moves the horizon past them, which is what the batch
 * then records.
 *
 * @module
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type {
  ConversationState,
  DedupEntry,
  HistoryQuery,
  HistoryStore,
  MemberState,
  NewUserEvent,
  UserEvent,
  UserEventPage,
} from "@parley/history";
import { type Message, MessageSchema } from "@parley/protocol";
import cassandra, { type Client, type types } from "cassandra-driver";
import {
  allRows,
  blob,
  bytes,
  createSession,
  forEachLimit,
  mapLimit,
  num,
  pages,
  type Session,
} from "./cql.js";
import { closedError, toParleyError } from "./errors.js";
import { type CassandraHistoryStoreOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { migrateSchema } from "./schema.js";

/** A {@link HistoryStore} on Cassandra, with its connection and schema lifecycle. */
export interface CassandraHistoryStore extends HistoryStore {
  /**
   * Connects and, unless `migrate: false`, brings the schema up to date. Every
   * operation waits for it, so calling it is optional; call it at start-up to fail
   * fast. A failed attempt is forgotten: the next call (or operation) tries again.
   *
   * @throws a `DEPENDENCY_UNAVAILABLE` Parley error when Cassandra cannot be reached.
   */
  ready(): Promise<void>;
  /**
   * Connects and applies the schema migrations the keyspace lacks (creating the
   * keyspace when missing). Idempotent and safe to run from several processes at once.
   *
   * @returns the keyspace's schema version afterwards.
   */
  migrate(): Promise<number>;
}

/** The decoded commit record of a conversation's newest commit, while it is unfinished. */
interface CommitRecord {
  /** Timestamp of the commit's writes (its `ts + 1`). */
  ts: number;
  messages: Message[];
  removedUserIds: string[];
  dedup?: DedupEntry;
}

/** What a conversation partition's static columns say about its newest commit. */
interface Head {
  /** Write time of the stored state (microseconds), 0 when the conversation does not exist. */
  writtenAt: number;
  lastSeq: number;
  pending?: CommitRecord;
}

/** What a user stream's partition says: newest position and the first bucket still holding events. */
interface StreamHead {
  writtenAt: number;
  last: number;
  /** The stored horizon (moved by `maxEventsPerUser`). */
  horizon: number;
  /** Lowest bucket whose bucket row has not expired; undefined when none. */
  firstBucket?: number;
}

/** Conversations a store remembers a head or a finished commit record of; older ones are forgotten. */
const MAX_REMEMBERED_CONVERSATIONS = 50_000;

/** Sets `key` as the newest entry of `map`, dropping the oldest beyond `max`. */
function bounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
}

/** Strictly increasing write timestamps (microseconds since the epoch). */
class Clock {
  private last = 0;

  /** Reserves `count` consecutive timestamps, the first at least `min`; returns the first. */
  reserve(min: number, count: number): number {
    const first = Math.max(Date.now() * 1000, this.last + 1, min);
    this.last = first + count - 1;
    return first;
  }
}

/**
 * Creates a {@link HistoryStore} on Apache Cassandra. Returns at once; the store
 * connects (and migrates the schema, unless `migrate: false`) on first use or when
 * {@link CassandraHistoryStore.ready} is called.
 *
 * Failures are Parley errors: `DEPENDENCY_UNAVAILABLE` when Cassandra cannot be
 * reached or does not answer in `requestTimeoutMs`, `INTERNAL` for anything else,
 * `SHUTTING_DOWN` after `close()`.
 *
 * @example
 * const history = createCassandraHistoryStore({
 *   contactPoints: ["127.0.0.1:9042"],
 *   localDataCenter: "datacenter1",
 *   keyspace: "parley",
 * });
 * await history.ready();
 *
 * @throws Error at once when an option is invalid.
 */
export function createCassandraHistoryStore(options: CassandraHistoryStoreOptions): CassandraHistoryStore {
  const resolved = resolveOptions(options);
  const ownsClient = !options.client;
  const client: Client =
    options.client ??
    new cassandra.Client({
      ...options.clientOptions,
      contactPoints: options.contactPoints ?? [],
      localDataCenter: options.localDataCenter ?? "",
      ...(options.credentials ? { credentials: options.credentials } : {}),
      socketOptions: {
        ...options.clientOptions?.socketOptions,
        connectTimeout: resolved.connectTimeoutMs,
        readTimeout: resolved.requestTimeoutMs,
      },
    });
  const session = createSession(client, resolved);
  const queries = cql(resolved.keyspace);
  const clock = new Clock();

  let closed = false;
  let starting: Promise<void> | undefined;

  function ready(): Promise<void> {
    if (!starting) {
      starting = (async () => {
        await client.connect();
        if (resolved.migrate) await migrateSchema(session, resolved);
      })();
      starting.catch(() => {
        starting = undefined;
      });
    }
    return starting;
  }

  /** Runs `work` once connected, turning every failure into a Parley error. */
  async function run<T>(operation: string, work: () => Promise<T>): Promise<T> {
    if (closed) throw closedError(operation);
    try {
      await ready();
      return await work();
    } catch (error) {
      if (closed) throw closedError(operation);
      throw toParleyError(operation, error);
    }
  }

  const store = new StoreOps(session, queries, resolved, clock);

  return {
    ready: () => run("connect to the history store", () => Promise.resolve()),
    migrate: () =>
      run("migrate the history schema", async () => {
        await client.connect();
        return migrateSchema(session, resolved);
      }),
    getConversation: (conversationId) =>
      run("read conversation", () => store.getConversation(conversationId)),
    listUserConversations: (userId) =>
      run("list user conversations", () => store.listUserConversations(userId)),
    commit: (write) => run("commit", () => store.commit(write)),
    getDedup: (conversationId, clientId) =>
      run("read dedup entry", () => store.getDedup(conversationId, clientId)),
    getMessage: (conversationId, seq) => run("read message", () => store.getMessage(conversationId, seq)),
    getMessages: (conversationId, query) =>
      run("read messages", () => store.getMessages(conversationId, query)),
    appendUserEvents: (userId, events) =>
      run("append user events", () => store.appendUserEvents(userId, events)),
    readUserEvents: (userId, afterPosition, limit) =>
      run("read user events", () => store.readUserEvents(userId, afterPosition, limit)),
    async close() {
      if (closed) return;
      closed = true;
      if (ownsClient) await client.shutdown().catch(() => {});
    },
  };
}

/** The CQL of every statement, with the keyspace filled in. */
function cql(ks: string) {
  const pendingColumns =
    "pending_ts, pending_messages, pending_removed, pending_dedup_key, pending_dedup_result, pending_dedup_created_at_ms";
  return {
    conversation: `SELECT kind, title, created_by, created_at_ms, updated_at_ms, last_seq,
        user_id, ordinal, role, delivered_seq, read_seq, joined_at_ms
      FROM ${ks}.conversations WHERE conversation_id = ?`,
    head: `SELECT WRITETIME(kind) AS written_at, last_seq, ${pendingColumns}
      FROM ${ks}.conversations WHERE conversation_id = ? LIMIT 1`,
    deleteConversation: `DELETE FROM ${ks}.conversations USING TIMESTAMP ? WHERE conversation_id = ?`,
    insertState: `INSERT INTO ${ks}.conversations
        (conversation_id, kind, title, created_by, created_at_ms, updated_at_ms, last_seq, ${pendingColumns})
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    insertMember: `INSERT INTO ${ks}.conversations
        (conversation_id, user_id, ordinal, role, delivered_seq, read_seq, joined_at_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    clearPending: `DELETE ${pendingColumns} FROM ${ks}.conversations USING TIMESTAMP ? WHERE conversation_id = ?`,
    addUserConversation: `INSERT INTO ${ks}.user_conversations (user_id, conversation_id) VALUES (?, ?)
      USING TIMESTAMP ?`,
    removeUserConversation: `DELETE FROM ${ks}.user_conversations USING TIMESTAMP ?
      WHERE user_id = ? AND conversation_id = ?`,
    userConversations: `SELECT conversation_id FROM ${ks}.user_conversations WHERE user_id = ?`,
    upsertMessage: `INSERT INTO ${ks}.messages (conversation_id, bucket, seq, created_at_ms, message)
      VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?`,
    message: `SELECT message FROM ${ks}.messages WHERE conversation_id = ? AND bucket = ? AND seq = ?`,
    createdAt: `SELECT created_at_ms FROM ${ks}.messages WHERE conversation_id = ? AND bucket = ? AND seq = ?`,
    messagesUp: `SELECT seq, message FROM ${ks}.messages
      WHERE conversation_id = ? AND bucket = ? AND seq >= ? AND seq <= ? ORDER BY seq ASC LIMIT ?`,
    messagesDown: `SELECT seq, message FROM ${ks}.messages
      WHERE conversation_id = ? AND bucket = ? AND seq >= ? AND seq <= ? ORDER BY seq DESC LIMIT ?`,
    upsertDedup: `INSERT INTO ${ks}.dedup (conversation_id, client_id, result, created_at_ms) VALUES (?, ?, ?, ?)
      USING TTL ? AND TIMESTAMP ?`,
    dedup: `SELECT result, created_at_ms FROM ${ks}.dedup WHERE conversation_id = ? AND client_id = ?`,
    streamHead: `SELECT WRITETIME(last_position) AS written_at, last_position, horizon, bucket
      FROM ${ks}.user_streams WHERE user_id = ? LIMIT 1`,
    setLastPosition: `UPDATE ${ks}.user_streams USING TIMESTAMP ? SET last_position = ?, horizon = ?
      WHERE user_id = ?`,
    deleteBucketRow: `DELETE FROM ${ks}.user_streams USING TIMESTAMP ? WHERE user_id = ? AND bucket = ?`,
    deleteEventBucket: `DELETE FROM ${ks}.user_events USING TIMESTAMP ? WHERE user_id = ? AND bucket = ?`,
    touchBucket: `UPDATE ${ks}.user_streams USING TTL ? AND TIMESTAMP ? SET written_at_ms = ?
      WHERE user_id = ? AND bucket = ?`,
    eventId: `SELECT position, WRITETIME(position) AS written_at FROM ${ks}.user_event_ids
      WHERE user_id = ? AND event_id = ?`,
    insertEventId: `INSERT INTO ${ks}.user_event_ids (user_id, event_id, position) VALUES (?, ?, ?)
      USING TTL ? AND TIMESTAMP ?`,
    insertEvent: `INSERT INTO ${ks}.user_events (user_id, bucket, position, event_id, payload, time_ms)
      VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`,
    events: `SELECT position, event_id, payload, time_ms FROM ${ks}.user_events
      WHERE user_id = ? AND bucket = ? AND position >= ? AND position <= ? LIMIT ?`,
  };
}

type Queries = ReturnType<typeof cql>;

/** The store's operations on a connected session (errors are translated by the caller). */
class StoreOps {
  private readonly c: Client;
  /**
   * The head `getDedup` read (and finished), per conversation, for the commit of the
   * same client id that the conversation's single writer makes right after it: that
   * commit needs the same head, so it does not read it again. Used once.
   */
  private readonly handedOff = new Map<string, { clientId: string; head: Head }>();
  /**
   * Per conversation, the newest commit record this store finished itself and left in
   * place instead of deleting it: the next commit's partition deletion removes it, and
   * until then it is identical to what the tables hold, so readers may still overlay it
   * (another process finishing it again is idempotent). Saves a write per commit.
   */
  private readonly finished = new Map<string, number>();

  constructor(
    private readonly s: Session,
    private readonly q: Queries,
    private readonly o: ResolvedOptions,
    private readonly clock: Clock,
  ) {
    this.c = s.client;
  }

  private read(query: string, params: unknown[]): Promise<types.ResultSet> {
    return this.c.execute(query, params, this.s.read);
  }

  private write(query: string, params: unknown[]): Promise<types.ResultSet> {
    return this.c.execute(query, params, this.s.write);
  }

  /** One batch on one partition (atomic and isolated), or a plain write for a single statement. */
  private async writePartition(statements: { query: string; params: unknown[] }[]): Promise<void> {
    if (statements.length === 0) return;
    if (statements.length === 1) {
      const only = statements[0] as { query: string; params: unknown[] };
      await this.write(only.query, only.params);
      return;
    }
    await this.c.batch(statements, { ...this.s.write, logged: false });
  }

  private messageBucket(seq: number): number {
    return Math.floor(seq / this.o.messagesPerBucket);
  }

  private eventBucket(position: number): number {
    return Math.floor(position / this.o.userEventsPerBucket);
  }

  // ---- conversations -------------------------------------------------------

  async getConversation(conversationId: string): Promise<ConversationState | undefined> {
    const rows = await allRows(this.s, this.q.conversation, [conversationId]);
    const first = rows[0];
    if (!first || first.get("kind") === null) return undefined;
    const members = rows
      .filter((row) => row.get("user_id") !== null)
      .sort((a, b) => (num(a.get("ordinal")) ?? 0) - (num(b.get("ordinal")) ?? 0))
      .map(
        (row): MemberState => ({
          userId: row.get("user_id") as string,
          role: num(row.get("role")) ?? 0,
          deliveredSeq: num(row.get("delivered_seq")) ?? 0,
          readSeq: num(row.get("read_seq")) ?? 0,
          joinedAtMs: num(row.get("joined_at_ms")) ?? 0,
        }),
      );
    return {
      conversationId,
      kind: num(first.get("kind")) ?? 0,
      title: (first.get("title") as string | null) ?? "",
      createdBy: (first.get("created_by") as string | null) ?? "",
      createdAtMs: num(first.get("created_at_ms")) ?? 0,
      updatedAtMs: num(first.get("updated_at_ms")) ?? 0,
      lastSeq: num(first.get("last_seq")) ?? 0,
      members,
    };
  }

  async listUserConversations(userId: string): Promise<string[]> {
    const rows = await allRows(this.s, this.q.userConversations, [userId]);
    return rows.map((row) => row.get("conversation_id") as string);
  }

  /** The conversation's head; decodes the commit record when one is pending. */
  private async head(conversationId: string): Promise<Head> {
    const result = await this.read(this.q.head, [conversationId]);
    const row = result.rows[0];
    if (!row) return { writtenAt: 0, lastSeq: 0 };
    const head: Head = { writtenAt: num(row.get("written_at")) ?? 0, lastSeq: num(row.get("last_seq")) ?? 0 };
    const ts = num(row.get("pending_ts"));
    if (ts !== undefined && ts !== this.finished.get(conversationId)) {
      const messages = (row.get("pending_messages") as Uint8Array[] | null) ?? [];
      const dedupKey = row.get("pending_dedup_key") as string | null;
      head.pending = {
        ts,
        messages: messages.map((m) => fromBinary(MessageSchema, bytes(m))),
        removedUserIds: (row.get("pending_removed") as string[] | null) ?? [],
        ...(dedupKey !== null
          ? {
              dedup: {
                clientId: dedupKey,
                result: bytes(row.get("pending_dedup_result") ?? new Uint8Array()),
                createdAtMs: num(row.get("pending_dedup_created_at_ms")) ?? 0,
              },
            }
          : {}),
      };
    }
    return head;
  }

  async commit(write: Parameters<HistoryStore["commit"]>[0]): Promise<void> {
    const state = write.conversation;
    const conversationId = state.conversationId;
    const encoded = write.messages.map((message) => {
      if (message.conversationId !== conversationId) {
        throw new Error(
          `message seq ${message.seq} belongs to conversation ${JSON.stringify(message.conversationId)}, not ${JSON.stringify(conversationId)}`,
        );
      }
      requireCount("message seq", message.seq);
      return toBinary(MessageSchema, message);
    });
    requireCount("lastSeq", state.lastSeq);

    // 1. Finish an earlier commit that stopped after its commit point.
    const handed = this.handedOff.get(conversationId);
    this.handedOff.delete(conversationId);
    const head =
      handed && handed.clientId === write.dedup?.clientId ? handed.head : await this.head(conversationId);
    if (head.pending) await this.finish(conversationId, head.pending);
    const ts = this.clock.reserve(head.writtenAt + 2, 3);
    const at = this.s.bigint(ts + 1);

    // 2. New members' conversation lists (harmless before the commit point).
    await forEachLimit(write.addedUserIds, this.o.concurrency, async (userId) => {
      await this.write(this.q.addUserConversation, [userId, conversationId, at]);
    });

    // 3. The commit point: state, members and commit record in one partition batch.
    const record: CommitRecord = {
      ts: ts + 1,
      messages: write.messages,
      removedUserIds: write.removedUserIds,
      ...(write.dedup ? { dedup: write.dedup } : {}),
    };
    const hasFollowUp = encoded.length > 0 || write.removedUserIds.length > 0 || write.dedup !== undefined;
    const big = (n: number) => this.s.bigint(n);
    await this.writePartition([
      { query: this.q.deleteConversation, params: [big(ts), conversationId] },
      {
        query: this.q.insertState,
        params: [
          conversationId,
          state.kind,
          state.title,
          state.createdBy,
          big(state.createdAtMs),
          big(state.updatedAtMs),
          big(state.lastSeq),
          hasFollowUp ? big(record.ts) : undefined,
          encoded.length > 0 ? encoded.map(blob) : undefined,
          write.removedUserIds.length > 0 ? write.removedUserIds : undefined,
          write.dedup?.clientId,
          write.dedup ? blob(write.dedup.result) : undefined,
          write.dedup ? big(write.dedup.createdAtMs) : undefined,
          at,
        ],
      },
      ...state.members.map((m, ordinal) => ({
        query: this.q.insertMember,
        params: [
          conversationId,
          m.userId,
          ordinal,
          m.role,
          big(m.deliveredSeq),
          big(m.readSeq),
          big(m.joinedAtMs),
          at,
        ],
      })),
    ]);

    // 4. Everything the commit record describes. The record stays until the next
    // commit's partition deletion (see `finished`).
    if (hasFollowUp) {
      await this.finish(conversationId, record, false);
      bounded(this.finished, conversationId, record.ts, MAX_REMEMBERED_CONVERSATIONS);
    }
  }

  /**
   * Step 4 of a commit: applies its record (idempotently, at its own timestamp), then
   * deletes it unless `clear` is false.
   */
  private async finish(conversationId: string, record: CommitRecord, clear = true): Promise<void> {
    const at = this.s.bigint(record.ts);
    const byBucket = new Map<number, { query: string; params: unknown[] }[]>();
    for (const message of record.messages) {
      const bucket = this.messageBucket(message.seq);
      const createdAtMs = message.createdAt ? timestampMs(message.createdAt) : 0;
      const list = byBucket.get(bucket) ?? [];
      list.push({
        query: this.q.upsertMessage,
        params: [
          conversationId,
          this.s.bigint(bucket),
          this.s.bigint(message.seq),
          this.s.bigint(createdAtMs),
          blob(toBinary(MessageSchema, message)),
          at,
        ],
      });
      byBucket.set(bucket, list);
    }
    const tasks: (() => Promise<void>)[] = [
      ...[...byBucket.values()].map((statements) => () => this.writePartition(statements)),
      ...record.removedUserIds.map((userId) => async () => {
        await this.write(this.q.removeUserConversation, [at, userId, conversationId]);
      }),
    ];
    const dedup = record.dedup;
    if (dedup) {
      tasks.push(async () => {
        await this.write(this.q.upsertDedup, [
          conversationId,
          dedup.clientId,
          blob(dedup.result),
          this.s.bigint(dedup.createdAtMs),
          this.o.dedupTtlSeconds,
          at,
        ]);
      });
    }
    await forEachLimit(tasks, this.o.concurrency, (task) => task());
    if (clear) await this.write(this.q.clearPending, [this.s.bigint(record.ts + 1), conversationId]);
  }

  async getDedup(conversationId: string, clientId: string): Promise<DedupEntry | undefined> {
    const [result, head] = await Promise.all([
      this.read(this.q.dedup, [conversationId, clientId]),
      this.head(conversationId),
    ]);
    const pending = head.pending;
    if (pending) {
      await this.finish(conversationId, pending);
      head.pending = undefined;
    }
    bounded(this.handedOff, conversationId, { clientId, head }, MAX_REMEMBERED_CONVERSATIONS);
    if (pending?.dedup?.clientId === clientId) return pending.dedup;
    const row = result.rows[0];
    if (!row) return undefined;
    return {
      clientId,
      result: bytes(row.get("result")),
      createdAtMs: num(row.get("created_at_ms")) ?? 0,
    };
  }

  // ---- messages ------------------------------------------------------------

  async getMessage(conversationId: string, seq: number): Promise<Message | undefined> {
    if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
    const bucket = this.s.bigint(this.messageBucket(seq));
    const [result, head] = await Promise.all([
      this.read(this.q.message, [conversationId, bucket, this.s.bigint(seq)]),
      this.head(conversationId),
    ]);
    const pending = head.pending?.messages.find((m) => m.seq === seq);
    if (pending) return pending;
    const row = result.rows[0];
    return row ? fromBinary(MessageSchema, bytes(row.get("message"))) : undefined;
  }

  async getMessages(conversationId: string, query: HistoryQuery): Promise<Message[]> {
    requireCount("limit", query.limit);
    const head = await this.head(conversationId);
    const last = head.lastSeq;
    const pending = head.pending?.messages ?? [];
    if (query.limit === 0 || last === 0) return [];
    switch (query.kind) {
      case "latest":
        return this.readDown(conversationId, last, query.limit, pending);
      case "before": {
        const top = Math.min(requireCount("seq", query.seq) - 1, last);
        return this.readDown(conversationId, top, query.limit, pending);
      }
      case "after":
        return this.readUp(conversationId, requireCount("seq", query.seq) + 1, last, query.limit, pending);
      case "beforeTime": {
        const timeMs = requireTime(query.timeMs);
        const top = (await this.firstSeqAtOrAfter(conversationId, timeMs, last, pending)) - 1;
        const page = await this.readDown(conversationId, top, query.limit, pending);
        return page.filter((m) => createdMs(m) < timeMs);
      }
      case "afterTime": {
        const timeMs = requireTime(query.timeMs);
        const from = await this.firstSeqAtOrAfter(conversationId, timeMs, last, pending);
        const page = await this.readUp(conversationId, from, last, query.limit, pending);
        return page.filter((m) => createdMs(m) >= timeMs);
      }
      default: {
        const unknown: never = query;
        throw new Error(`unknown query kind ${JSON.stringify((unknown as { kind: unknown }).kind)}`);
      }
    }
  }

  /** The `limit` messages with the highest seqs in 1..top, ascending, walking buckets downwards. */
  private async readDown(conversationId: string, top: number, limit: number, pending: Message[]) {
    const found = new Map<number, Message>();
    for (let bucket = this.messageBucket(top); top >= 1 && bucket >= 0 && found.size < limit; bucket--) {
      const params = [
        conversationId,
        this.s.bigint(bucket),
        this.s.bigint(1),
        this.s.bigint(top),
        limit - found.size,
      ];
      for await (const rows of pages(this.s, this.q.messagesDown, params)) {
        for (const row of rows)
          found.set(num(row.get("seq")) ?? 0, fromBinary(MessageSchema, bytes(row.get("message"))));
      }
    }
    for (const m of pending) if (m.seq >= 1 && m.seq <= top) found.set(m.seq, m);
    return [...found.values()].sort((a, b) => a.seq - b.seq).slice(-limit);
  }

  /** The `limit` messages with the lowest seqs in from..top, ascending, walking buckets upwards. */
  private async readUp(conversationId: string, from: number, top: number, limit: number, pending: Message[]) {
    const found = new Map<number, Message>();
    const start = Math.max(from, 1);
    for (
      let bucket = this.messageBucket(start);
      start <= top && bucket <= this.messageBucket(top) && found.size < limit;
      bucket++
    ) {
      const params = [
        conversationId,
        this.s.bigint(bucket),
        this.s.bigint(start),
        this.s.bigint(top),
        limit - found.size,
      ];
      for await (const rows of pages(this.s, this.q.messagesUp, params)) {
        for (const row of rows)
          found.set(num(row.get("seq")) ?? 0, fromBinary(MessageSchema, bytes(row.get("message"))));
      }
    }
    for (const m of pending) if (m.seq >= start && m.seq <= top) found.set(m.seq, m);
    return [...found.values()].sort((a, b) => a.seq - b.seq).slice(0, limit);
  }

  /**
   * The lowest seq in 1..last whose message was created at or after `timeMs`, or
   * `last + 1` when none was: a binary search over seq, one point read per step.
   * Creation times grow with seq (one sequencer per conversation), so a time query is
   * a seq query from that point.
   */
  private async firstSeqAtOrAfter(
    conversationId: string,
    timeMs: number,
    last: number,
    pending: Message[],
  ): Promise<number> {
    let low = 1;
    let high = last + 1;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      const created = await this.createdAt(conversationId, mid, pending);
      if (created === undefined || created >= timeMs) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  private async createdAt(
    conversationId: string,
    seq: number,
    pending: Message[],
  ): Promise<number | undefined> {
    const fromPending = pending.find((m) => m.seq === seq);
    if (fromPending) return createdMs(fromPending);
    const result = await this.read(this.q.createdAt, [
      conversationId,
      this.s.bigint(this.messageBucket(seq)),
      this.s.bigint(seq),
    ]);
    const row = result.rows[0];
    return row ? num(row.get("created_at_ms")) : undefined;
  }

  // ---- user events ---------------------------------------------------------

  private async streamHead(userId: string): Promise<StreamHead> {
    const result = await this.read(this.q.streamHead, [userId]);
    const row = result.rows[0];
    if (!row) return { writtenAt: 0, last: 0, horizon: 0 };
    const firstBucket = num(row.get("bucket"));
    return {
      writtenAt: num(row.get("written_at")) ?? 0,
      last: num(row.get("last_position")) ?? 0,
      horizon: num(row.get("horizon")) ?? 0,
      ...(firstBucket !== undefined ? { firstBucket } : {}),
    };
  }

  async appendUserEvents(userId: string, events: NewUserEvent[]): Promise<UserEvent[]> {
    if (events.length === 0) return [];
    const head = await this.streamHead(userId);
    const seen = new Set<string>();
    const candidates = events.filter((event) => !seen.has(event.eventId) && seen.add(event.eventId));
    // An id row above the stored last position belongs to an append that never
    // reached its commit point: that event is not stored, and this append rewrites
    // its rows above their write time. One at or below the horizon was pruned.
    const found = await mapLimit(candidates, this.o.concurrency, async (event) => {
      const row = (await this.read(this.q.eventId, [userId, event.eventId])).rows[0];
      return { position: num(row?.get("position")), writtenAt: num(row?.get("written_at")) ?? 0 };
    });
    const stored = (position: number | undefined) =>
      position !== undefined && position > head.horizon && position <= head.last;
    const fresh = candidates.filter((_, i) => !stored(found[i]?.position));
    if (fresh.length === 0) return [];
    const abandoned = Math.max(
      0,
      ...found.filter((f) => (f.position ?? 0) > head.last).map((f) => f.writtenAt),
    );

    const appended: UserEvent[] = fresh.map((event, i) => ({
      position: head.last + 1 + i,
      eventId: event.eventId,
      payload: event.payload,
      timeMs: event.timeMs,
    }));
    const last = head.last + appended.length;
    const max = this.o.maxEventsPerUser;
    const horizon = max === undefined ? head.horizon : Math.max(head.horizon, last - max);
    const size = this.o.userEventsPerBucket;
    // Buckets that now lie entirely at or below the horizon.
    const pruned = range(Math.floor((head.horizon + 1) / size), Math.floor((horizon + 1) / size) - 1);
    const kept = appended.filter((event) => event.position > horizon);

    const ts = this.clock.reserve(Math.max(head.writtenAt, abandoned) + 1, 1);
    const at = this.s.bigint(ts);
    const ttl = this.o.userEventTtlSeconds;
    const big = (n: number) => this.s.bigint(n);

    // Event rows and the id index first (above the stored last position, readers
    // skip them), and the pruned buckets' deletion (readers treat missing events as
    // expired: the horizon moves past them).
    const byBucket = new Map<number, { query: string; params: unknown[] }[]>();
    for (const event of kept) {
      const bucket = this.eventBucket(event.position);
      const list = byBucket.get(bucket) ?? [];
      list.push({
        query: this.q.insertEvent,
        params: [
          userId,
          big(bucket),
          big(event.position),
          event.eventId,
          blob(event.payload),
          big(event.timeMs),
          ttl,
          at,
        ],
      });
      byBucket.set(bucket, list);
    }
    const tasks: (() => Promise<void>)[] = [
      ...[...byBucket.values()].map((statements) => () => this.writePartition(statements)),
      ...kept.map((event) => async () => {
        await this.write(this.q.insertEventId, [userId, event.eventId, big(event.position), ttl, at]);
      }),
      ...pruned.map((bucket) => async () => {
        await this.write(this.q.deleteEventBucket, [at, userId, big(bucket)]);
      }),
    ];
    await forEachLimit(tasks, this.o.concurrency, (task) => task());

    // The commit point: the new last position and horizon, a row per bucket written
    // to that expires with the newest event in it, pruned buckets' rows deleted.
    const now = this.s.bigint(Date.now());
    await this.writePartition([
      { query: this.q.setLastPosition, params: [at, big(last), big(horizon), userId] },
      ...[...byBucket.keys()].map((bucket) => ({
        query: this.q.touchBucket,
        params: [ttl, at, now, userId, big(bucket)],
      })),
      ...pruned.map((bucket) => ({ query: this.q.deleteBucketRow, params: [at, userId, big(bucket)] })),
    ]);
    return appended;
  }

  async readUserEvents(userId: string, afterPosition: number, limit: number): Promise<UserEventPage> {
    requireCount("afterPosition", afterPosition);
    requireCount("limit", limit);
    const head = await this.streamHead(userId);
    const last = head.last;
    // Buckets below the first live bucket row were pruned or have expired entirely.
    const expired =
      head.firstBucket === undefined
        ? last
        : Math.min(last, Math.max(0, head.firstBucket * this.o.userEventsPerBucket - 1));
    let horizon = Math.max(head.horizon, expired);
    let from = Math.max(afterPosition, horizon) + 1;
    if (limit === 0 || from > last) return { events: [], horizon, last };
    for (;;) {
      const { events, gapAt } = await this.readEvents(userId, from, last, limit);
      if (gapAt !== undefined) {
        // Events below `gapAt` expired: the horizon moves up to them. Read on from there.
        horizon = gapAt - 1;
        from = gapAt;
        continue;
      }
      const end = events.length > 0 ? (events[events.length - 1] as UserEvent).position : from - 1;
      // Fewer events than asked for, yet not up to `last`: the newest ones expired too.
      if (events.length < limit && end < last) return { events: [], horizon: last, last };
      return { events, horizon, last };
    }
  }

  /**
   * Up to `limit` events with positions from..last, walking buckets upwards, stopping
   * at the first missing position (`gapAt`: the position found after the gap).
   */
  private async readEvents(
    userId: string,
    from: number,
    last: number,
    limit: number,
  ): Promise<{ events: UserEvent[]; gapAt?: number }> {
    const events: UserEvent[] = [];
    let expected = from;
    for (
      let bucket = this.eventBucket(from);
      bucket <= this.eventBucket(last) && events.length < limit;
      bucket++
    ) {
      const params = [
        userId,
        this.s.bigint(bucket),
        this.s.bigint(expected),
        this.s.bigint(last),
        limit - events.length,
      ];
      for await (const rows of pages(this.s, this.q.events, params)) {
        for (const row of rows) {
          const position = num(row.get("position")) ?? 0;
          if (position !== expected) return { events, gapAt: position };
          events.push({
            position,
            eventId: row.get("event_id") as string,
            payload: bytes(row.get("payload")),
            timeMs: num(row.get("time_ms")) ?? 0,
          });
          expected = position + 1;
        }
      }
    }
    return { events };
  }
}

/** from, from + 1, ..., to (empty when to < from). */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

function createdMs(message: Message): number {
  return message.createdAt ? timestampMs(message.createdAt) : 0;
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
