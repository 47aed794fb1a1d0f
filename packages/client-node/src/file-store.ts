import { randomBytes } from "node:crypto";
import { type FileHandle, link, mkdir, open, readFile, realpath, rename, rm, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type ClientStore,
  createMemoryClientStore,
  type MessageQuery,
  type OutboxItem,
  type StoreBatch,
  type StoredState,
} from "@parley/client";
import { type Conversation, ConversationSchema, type Message, MessageSchema } from "@parley/protocol";

/** Options for {@link createFileClientStore}. */
export interface FileClientStoreOptions {
  /**
   * The folder holding the store (created when missing). One process at a time
   * may open it; use one folder per user (and per device identity).
   */
  dir: string;
  /**
   * Whether each write waits for the journal to reach the disk (`fdatasync`)
   * before it resolves. With `false`, an acknowledged write still survives the
   * process being killed, but not a power cut or OS crash.
   * @defaultValue true
   */
  fsync?: boolean;
  /**
   * The journal is compacted into the snapshot once it is larger than this many
   * bytes and larger than the snapshot itself.
   * @defaultValue 4194304 (4 MiB)
   */
  compactBytes?: number;
}

const JOURNAL = "journal.jsonl";
const SNAPSHOT = "snapshot.json";
const LOCK = "lock";
const FORMAT = "parley-client-store";
const VERSION = 1;
const ALL: MessageQuery = { limit: Number.MAX_SAFE_INTEGER, from: "oldest" };

/** Folders opened by a file store in this process (resolved paths). */
const openDirs = new Set<string>();

/** A batch as one journal line holds it: protobuf messages as base64 binary. */
interface EncodedBatch {
  reset?: true;
  cursor?: string;
  conversations?: string[];
  deleteConversations?: string[];
  messages?: string[];
  outbox?: OutboxItem[];
  deleteOutbox?: string[];
  meta?: Record<string, string>;
}

/** The snapshot file's content. */
interface EncodedSnapshot {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** Number of the last journal line the snapshot includes. */
  n: number;
  cursor: string;
  meta: Record<string, string>;
  conversations: string[];
  messages: string[];
  outbox: OutboxItem[];
}

interface QueuedWrite {
  /** The batch checked and encoded when write() was called (later changes by the caller do not matter). */
  encoded: EncodedBatch;
  /** `encoded` as JSON text. */
  body: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A durable {@link ClientStore} in a folder, for bots and services on Node (no
 * native modules). Every write appends one line to `journal.jsonl` and, by
 * default, syncs it to disk before it resolves, so an acknowledged write
 * survives `kill -9`. Once the journal outgrows `compactBytes` (and the current
 * snapshot), the whole state is written to `snapshot.json` (temp file, fsync,
 * rename) and the journal is emptied. Opening loads the snapshot and replays the
 * journal; a torn last line (a write that never resolved) is dropped.
 *
 * The whole state is also kept in memory once loaded. A `lock` file holding the
 * process id keeps a second process (or a second handle in this process) out;
 * a lock left by a process that no longer runs is taken over.
 *
 * The folder is opened on the first call (like an IndexedDB store), so a folder
 * in use or damaged makes that call fail (usually the client's `load()`, seen as
 * `client.ready()` rejecting); the next call tries again.
 *
 * @example
 * ```ts
 * const store = createFileClientStore({ dir: "./data/bot-alice" });
 * const client = createParleyClient({ transport, userId: "alice", token, store });
 * await client.ready(); // rejects if another process has the folder open
 * ```
 */
export function createFileClientStore(options: FileClientStoreOptions): ClientStore {
  if (typeof options?.dir !== "string" || options.dir === "") {
    throw new TypeError("unable to create the file client store; dir must be a folder path");
  }
  const dir = resolve(options.dir);
  const fsync = options.fsync ?? true;
  const compactBytes = options.compactBytes ?? 4 * 1024 * 1024;
  if (!(compactBytes >= 0)) {
    throw new RangeError("unable to create the file client store; compactBytes must be 0 or more");
  }
  let opening: Promise<FileStore> | undefined;
  let closed = false;

  const opened = (operation: string): Promise<FileStore> => {
    if (closed) return Promise.reject(new Error(`unable to ${operation}; the file client store is closed`));
    if (!opening) {
      const attempt = openFolder(dir, fsync, compactBytes);
      opening = attempt;
      // A failed open is tried again by the next call.
      attempt.catch(() => {
        if (opening === attempt) opening = undefined;
      });
    }
    return opening;
  };

  return {
    async load() {
      return (await opened("load the client store")).load();
    },
    async write(batch) {
      // Checked and encoded now: later changes to `batch` by the caller do not matter.
      const encoded = encodeBatch(batch);
      return (await opened("write to the client store")).writeEncoded(encoded);
    },
    async messages(conversationId, query) {
      return (await opened("read messages from the client store")).messages(conversationId, query);
    },
    async close() {
      if (closed) return;
      closed = true;
      const store = await opening?.catch(() => undefined);
      await store?.close();
    },
  };
}

async function openFolder(path: string, fsync: boolean, compactBytes: number): Promise<FileStore> {
  await mkdir(path, { recursive: true });
  // One name per folder, so two paths to it (a symlink) cannot both hold it in this process.
  const dir = await realpath(path);
  await acquireLock(dir);
  let journal: FileHandle | undefined;
  try {
    const loaded = await loadFolder(dir);
    journal = await open(join(dir, JOURNAL), "a");
    if (fsync) await syncDir(dir);
    const store = new FileStore(dir, fsync, compactBytes, journal, loaded);
    if (loaded.staleLines > 0 || store.needsCompaction()) await store.compact();
    return store;
  } catch (err) {
    await journal?.close().catch(() => {});
    await releaseLock(dir);
    throw err;
  }
}

interface LoadedFolder {
  memory: ClientStore;
  /** Conversation ids that may have messages (to list them in a snapshot). */
  messageConversations: Set<string>;
  lastN: number;
  journalBytes: number;
  snapshotBytes: number;
  /** Journal lines already in the snapshot (a compaction stopped before emptying the journal). */
  staleLines: number;
}

class FileStore implements ClientStore {
  private closed = false;
  /** Set when a journal write failed: the state on disk may lag the batches asked for. */
  private broken: unknown;
  private readonly queue: QueuedWrite[] = [];
  private flushing: Promise<void> | undefined;
  private readonly memory: ClientStore;
  private readonly messageConversations: Set<string>;
  private lastN: number;
  private journalBytes: number;
  private snapshotBytes: number;

