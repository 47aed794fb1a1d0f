import { clone } from "@bufbuild/protobuf";
import { type Conversation, ConversationSchema, type Message, MessageSchema } from "@parley/protocol";
import type { ClientStore, MessageQuery, OutboxItem, StoreBatch, StoredState } from "./port.js";

declare const memoryStorageBrand: unique symbol;

/**
 * An in-memory database for {@link createMemoryClientStore}. Opaque: create it with
 * {@link createMemoryStorage} and open as many store handles on it as you like.
 * Handles on one storage see the same data, so closing a client and opening a new
 * one on the same storage behaves like a reload, and two clients on one storage
 * behave like two tabs sharing IndexedDB. The data lives as long as the storage
 * object is referenced.
 */
export interface MemoryStorage {
  readonly [memoryStorageBrand]: true;
}

/** Options for {@link createMemoryClientStore}. */
export interface MemoryClientStoreOptions {
  /**
   * The storage to open a handle on.
   * @defaultValue a new, empty storage of its own (nothing outlives the handle)
   */
  storage?: MemoryStorage;
}

/** The state behind a {@link MemoryStorage}. Values in it are never handed out, only copies. */
interface Database {
  cursor: string;
  conversations: Map<string, Conversation>;
  /** conversation id → seq → message. */
  messages: Map<string, ConversationMessages>;
  outbox: Map<string, OutboxItem>;
  meta: Map<string, string>;
}

interface ConversationMessages {
  bySeq: Map<number, Message>;
  /** Ascending seqs of `bySeq`; undefined after a change until the next query sorts again. */
  sorted: number[] | undefined;
}

const databases = new WeakMap<MemoryStorage, Database>();

/**
 * Creates an empty in-memory database to open {@link createMemoryClientStore}
 * handles on.
 *
 * @example
 * ```ts
 * const storage = createMemoryStorage();
 * const first = createMemoryClientStore({ storage });
 * await first.write({ cursor: "c1" });
 * await first.close();
 * const second = createMemoryClientStore({ storage }); // like a reload
 * (await second.load()).cursor; // "c1"
 * ```
 */
export function createMemoryStorage(): MemoryStorage {
  const storage = Object.freeze({}) as MemoryStorage;
  databases.set(storage, {
    cursor: "",
    conversations: new Map(),
    messages: new Map(),
    outbox: new Map(),
    meta: new Map(),
  });
  return storage;
}

/**
 * A {@link ClientStore} kept in memory: the default store of `createParleyClient`,
 * and the one tests use. Writes are atomic (a batch is checked and copied before
 * any of it is applied) and every value is copied in and out, so callers cannot
 * change stored state by mutating what they passed or got back.
 *
 * Within a batch, changes apply in this order: `reset`, `cursor`,
 * `deleteConversations` (with their messages), `conversations`, `messages`,
 * `deleteOutbox`, `outbox`, `meta`.
 *
 * `close()` closes this handle only; the storage keeps the data for other handles.
 *
 * @example
 * ```ts
 * const store = createMemoryClientStore();
 * await store.write({ cursor: "c1", meta: { deviceId: "d1" } });
 * const state = await store.load(); // { cursor: "c1", meta: { deviceId: "d1" }, ... }
 * ```
 */
export function createMemoryClientStore(options: MemoryClientStoreOptions = {}): ClientStore {
  const storage = options.storage ?? createMemoryStorage();
  const db = databases.get(storage);
  if (!db) {
    throw new TypeError(
      "unable to open the memory client store; storage was not made by createMemoryStorage()",
    );
  }
  let closed = false;

  function ensureOpen(operation: string): void {
    if (closed) throw new Error(`unable to ${operation}; the memory client store handle is closed`);
  }

  return {
    async load(): Promise<StoredState> {
      ensureOpen("load the client store");
      const outbox = [...db.outbox.values()].sort((a, b) => compareIds(a.id, b.id));
      return {
        cursor: db.cursor,
        conversations: [...db.conversations.values()].map((c) => clone(ConversationSchema, c)),
        outbox: outbox.map((item) => structuredClone(item)),
        meta: Object.fromEntries(db.meta),
      };
    },

    async write(batch: StoreBatch): Promise<void> {
      ensureOpen("write to the client store");
      // Check and copy everything first, so a bad batch changes nothing.
      const change = prepare(batch);
      apply(db, change);
    },

    async messages(conversationId: string, query: MessageQuery): Promise<Message[]> {
      ensureOpen("read messages from the client store");
      checkQuery(query);
      const stored = db.messages.get(conversationId);
      if (!stored || query.limit === 0) return [];
      const seqs = sortedSeqs(stored);
      const min = query.minSeq ?? 1;
      const max = query.maxSeq ?? Number.POSITIVE_INFINITY;
      const start = lowerBound(seqs, min);
      const end = lowerBound(seqs, max + 1); // exclusive; seqs are integers
      if (start >= end) return [];
      const count = Math.min(end - start, query.limit);
      const picked =
        query.from === "newest" ? seqs.slice(end - count, end) : seqs.slice(start, start + count);
      return picked.map((seq) => clone(MessageSchema, stored.bySeq.get(seq) as Message));
    },

    async close(): Promise<void> {
      closed = true;
    },
  };
}

