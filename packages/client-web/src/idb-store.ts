import type {
  ClientLogger,
  ClientStore,
  MessageQuery,
  OutboxItem,
  StoreBatch,
  StoredState,
} from "@parley/client";
import type { Conversation, Message } from "@parley/protocol";
import { type DBSchema, deleteDB, type IDBPDatabase, openDB } from "idb";

/** The schema version this code creates and reads. */
const VERSION = 1;

/**
 * Meta keys the app sets are strings; the store's own values use array keys,
 * which can never collide with them.
 */
const CURSOR_KEY: [string] = ["cursor"];

interface ParleyDb extends DBSchema {
  /** App meta values under string keys, and the sync cursor under {@link CURSOR_KEY}. */
  meta: { key: string | [string]; value: string };
  conversations: { key: string; value: Conversation };
  /** Keyed by [conversationId, seq]: one conversation's messages are one key range. */
  messages: { key: [string, number]; value: Message };
  outbox: { key: string; value: OutboxItem };
}

/** Options for {@link createIndexedDbClientStore}. */
export interface IndexedDbClientStoreOptions {
  /**
   * The IndexedDB database name. Every tab of one user on one server should use
   * the same name (they share the database); different users need different names.
   */
  name: string;
  /**
   * Where to report a blocked upgrade or a connection another tab asked to close.
   * @defaultValue silent
   */
  logger?: Pick<ClientLogger, "warn">;
}

/**
 * A {@link ClientStore} in IndexedDB. Object stores: `meta`, `conversations`
 * (key `conversationId`), `messages` (key `[conversationId, seq]`) and `outbox`
 * (key `id`). Protobuf messages are stored as they are (structured clone keeps
 * their bigint and Timestamp fields).
 *
 * Each {@link ClientStore.write} is one IndexedDB transaction, so a batch is
 * applied entirely or not at all. Batches that add outbox items commit with
 * `durability: "strict"` (flushed to disk before they resolve); others use the
 * browser's default.
 *
 * The database opens on first use. Several tabs may open it at once. When a newer
 * version of the app upgrades the schema in another tab, this connection closes
 * so the upgrade can proceed, and later calls reopen it (failing clearly if the
 * database is now newer than this code understands).
 */
export function createIndexedDbClientStore(options: IndexedDbClientStoreOptions): ClientStore {
  const { name } = options;
  const logger = options.logger;
  let opening: Promise<IDBPDatabase<ParleyDb>> | undefined;
  let closed = false;

  const open = (): Promise<IDBPDatabase<ParleyDb>> => {
    if (closed) return Promise.reject(new Error(`unable to use the store "${name}"; it is closed`));
    if (typeof indexedDB === "undefined") {
      return Promise.reject(new Error(`unable to open the store "${name}"; IndexedDB is not available`));
    }
    if (opening) return opening;
    const attempt = openIdb(name, {
      onBlocked: () =>
        logger?.warn("IndexedDB upgrade waits for other tabs to close the database", { database: name }),
      onLost: (why) => {
        if (opening === attempt) opening = undefined;
        logger?.warn("IndexedDB connection closed; it reopens on next use", { database: name, why });
      },
    });
    opening = attempt;
    attempt.catch(() => {
      if (opening === attempt) opening = undefined;
    });
    return attempt;
  };

  return {
    async load(): Promise<StoredState> {
      const db = await open();
      return guard("load the store", async () => {
        const tx = db.transaction(["meta", "conversations", "outbox"], "readonly");
        const metaStore = tx.objectStore("meta");
        const [metaKeys, metaValues, conversations, outbox] = await Promise.all([
          metaStore.getAllKeys(),
          metaStore.getAll(),
          tx.objectStore("conversations").getAll(),
          tx.objectStore("outbox").getAll(),
          tx.done,
        ]);
        let cursor = "";
        const meta: Record<string, string> = {};
        metaKeys.forEach((key, i) => {
          const value = metaValues[i] ?? "";
          if (typeof key === "string") meta[key] = value;
          else if (key[0] === CURSOR_KEY[0]) cursor = value;
        });
        return { cursor, conversations, outbox, meta };
      });
    },

    async write(batch: StoreBatch): Promise<void> {
      check(batch);
      const db = await open();
      await guard("write to the store", async () => {
        const durability = batch.outbox?.length ? "strict" : "default";
        const tx = db.transaction(["meta", "conversations", "messages", "outbox"], "readwrite", {
          durability,
        });
        // Requests of one transaction run in the order they are made; only the
        // last completion (tx.done) matters, and any failure aborts the lot.
        const requests: Promise<unknown>[] = [];
        const meta = tx.objectStore("meta");
        const conversations = tx.objectStore("conversations");
        const messages = tx.objectStore("messages");
        const outbox = tx.objectStore("outbox");
        if (batch.reset) {
          requests.push(meta.delete(CURSOR_KEY), conversations.clear(), messages.clear());
        }
        if (batch.cursor !== undefined) requests.push(meta.put(batch.cursor, CURSOR_KEY));
        for (const id of batch.deleteConversations ?? []) {
          requests.push(conversations.delete(id), messages.delete(conversationRange(id)));
        }
        for (const conversation of batch.conversations ?? []) requests.push(conversations.put(conversation));
        for (const message of batch.messages ?? []) requests.push(messages.put(message));
        for (const id of batch.deleteOutbox ?? []) requests.push(outbox.delete(id));
        for (const item of batch.outbox ?? []) requests.push(outbox.put(item));
        for (const [key, value] of Object.entries(batch.meta ?? {})) requests.push(meta.put(value, key));
        await Promise.all([...requests, tx.done]);
      });
    },

    async messages(conversationId: string, query: MessageQuery): Promise<Message[]> {
      const db = await open();
      return guard("read messages from the store", async () => {
        const limit = Math.max(0, Math.floor(query.limit));
        const minSeq = Math.max(query.minSeq ?? 1, 0);
        const maxSeq = query.maxSeq ?? Number.POSITIVE_INFINITY;
        if (limit === 0 || maxSeq < minSeq) return [];
        const range = IDBKeyRange.bound([conversationId, minSeq], [conversationId, maxSeq]);
        const store = db.transaction("messages", "readonly").store;
        // getAll's count is an unsigned long; larger limits mean "all".
        if (query.from === "oldest") return store.getAll(range, limit < 2 ** 32 ? limit : undefined);
        const out: Message[] = [];
        let cursor = await store.openCursor(range, "prev");
        while (cursor && out.length < limit) {
          out.push(cursor.value);
          if (out.length < limit) cursor = await cursor.continue();
        }
        return out.reverse();
      });
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const pending = opening;
      opening = undefined;
      const db = await pending?.catch(() => undefined);
      db?.close();
    },
  };
}