  constructor(
    private readonly dir: string,
    private readonly fsync: boolean,
    private readonly compactBytes: number,
    private readonly journal: FileHandle,
    loaded: LoadedFolder,
  ) {
    this.memory = loaded.memory;
    this.messageConversations = loaded.messageConversations;
    this.lastN = loaded.lastN;
    this.journalBytes = loaded.journalBytes;
    this.snapshotBytes = loaded.snapshotBytes;
  }

  private ensureUsable(operation: string): void {
    if (this.closed) throw new Error(`unable to ${operation}; the file client store is closed`);
    if (this.broken !== undefined) {
      throw new Error(
        `unable to ${operation}; an earlier journal write failed (${describe(this.broken)}), reopen the store`,
      );
    }
  }

  async load(): Promise<StoredState> {
    this.ensureUsable("load the client store");
    return this.memory.load();
  }

  async messages(conversationId: string, query: MessageQuery): Promise<Message[]> {
    this.ensureUsable("read messages from the client store");
    return this.memory.messages(conversationId, query);
  }

  write(batch: StoreBatch): Promise<void> {
    return this.writeEncoded(encodeBatch(batch));
  }

  /** Queues a batch checked and encoded by {@link encodeBatch}; resolves once it is on disk. */
  writeEncoded(encoded: EncodedBatch): Promise<void> {
    return new Promise<void>((resolvePromise, rejectPromise) => {
      this.ensureUsable("write to the client store");
      this.queue.push({
        encoded,
        body: JSON.stringify(encoded),
        resolve: resolvePromise,
        reject: rejectPromise,
      });
      this.startFlushing();
    });
  }