/** A batch after checking and copying: safe to apply without failing half-way. */
interface PreparedBatch {
  reset: boolean;
  cursor: string | undefined;
  deleteConversations: string[];
  conversations: Conversation[];
  messages: Message[];
  deleteOutbox: string[];
  outbox: OutboxItem[];
  meta: [string, string][];
}

function invalid(reason: string): never {
  throw new TypeError(`unable to write to the client store; ${reason}`);
}

function prepare(batch: StoreBatch): PreparedBatch {
  if (typeof batch !== "object" || batch === null) invalid("the batch is not an object");
  if (batch.cursor !== undefined && typeof batch.cursor !== "string") invalid("cursor is not a string");
  const conversations = (batch.conversations ?? []).map((c, i) => {
    if (c?.$typeName !== ConversationSchema.typeName) invalid(`conversations[${i}] is not a Conversation`);
    if (!c.conversationId) invalid(`conversations[${i}] has no conversation_id`);
    return clone(ConversationSchema, c);
  });
  const messages = (batch.messages ?? []).map((m, i) => {
    if (m?.$typeName !== MessageSchema.typeName) invalid(`messages[${i}] is not a Message`);
    if (!m.conversationId) invalid(`messages[${i}] has no conversation_id`);
    if (!Number.isInteger(m.seq) || m.seq < 1) invalid(`messages[${i}] has seq ${m.seq}; expected 1 or more`);
    return clone(MessageSchema, m);
  });
  const outbox = (batch.outbox ?? []).map((item, i) => {
    if (typeof item?.id !== "string" || item.id === "") invalid(`outbox[${i}] has no id`);
    if (typeof item.conversationId !== "string") invalid(`outbox[${i}] has no conversationId`);
    if (typeof item.op?.kind !== "string") invalid(`outbox[${i}] has no op`);
    return copyItem(item, i);
  });
  const meta = Object.entries(batch.meta ?? {}).map(([key, value]): [string, string] => {
    if (typeof value !== "string") invalid(`meta "${key}" is not a string`);
    return [key, value];
  });
  return {
    reset: batch.reset === true,
    cursor: batch.cursor,
    deleteConversations: strings(batch.deleteConversations, "deleteConversations"),
    conversations,
    messages,
    deleteOutbox: strings(batch.deleteOutbox, "deleteOutbox"),
    outbox,
    meta,
  };
}

function copyItem(item: OutboxItem, index: number): OutboxItem {
  try {
    return structuredClone(item);
  } catch (err) {
    return invalid(`outbox[${index}] cannot be copied (${err instanceof Error ? err.message : String(err)})`);
  }
}

function strings(values: readonly string[] | undefined, field: string): string[] {
  const list = [...(values ?? [])];
  list.forEach((value, i) => {
    if (typeof value !== "string") invalid(`${field}[${i}] is not a string`);
  });
  return list;
}

function apply(db: Database, change: PreparedBatch): void {
  if (change.reset) {
    db.cursor = "";
    db.conversations.clear();
    db.messages.clear();
  }
  if (change.cursor !== undefined) db.cursor = change.cursor;
  for (const id of change.deleteConversations) {
    db.conversations.delete(id);
    db.messages.delete(id);
  }
  for (const c of change.conversations) db.conversations.set(c.conversationId, c);
  for (const m of change.messages) {
    let stored = db.messages.get(m.conversationId);
    if (!stored) {
      stored = { bySeq: new Map(), sorted: undefined };
      db.messages.set(m.conversationId, stored);
    }
    if (!stored.bySeq.has(m.seq)) stored.sorted = undefined;
    stored.bySeq.set(m.seq, m);
  }
  for (const id of change.deleteOutbox) db.outbox.delete(id);
  for (const item of change.outbox) db.outbox.set(item.id, item);
  for (const [key, value] of change.meta) db.meta.set(key, value);
}

function checkQuery(query: MessageQuery): void {
  const fail = (reason: string): never => {
    throw new TypeError(`unable to read messages from the client store; ${reason}`);
  };
  if (typeof query !== "object" || query === null) fail("the query is not an object");
  if (!(query.limit >= 0)) fail(`limit is ${query.limit}; expected 0 or more`);
  if (query.from !== "newest" && query.from !== "oldest") fail(`from is ${String(query.from)}`);
  if (query.minSeq !== undefined && Number.isNaN(query.minSeq)) fail("minSeq is not a number");
  if (query.maxSeq !== undefined && Number.isNaN(query.maxSeq)) fail("maxSeq is not a number");
}

function sortedSeqs(stored: ConversationMessages): number[] {
  if (!stored.sorted) stored.sorted = [...stored.bySeq.keys()].sort((a, b) => a - b);
  return stored.sorted;
}

/** Index of the first element of ascending `values` that is >= `target`. */
function lowerBound(values: readonly number[], target: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((values[mid] as number) < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Code-unit order, the order ULIDs sort by creation in. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