/**
 * Deletes a database made by {@link createIndexedDbClientStore} (e.g. on sign-out).
 * Waits until every tab has closed its connection.
 */
export async function deleteIndexedDbClientStore(name: string): Promise<void> {
  await guard("delete the store", () => deleteDB(name));
}

/**
 * Refuses a batch IndexedDB would store wrongly (e.g. a message without a
 * conversation id gets the key ["", 0]) before anything is written.
 */
function check(batch: StoreBatch): void {
  const invalid = (reason: string): never => {
    throw new TypeError(`unable to write to the store; ${reason}`);
  };
  batch.conversations?.forEach((c, i) => {
    if (typeof c?.conversationId !== "string" || c.conversationId === "") {
      invalid(`conversations[${i}] has no conversation_id`);
    }
  });
  batch.messages?.forEach((m, i) => {
    if (typeof m?.conversationId !== "string" || m.conversationId === "") {
      invalid(`messages[${i}] has no conversation_id`);
    }
    if (!Number.isInteger(m.seq) || m.seq < 1) invalid(`messages[${i}] has seq ${m.seq}; expected 1 or more`);
  });
  batch.outbox?.forEach((item, i) => {
    if (typeof item?.id !== "string" || item.id === "") invalid(`outbox[${i}] has no id`);
  });
  for (const [key, value] of Object.entries(batch.meta ?? {})) {
    if (typeof value !== "string") invalid(`meta "${key}" is not a string`);
  }
  if (batch.cursor !== undefined && typeof batch.cursor !== "string") invalid("cursor is not a string");
}

/** Every key of one conversation's messages. */
function conversationRange(conversationId: string): IDBKeyRange {
  return IDBKeyRange.bound([conversationId, 0], [conversationId, Number.POSITIVE_INFINITY]);
}

interface OpenHooks {
  onBlocked(): void;
  /** The connection ended other than by our `close()`: another tab upgrades, or the browser closed it. */
  onLost(why: "versionchange" | "terminated"): void;
}

async function openIdb(name: string, hooks: OpenHooks): Promise<IDBPDatabase<ParleyDb>> {
  const db = await guard(`open the store "${name}"`, () =>
    openDB<ParleyDb>(name, VERSION, {
      upgrade: (database, oldVersion) => upgrade(database, oldVersion),
      blocked: () => hooks.onBlocked(),
    }),
  );
  db.addEventListener("versionchange", () => {
    db.close();
    hooks.onLost("versionchange");
  });
  db.addEventListener("close", () => hooks.onLost("terminated"));
  return db;
}

function upgrade(db: IDBPDatabase<ParleyDb>, oldVersion: number): void {
  if (oldVersion < 1) {
    db.createObjectStore("meta");
    db.createObjectStore("conversations", { keyPath: "conversationId" });
    db.createObjectStore("messages", { keyPath: ["conversationId", "seq"] });
    db.createObjectStore("outbox", { keyPath: "id" });
  }
}

/** Runs an IndexedDB operation and translates its failure into one "unable to …" error. */
async function guard<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("unable to ")) throw err;
    throw new Error(`unable to ${operation}; ${describe(err)}`, { cause: err });
  }
}

function describe(err: unknown): string {
  if (err instanceof DOMException) {
    if (err.name === "VersionError") {
      return "the database was upgraded by a newer version of the app (reload the page)";
    }
    if (err.name === "QuotaExceededError") return "the browser's storage quota is exhausted";
    return `${err.name}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}