  private startFlushing(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      try {
        await this.flush();
      } finally {
        this.flushing = undefined;
        // Writes queued while the last flush was finishing.
        if (this.queue.length > 0) this.startFlushing();
      }
    })();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.journal.close().catch(() => {});
    await releaseLock(this.dir);
  }

  /** Appends every queued batch (one line each) with one sync, applies them, then resolves their writes. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0);
      const first = this.lastN + 1;
      const text = group.map((w, i) => `{"n":${first + i},"b":${w.body}}\n`).join("");
      try {
        await this.journal.appendFile(text);
        if (this.fsync) await this.journal.datasync();
      } catch (err) {
        this.fail(err, group);
        return;
      }
      this.lastN += group.length;
      this.journalBytes += Buffer.byteLength(text);
      try {
        // Apply what the journal holds, so memory matches what a reopen would load.
        for (const w of group) await this.apply(decodeBatch(w.encoded));
      } catch (err) {
        // Cannot happen for a batch encodeBatch accepted; if it does, memory no longer matches disk.
        this.fail(err, group);
        return;
      }
      for (const w of group) w.resolve();
      if (this.needsCompaction()) {
        try {
          await this.compact();
        } catch {
          // The journal still holds everything; try again once it has doubled.
          this.snapshotBytes = Math.max(this.snapshotBytes, this.journalBytes) * 2;
        }
      }
    }
  }

  private fail(err: unknown, group: QueuedWrite[]): void {
    this.broken = err;
    const reason = new Error(
      `unable to write to the client store; the journal write failed (${describe(err)})`,
      {
        cause: err,
      },
    );
    for (const w of [...group, ...this.queue.splice(0)]) w.reject(reason);
  }

  private async apply(batch: StoreBatch): Promise<void> {
    await this.memory.write(batch);
    trackConversations(this.messageConversations, batch);
  }

  needsCompaction(): boolean {
    return this.journalBytes > Math.max(this.compactBytes, this.snapshotBytes);
  }

  /** Writes the whole state to the snapshot (temp file, sync, rename) and empties the journal. */
  async compact(): Promise<void> {
    const state = await this.memory.load();
    const messages: string[] = [];
    for (const conversationId of [...this.messageConversations].sort()) {
      const stored = await this.memory.messages(conversationId, ALL);
      if (stored.length === 0) this.messageConversations.delete(conversationId);
      for (const m of stored) messages.push(encodeMessage(m));
    }
    const snapshot: EncodedSnapshot = {
      format: FORMAT,
      version: VERSION,
      n: this.lastN,
      cursor: state.cursor,
      meta: { ...state.meta },
      conversations: state.conversations.map(encodeConversation),
      messages,
      outbox: [...state.outbox],
    };
    const text = JSON.stringify(snapshot);
    const path = join(this.dir, SNAPSHOT);
    const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      const file = await open(tmp, "w");
      try {
        await file.writeFile(text);
        if (this.fsync) await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    if (this.fsync) await syncDir(this.dir);
    // From here a crash is harmless: lines up to `n` are skipped when replaying.
    await this.journal.truncate(0);
    if (this.fsync) await this.journal.sync();
    this.snapshotBytes = Buffer.byteLength(text);
    this.journalBytes = 0;
  }
}

// ---------------------------------------------------------------------------
// Loading

async function loadFolder(dir: string): Promise<LoadedFolder> {
  const memory = createMemoryClientStore();
  const messageConversations = new Set<string>();
  const openError = (reason: string) =>
    new Error(`unable to open the file client store in ${dir}; ${reason}`);

  let snapshotN = 0;
  let snapshotBytes = 0;
  const snapshotText = await readIfExists(join(dir, SNAPSHOT));
  if (snapshotText !== undefined) {
    snapshotBytes = Buffer.byteLength(snapshotText);
    let batch: StoreBatch;
    try {
      const snapshot = JSON.parse(snapshotText) as EncodedSnapshot;
      if (snapshot.format !== FORMAT || snapshot.version !== VERSION) {
        throw new Error(`unknown format ${String(snapshot.format)} version ${String(snapshot.version)}`);
      }
      snapshotN = snapshot.n;
      batch = decodeBatch({
        reset: true,
        cursor: snapshot.cursor,
        meta: snapshot.meta,
        conversations: snapshot.conversations,
        messages: snapshot.messages,
        outbox: snapshot.outbox,
      });
    } catch (err) {
      throw openError(`${SNAPSHOT} is unreadable (${describe(err)})`);
    }
    await memory.write(batch);
    trackConversations(messageConversations, batch);
  }

  const journalPath = join(dir, JOURNAL);
  const journalBuffer = (await readIfExists(journalPath, "buffer")) ?? Buffer.alloc(0);
  let goodBytes = 0;
  let lastN = snapshotN;
  let staleLines = 0;
  let lineNumber = 0;
  let start = 0;
  while (start < journalBuffer.length) {
    lineNumber += 1;
    const end = journalBuffer.indexOf(0x0a, start);
    const isLast = end === -1 || journalBuffer.indexOf(0x0a, end + 1) === -1;
    let entry: { n: number; b: EncodedBatch } | undefined;
    if (end !== -1) {
      try {
        entry = JSON.parse(journalBuffer.subarray(start, end).toString("utf8"));
      } catch {
        entry = undefined;
      }
    }
    if (!entry || typeof entry.n !== "number" || typeof entry.b !== "object") {
      // A torn last line is a write that never resolved; anything else is damage.
      if (isLast) break;
      throw openError(`${JOURNAL} line ${lineNumber} is damaged`);
    }
    if (entry.n <= snapshotN) {
      staleLines += 1;
    } else {
      if (entry.n !== lastN + 1) {
        throw openError(`${JOURNAL} line ${lineNumber} is batch ${entry.n}, expected ${lastN + 1}`);
      }
      let batch: StoreBatch;
      try {
        batch = decodeBatch(entry.b);
        await memory.write(batch);
      } catch (err) {
        throw openError(`${JOURNAL} line ${lineNumber} cannot be applied (${describe(err)})`);
      }
      trackConversations(messageConversations, batch);
      lastN = entry.n;
    }
    goodBytes = (end as number) + 1;
    start = goodBytes;
  }
  if (goodBytes < journalBuffer.length) {
    // Drop the torn tail so new lines do not follow it.
    const file = await open(journalPath, "r+");
    try {
      await file.truncate(goodBytes);
      await file.sync();
    } finally {
      await file.close();
    }
  }
  return { memory, messageConversations, lastN, journalBytes: goodBytes, snapshotBytes, staleLines };
}

async function readIfExists(path: string): Promise<string | undefined>;
async function readIfExists(path: string, as: "buffer"): Promise<Buffer | undefined>;
async function readIfExists(path: string, as?: "buffer"): Promise<string | Buffer | undefined> {
  try {
    return as === "buffer" ? await readFile(path) : await readFile(path, "utf8");
  } catch (err) {
    if (errorCode(err) === "ENOENT") return undefined;
    throw err;
  }
}

/** Keeps the set of conversations that may hold messages in step with a batch. */
function trackConversations(set: Set<string>, batch: StoreBatch): void {
  if (batch.reset) set.clear();
  for (const id of batch.deleteConversations ?? []) set.delete(id);
  for (const m of batch.messages ?? []) set.add(m.conversationId);
}

// ---------------------------------------------------------------------------
// Encoding

function invalid(reason: string): never {
  throw new TypeError(`unable to write to the client store; ${reason}`);
}

const toBase64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
const fromBase64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));
const encodeConversation = (c: Conversation) => toBase64(toBinary(ConversationSchema, c));
const encodeMessage = (m: Message) => toBase64(toBinary(MessageSchema, m));

/** Checks a batch the way the memory store does and encodes it for a journal line. */
function encodeBatch(batch: StoreBatch): EncodedBatch {
  if (typeof batch !== "object" || batch === null) invalid("the batch is not an object");
  const out: EncodedBatch = {};
  if (batch.reset) out.reset = true;
  if (batch.cursor !== undefined) {
    if (typeof batch.cursor !== "string") invalid("cursor is not a string");
    out.cursor = batch.cursor;
  }
  if (batch.conversations?.length) {
    out.conversations = batch.conversations.map((c, i) => {
      if (c?.$typeName !== ConversationSchema.typeName) invalid(`conversations[${i}] is not a Conversation`);
      if (!c.conversationId) invalid(`conversations[${i}] has no conversation_id`);
      return encodeConversation(c);
    });
  }
  if (batch.deleteConversations?.length)
    out.deleteConversations = strings(batch.deleteConversations, "deleteConversations");
  if (batch.messages?.length) {
    out.messages = batch.messages.map((m, i) => {
      if (m?.$typeName !== MessageSchema.typeName) invalid(`messages[${i}] is not a Message`);
      if (!m.conversationId) invalid(`messages[${i}] has no conversation_id`);
      if (!Number.isInteger(m.seq) || m.seq < 1)
        invalid(`messages[${i}] has seq ${m.seq}; expected 1 or more`);
      return encodeMessage(m);
    });
  }
  if (batch.outbox?.length) {
    out.outbox = batch.outbox.map((item, i) => {
      if (typeof item?.id !== "string" || item.id === "") invalid(`outbox[${i}] has no id`);
      if (typeof item.conversationId !== "string") invalid(`outbox[${i}] has no conversationId`);
      if (typeof item.op?.kind !== "string") invalid(`outbox[${i}] has no op`);
      try {
        return JSON.parse(JSON.stringify(item)) as OutboxItem;
      } catch (err) {
        return invalid(`outbox[${i}] is not JSON (${describe(err)})`);
      }
    });
  }
  if (batch.deleteOutbox?.length) out.deleteOutbox = strings(batch.deleteOutbox, "deleteOutbox");
  if (batch.meta) {
    const meta: Record<string, string> = {};
    for (const [key, value] of Object.entries(batch.meta)) {
      if (typeof value !== "string") invalid(`meta "${key}" is not a string`);
      meta[key] = value;
    }
    if (Object.keys(meta).length > 0) out.meta = meta;
  }
  return out;
}

function strings(values: readonly string[], field: string): string[] {
  return values.map((value, i) =>
    typeof value === "string" ? value : invalid(`${field}[${i}] is not a string`),
  );
}

function decodeBatch(encoded: EncodedBatch): StoreBatch {
  return {
    reset: encoded.reset === true,
    cursor: encoded.cursor,
    conversations: encoded.conversations?.map((text) => fromBinary(ConversationSchema, fromBase64(text))),
    deleteConversations: encoded.deleteConversations,
    messages: encoded.messages?.map((text) => fromBinary(MessageSchema, fromBase64(text))),
    outbox: encoded.outbox,
    deleteOutbox: encoded.deleteOutbox,
    meta: encoded.meta,
  };
}

// ---------------------------------------------------------------------------
// Lock and filesystem helpers

interface LockContent {
  pid: number;
  hostname: string;
}

async function acquireLock(dir: string): Promise<void> {
  const lockPath = join(dir, LOCK);
  const mine: LockContent = { pid: process.pid, hostname: hostname() };
  const lockError = (reason: string) =>
    new Error(`unable to open the file client store in ${dir}; ${reason}`);
  if (openDirs.has(dir)) throw lockError(`it is already open in this process (pid ${process.pid})`);
  // Write the lock aside, then link it into place: the lock file appears with its content.
  const tmp = join(dir, `${LOCK}.${process.pid}.${randomBytes(4).toString("hex")}`);
  await writeSmallFile(tmp, `${JSON.stringify(mine)}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, lockPath);
        openDirs.add(dir);
        return;
      } catch (err) {
        if (errorCode(err) !== "EEXIST" || attempt >= 3) throw err;
      }
      const text = await readIfExists(lockPath);
      if (text === undefined) continue; // released meanwhile
      const holder = parseLock(text);
      if (holder && holder.hostname !== mine.hostname) {
        throw lockError(
          `it is locked by process ${holder.pid} on host ${holder.hostname} (remove ${lockPath} if that process is gone)`,
        );
      }
      // Our own pid with no handle open in this process is a lock left by an earlier run (e.g. pid 1 in a container).
      if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
        throw lockError(`it is in use by process ${holder.pid}`);
      }
      // Stale: its process is gone. Take it over unless someone else just did.
      if ((await readIfExists(lockPath)) === text) await unlink(lockPath).catch(() => {});
    }
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

async function releaseLock(dir: string): Promise<void> {
  openDirs.delete(dir);
  const lockPath = join(dir, LOCK);
  const text = await readIfExists(lockPath).catch(() => undefined);
  const holder = text === undefined ? undefined : parseLock(text);
  if (holder?.pid === process.pid && holder.hostname === hostname()) await unlink(lockPath).catch(() => {});
}

function parseLock(text: string): LockContent | undefined {
  try {
    const parsed = JSON.parse(text) as Partial<LockContent>;
    if (typeof parsed.pid === "number" && typeof parsed.hostname === "string") {
      return { pid: parsed.pid, hostname: parsed.hostname };
    }
  } catch {
    // not ours: treated as stale
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === "EPERM";
  }
}

async function writeSmallFile(path: string, text: string): Promise<void> {
  const file = await open(path, "wx");
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Makes created, renamed and deleted entries of a folder durable (a no-op where folders cannot be opened). */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // Windows cannot open a folder; NTFS journals metadata itself.
  } finally {
    await handle?.close().catch(() => {});
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
