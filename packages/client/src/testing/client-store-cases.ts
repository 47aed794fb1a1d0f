import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type Conversation,
  ConversationKind,
  ConversationSchema,
  MemberRole,
  MemberSchema,
  type Message,
  MessageSchema,
} from "@parley/protocol";
import type { ClientStore, MessageQuery, OutboxItem, StoredState } from "../store/port.js";
import { assertEqual, assertProtoEqual, assertProtoListEqual, assertRejects } from "./assert.js";

/**
 * Opens handles on one store under test. Every call to {@link ClientStoreHarness.open}
 * returns a NEW handle on the SAME underlying storage (the same memory storage,
 * IndexedDB database or directory), which is how the cases check that data
 * outlives a handle. A fresh harness (empty storage) is expected for each case.
 */
export interface ClientStoreHarness {
  /** Opens a new handle on the shared underlying storage. */
  open(): Promise<ClientStore>;
}

/**
 * Optional abilities a store may declare. Cases that need one are listed with
 * {@link ClientStoreCase.needs} so a wrapper can leave them out for stores
 * without it (see {@link clientStoreCasesFor}).
 *
 * - `sharedHandles`: several handles may be open on one storage at once and see
 *   each other's writes (memory storage, IndexedDB; not the single-process file store).
 */
export type ClientStoreFeature = "sharedHandles";

/** One conformance case for a {@link ClientStore} implementation. */
export interface ClientStoreCase {
  /** What a client relies on, as a sentence; unique among the cases. */
  readonly name: string;
  /** A feature the store must have for this case to apply. */
  readonly needs?: ClientStoreFeature;
  /** Runs the case; rejects with an Error saying what was expected and what was found. */
  run(harness: ClientStoreHarness): Promise<void>;
}

// ---------------------------------------------------------------------------
// Fixtures

const T0 = 1_700_000_000_000;
const at = (ms: number) => timestampFromMs(T0 + ms);

function conversation(id: string, init: MessageInitShape<typeof ConversationSchema> = {}): Conversation {
  return create(ConversationSchema, {
    conversationId: id,
    kind: ConversationKind.GROUP,
    title: `Conversation ${id}`,
    createdBy: "alice",
    createdAt: at(0),
    updatedAt: at(1_000),
    ...init,
  });
}

function message(
  conversationId: string,
  seq: number,
  init: MessageInitShape<typeof MessageSchema> = {},
): Message {
  return create(MessageSchema, {
    conversationId,
    seq,
    messageId: `msg-${conversationId}-${seq}`,
    senderId: "alice",
    clientMsgId: `cid-${conversationId}-${seq}`,
    text: `message ${seq} in ${conversationId}`,
    createdAt: at(seq * 1_000),
    ...init,
  });
}

/** A ULID-shaped id; `n` orders them. */
function oid(n: number): string {
  return `01J0000000000000000000${String(n).padStart(4, "0")}`;
}

function sendItem(n: number, conversationId: string, text = `queued ${n}`): OutboxItem {
  return {
    id: oid(n),
    conversationId,
    op: { kind: "send", text, replyToSeq: 0 },
    createdAt: T0 + n,
    status: "pending",
    attempts: 0,
  };
}

const sortById = (cs: readonly Conversation[]) =>
  [...cs].sort((a, b) =>
    a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0,
  );

const ALL: MessageQuery = { limit: Number.MAX_SAFE_INTEGER, from: "oldest" };

const seqs = (messages: readonly Message[]) => messages.map((m) => m.seq);

/** Opens a handle, runs `body`, closes the handle (also when `body` fails). */
async function session<T>(harness: ClientStoreHarness, body: (store: ClientStore) => Promise<T>): Promise<T> {
  const store = await harness.open();
  let result: T;
  try {
    result = await body(store);
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  await store.close();
  return result;
}

function assertEmpty(state: StoredState, what: string): void {
  assertEqual(state.cursor, "", `${what}: cursor`);
  assertEqual(state.conversations.length, 0, `${what}: number of conversations`);
  assertEqual(state.outbox.length, 0, `${what}: number of outbox items`);
  assertEqual({ ...state.meta }, {}, `${what}: meta`);
}

// ---------------------------------------------------------------------------
// Cases

const cases: ClientStoreCase[] = [
  {
    name: "a new store loads empty and has no messages",
    async run(harness) {
      await session(harness, async (store) => {
        assertEmpty(await store.load(), "first load");
        assertEqual(seqs(await store.messages("c1", ALL)), [], "messages of an unknown conversation");
      });
    },
  },

  {
    name: "cursor, meta, conversations, outbox and messages round trip",
    async run(harness) {
      await session(harness, async (store) => {
        await store.write({
          cursor: "cursor-1",
          meta: { deviceId: "device-1", theme: "dark" },
          conversations: [conversation("c2"), conversation("c1")],
          messages: [message("c1", 1), message("c1", 2), message("c2", 1)],
        });
        // Outbox items written out of id order, in separate batches.
        await store.write({ outbox: [sendItem(3, "c1"), sendItem(1, "c1")] });
        await store.write({ outbox: [sendItem(2, "c2")] });

        const state = await store.load();
        assertEqual(state.cursor, "cursor-1", "cursor");
        assertEqual({ ...state.meta }, { deviceId: "device-1", theme: "dark" }, "meta");
        assertProtoListEqual(
          ConversationSchema,
          sortById(state.conversations),
          [conversation("c1"), conversation("c2")],
          "conversations (sorted by id)",
        );
        assertEqual(
          state.outbox.map((item) => item.id),
          [oid(1), oid(2), oid(3)],
          "outbox ids, which load() returns in id order",
        );
        assertEqual(state.outbox[0], sendItem(1, "c1"), "first outbox item");
        assertProtoListEqual(
          MessageSchema,
          await store.messages("c1", ALL),
          [message("c1", 1), message("c1", 2)],
          "messages of c1",
        );
        assertProtoListEqual(
          MessageSchema,
          await store.messages("c2", ALL),
          [message("c2", 1)],
          "messages of c2",
        );
      });
    },
  },

  {
    name: "every protobuf field survives a close and reopen (timestamps, uint64 attachment size, reactions, edit and delete state)",
    async run(harness) {
      const rich = message("c1", 7, {
        text: "héllo 👋 — multi-byte text",
        replyToSeq: 3,
        attachment: {
          url: "https://files.example/big.bin",
          contentType: "application/octet-stream",
          name: "big.bin",
          sizeBytes: 9_007_199_254_740_993n, // 2^53 + 1: not representable as a JS number
        },
        editedAt: at(8_000),
        reactions: [
          { emoji: "👍", userIds: ["alice", "bob"] },
          { emoji: "🎉", userIds: ["carol"] },
        ],
      });
      const deleted = message("c1", 8, {
        text: "",
        deletedAt: timestampFromMs(T0 + 9_000.5),
        editedAt: at(8_500),
      });
      const conv = conversation("c1", {
        title: "Team ✨",
        members: [
          { userId: "alice", role: MemberRole.OWNER, deliveredSeq: 8, readSeq: 7, joinedAt: at(0) },
          { userId: "bob", role: MemberRole.MEMBER, deliveredSeq: 8, readSeq: 8, joinedAt: at(10) },
        ],
        lastSeq: 8,
        lastMessage: deleted,
        myReadSeq: 7,
        unreadCount: 1,
      });
      const direct = conversation("d1", { kind: ConversationKind.DIRECT, title: "" });
      const outbox: OutboxItem[] = [
        {
          id: oid(1),
          conversationId: "c1",
          op: {
            kind: "send",
            text: "with a file",
            replyToSeq: 7,
            attachment: {
              url: "s3://bucket/key",
              contentType: "image/png",
              name: "cat.png",
              sizeBytes: 1234,
            },
          },
          createdAt: T0 + 1,
          status: "failed",
          attempts: 3,
          failure: { reason: "NOT_A_MEMBER", message: "unable to send; not a member" },
        },
        {
          id: oid(2),
          conversationId: "c1",
          op: { kind: "edit", target: { clientMsgId: oid(1) }, text: "edited" },
          createdAt: T0 + 2,
          status: "pending",
          attempts: 0,
        },
        {
          id: oid(3),
          conversationId: "c1",
          op: { kind: "delete", target: { seq: 7 } },
          createdAt: T0 + 3,
          status: "pending",
          attempts: 1,
        },
        {
          id: oid(4),
          conversationId: "c1",
          op: { kind: "react", target: { seq: 7 }, emoji: "👍", add: false },
          createdAt: T0 + 4,
          status: "pending",
          attempts: 0,
        },
        {
          id: oid(5),
          conversationId: "c1",
          op: { kind: "markRead", seq: 8 },
          createdAt: T0 + 5,
          status: "pending",
          attempts: 0,
        },
      ];

      await session(harness, (store) =>
        store.write({ conversations: [conv, direct], messages: [rich, deleted], outbox }),
      );
      await session(harness, async (store) => {
        const state = await store.load();
        const byId = new Map(state.conversations.map((c) => [c.conversationId, c]));
        assertProtoEqual(ConversationSchema, byId.get("c1"), conv, "group conversation with members");
        assertProtoEqual(ConversationSchema, byId.get("d1"), direct, "direct conversation");
        const [readRich, readDeleted] = await store.messages("c1", ALL);
        assertProtoEqual(MessageSchema, readRich, rich, "message with attachment, reactions, edit");
        assertProtoEqual(MessageSchema, readDeleted, deleted, "deleted message");
        assertEqual(readRich?.attachment?.sizeBytes, 9_007_199_254_740_993n, "uint64 size_bytes");
        assertEqual(state.outbox, outbox, "outbox items of every kind");
      });
    },
  },

  {
    name: "a put replaces what was stored under the same key",
    async run(harness) {
      await session(harness, async (store) => {
        await store.write({
          cursor: "cursor-1",
          meta: { deviceId: "device-1", other: "kept" },
          conversations: [conversation("c1"), conversation("c2")],
          messages: [message("c1", 1), message("c1", 2)],
          outbox: [sendItem(1, "c1"), sendItem(2, "c1")],
        });
        const failed: OutboxItem = {
          ...sendItem(1, "c1"),
          status: "failed",
          attempts: 2,
          failure: { reason: "TEXT_TOO_LONG", message: "unable to send; text too long" },
        };
        await store.write({
          cursor: "cursor-2",
          meta: { deviceId: "device-2" },
          conversations: [conversation("c1", { title: "Renamed", lastSeq: 2 })],
          messages: [message("c1", 2, { text: "edited", editedAt: at(5_000) })],
          outbox: [failed],
        });
        const state = await store.load();
        assertEqual(state.cursor, "cursor-2", "cursor after the second write");
        assertEqual(
          { ...state.meta },
          { deviceId: "device-2", other: "kept" },
          "meta after the second write",
        );
        assertProtoListEqual(
          ConversationSchema,
          sortById(state.conversations),
          [conversation("c1", { title: "Renamed", lastSeq: 2 }), conversation("c2")],
          "conversations after the second write",
        );
        assertEqual(state.outbox, [failed, sendItem(2, "c1")], "outbox after the second write");
        assertProtoListEqual(
          MessageSchema,
          await store.messages("c1", ALL),
          [message("c1", 1), message("c1", 2, { text: "edited", editedAt: at(5_000) })],
          "messages after the second write",
        );
      });
    },
  },

  {
    name: "message queries take the limit from the asked end, respect inclusive seq bounds and return ascending seqs",
    async run(harness) {
      await session(harness, async (store) => {
        // Written out of order and in two batches; c2 and c10 must not mix with c1.
        await store.write({
          messages: [6, 2, 9, 1, 10, 4].map((seq) => message("c1", seq)),
        });
        await store.write({
          messages: [...[3, 5, 7, 8].map((seq) => message("c1", seq)), message("c2", 1), message("c2", 11)],
        });
        await store.write({ messages: [message("c10", 4)] });
        await store.write({ messages: [20, 25].map((seq) => message("c1", seq)) });

        const q = async (query: MessageQuery, conversationId = "c1") =>
          seqs(await store.messages(conversationId, query));
        assertEqual(await q({ limit: 3, from: "newest" }), [10, 20, 25], "newest 3");
        assertEqual(await q({ limit: 3, from: "oldest" }), [1, 2, 3], "oldest 3");
        assertEqual(
          await q({ limit: 100, from: "oldest" }),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 25],
          "all, limit above the count",
        );
        assertEqual(await q({ minSeq: 4, maxSeq: 6, limit: 10, from: "newest" }), [4, 5, 6], "seqs 4..6");
        assertEqual(
          await q({ minSeq: 4, maxSeq: 6, limit: 10, from: "oldest" }),
          [4, 5, 6],
          "seqs 4..6 oldest",
        );
        assertEqual(await q({ minSeq: 4, limit: 2, from: "oldest" }), [4, 5], "oldest 2 from seq 4");
        assertEqual(await q({ maxSeq: 6, limit: 2, from: "newest" }), [5, 6], "newest 2 up to seq 6");
        assertEqual(await q({ minSeq: 9, limit: 3, from: "oldest" }), [9, 10, 20], "oldest 3 from seq 9");
        assertEqual(
          await q({ minSeq: 11, maxSeq: 24, limit: 5, from: "newest" }),
          [20],
          "a range across a gap",
        );
        assertEqual(
          await q({ minSeq: 11, maxSeq: 19, limit: 5, from: "newest" }),
          [],
          "a range inside a gap",
        );
        assertEqual(await q({ minSeq: 26, limit: 5, from: "oldest" }), [], "a range above the newest");
        assertEqual(await q({ minSeq: 6, maxSeq: 5, limit: 5, from: "oldest" }), [], "minSeq above maxSeq");
        assertEqual(await q({ limit: 0, from: "newest" }), [], "limit 0");
        assertEqual(await q({ minSeq: 7, maxSeq: 7, limit: 1, from: "newest" }), [7], "a single seq");
        assertEqual(await q({ limit: 10, from: "oldest" }, "c2"), [1, 11], "c2 alone");
        assertEqual(await q({ limit: 10, from: "newest" }, "c10"), [4], "c10 alone");
        assertEqual(
          await q({ limit: 10, from: "newest" }, "c"),
          [],
          "a prefix of ids is another conversation",
        );
        const [m] = await store.messages("c1", { minSeq: 20, maxSeq: 20, limit: 1, from: "oldest" });
        assertProtoEqual(MessageSchema, m, message("c1", 20), "the message at seq 20");
      });
    },
  },

  {
    name: "deleteConversations removes the conversations and their messages, and nothing else",
    async run(harness) {
      await session(harness, async (store) => {
        await store.write({
          cursor: "cursor-1",
          conversations: [conversation("c1"), conversation("c2"), conversation("c3")],
          messages: [message("c1", 1), message("c1", 2), message("c2", 1), message("c3", 1)],
          outbox: [sendItem(1, "c1")],
          meta: { deviceId: "device-1" },
        });
        await store.write({ deleteConversations: ["c1", "c3", "never-stored"] });
      });
      await session(harness, async (store) => {
        const state = await store.load();
        assertEqual(
          state.conversations.map((c) => c.conversationId),
          ["c2"],
          "conversations left after deleting c1 and c3",
        );
        assertEqual(seqs(await store.messages("c1", ALL)), [], "messages of deleted c1");
        assertEqual(seqs(await store.messages("c3", ALL)), [], "messages of deleted c3");
        assertEqual(seqs(await store.messages("c2", ALL)), [1], "messages of c2");
        assertEqual(state.cursor, "cursor-1", "cursor");
        assertEqual(state.outbox, [sendItem(1, "c1")], "outbox (kept even for a deleted conversation)");
        assertEqual({ ...state.meta }, { deviceId: "device-1" }, "meta");
      });
    },
  },

  {
    name: "reset clears the cursor, conversations and messages, keeps the outbox and meta, and applies before the rest of its batch",
    async run(harness) {
      await session(harness, async (store) => {
        await store.write({
          cursor: "old-cursor",
          conversations: [conversation("c1"), conversation("c2")],
          messages: [message("c1", 1), message("c2", 1), message("c2", 2)],
          outbox: [sendItem(1, "c1"), sendItem(2, "c2")],
          meta: { deviceId: "device-1" },
        });
        await store.write({ reset: true });
        const cleared = await store.load();
        assertEqual(cleared.cursor, "", "cursor after reset");
        assertEqual(cleared.conversations.length, 0, "number of conversations after reset");
        assertEqual(seqs(await store.messages("c1", ALL)), [], "messages of c1 after reset");
        assertEqual(seqs(await store.messages("c2", ALL)), [], "messages of c2 after reset");
        assertEqual(cleared.outbox, [sendItem(1, "c1"), sendItem(2, "c2")], "outbox after reset");
        assertEqual({ ...cleared.meta }, { deviceId: "device-1" }, "meta after reset");

        await store.write({ messages: [message("c1", 5)], conversations: [conversation("c1")] });
        await store.write({
          reset: true,
          cursor: "snapshot-cursor",
          conversations: [conversation("c3")],
          messages: [message("c3", 4), message("c3", 5)],
          meta: { snapshotAt: "1" },
        });
      });
      await session(harness, async (store) => {
        const state = await store.load();
        assertEqual(state.cursor, "snapshot-cursor", "cursor set in the reset batch");
        assertEqual(
          state.conversations.map((c) => c.conversationId),
          ["c3"],
          "conversations after a reset batch that puts c3",
        );
        assertEqual(seqs(await store.messages("c3", ALL)), [4, 5], "messages put in the reset batch");
        assertEqual(seqs(await store.messages("c1", ALL)), [], "messages from before the reset");
        assertEqual(state.outbox.length, 2, "outbox items after both resets");
        assertEqual({ ...state.meta }, { deviceId: "device-1", snapshotAt: "1" }, "meta after both resets");
      });
    },
  },

  {
    name: "deleteOutbox removes only the named items",
    async run(harness) {
      await session(harness, async (store) => {
        await store.write({ outbox: [1, 2, 3, 4].map((n) => sendItem(n, "c1")) });
        await store.write({ deleteOutbox: [oid(2), oid(4), oid(99)] });
        assertEqual(
          (await store.load()).outbox.map((item) => item.id),
          [oid(1), oid(3)],
          "outbox ids after deleting 2, 4 and an unknown id",
        );
        // An acknowledged send: the outbox item goes and the message arrives in one batch.
        await store.write({ deleteOutbox: [oid(1)], messages: [message("c1", 1, { clientMsgId: oid(1) })] });
      });
      await session(harness, async (store) => {
        assertEqual(
          (await store.load()).outbox.map((item) => item.id),
          [oid(3)],
          "outbox ids after reopening",
        );
        const [sent] = await store.messages("c1", ALL);
        assertEqual(sent?.clientMsgId, oid(1), "client id of the acknowledged message");
      });
    },
  },

  {
    name: "everything written is still there after the handle is closed and a new one opened",
    async run(harness) {
      await session(harness, async (store) => {
        await store.write({ cursor: "cursor-1", meta: { deviceId: "device-1" } });
        await store.write({ conversations: [conversation("c1")], messages: [message("c1", 1)] });
        await store.write({ outbox: [sendItem(1, "c1"), sendItem(2, "c1")] });
        await store.write({ cursor: "cursor-2", messages: [message("c1", 2)], deleteOutbox: [oid(1)] });
      });
      await session(harness, async (store) => {
        const state = await store.load();
        assertEqual(state.cursor, "cursor-2", "cursor after reopening");
        assertEqual({ ...state.meta }, { deviceId: "device-1" }, "meta after reopening");
        assertProtoListEqual(ConversationSchema, state.conversations, [conversation("c1")], "conversations");
        assertEqual(state.outbox, [sendItem(2, "c1")], "outbox after reopening");
        assertProtoListEqual(
          MessageSchema,
          await store.messages("c1", ALL),
          [message("c1", 1), message("c1", 2)],
          "messages after reopening",
        );
        await store.write({ cursor: "cursor-3" });
      });
      await session(harness, async (store) => {
        assertEqual((await store.load()).cursor, "cursor-3", "cursor written by the second handle");
      });
    },
  },

  {
    name: "a closed handle rejects further calls and the data stays for the next handle",
    async run(harness) {
      const store = await harness.open();
      await store.write({ cursor: "cursor-1", messages: [message("c1", 1)] });
      await store.close();
      await assertRejects(store.load(), "load() on a closed handle");
      await assertRejects(store.write({ cursor: "cursor-2" }), "write() on a closed handle");
      await assertRejects(store.messages("c1", ALL), "messages() on a closed handle");
      await session(harness, async (next) => {
        assertEqual((await next.load()).cursor, "cursor-1", "cursor seen by the next handle");
        assertEqual(seqs(await next.messages("c1", ALL)), [1], "messages seen by the next handle");
      });
    },
  },

  {
    name: "values are copied in and out: mutating what was written or read changes nothing stored",
    async run(harness) {
      await session(harness, async (store) => {
        const conv = conversation("c1", { members: [{ userId: "alice", role: MemberRole.OWNER }] });
        const msg = message("c1", 1, { reactions: [{ emoji: "👍", userIds: ["bob"] }] });
        const item = sendItem(1, "c1");
        const meta: Record<string, string> = { deviceId: "device-1" };
        const batch = { conversations: [conv], messages: [msg], outbox: [item], meta };
        await store.write(batch);

        // Mutate what was written.
        conv.title = "mutated";
        conv.members.push(create(MemberSchema, { userId: "mallory" }));
        msg.text = "mutated";
        msg.reactions[0]?.userIds.push("mallory");
        (item as { status: string }).status = "failed";
        (item.op as { text: string }).text = "mutated";
        meta.deviceId = "mutated";
        batch.messages.push(message("c1", 2));

        // Mutate what was read.
        const first = await store.load();
        (first.conversations[0] as Conversation).title = "mutated again";
        (first.outbox[0] as { attempts: number }).attempts = 42;
        (first.meta as Record<string, string>).deviceId = "mutated again";
        (first.conversations as Conversation[]).length = 0;
        const [read] = await store.messages("c1", ALL);
        if (read) {
          read.text = "mutated again";
          read.reactions.length = 0;
        }

        const state = await store.load();
        assertProtoListEqual(
          ConversationSchema,
          state.conversations,
          [conversation("c1", { members: [{ userId: "alice", role: MemberRole.OWNER }] })],
          "conversations",
        );
        assertEqual(state.outbox, [sendItem(1, "c1")], "outbox");
        assertEqual({ ...state.meta }, { deviceId: "device-1" }, "meta");
        assertProtoListEqual(
          MessageSchema,
          await store.messages("c1", ALL),
          [message("c1", 1, { reactions: [{ emoji: "👍", userIds: ["bob"] }] })],
          "messages",
        );
      });
    },
  },

  {
    name: "a batch with many puts is applied whole",
    async run(harness) {
      const conversations = Array.from({ length: 20 }, (_, i) => conversation(`c${i}`));
      const messages = conversations.flatMap((c) =>
        Array.from({ length: 50 }, (_, i) => message(c.conversationId, i + 1, { text: "x".repeat(200) })),
      );
      const outbox = Array.from({ length: 100 }, (_, i) => sendItem(i + 1, `c${i % 20}`));
      await session(harness, (store) =>
        store.write({
          reset: true,
          cursor: "snapshot",
          conversations,
          messages,
          outbox,
          meta: { a: "1", b: "2" },
        }),
      );
      await session(harness, async (store) => {
        const state = await store.load();
        assertEqual(state.cursor, "snapshot", "cursor");
        assertEqual(state.conversations.length, 20, "number of conversations");
        assertEqual(state.outbox.length, 100, "number of outbox items");
        assertEqual({ ...state.meta }, { a: "1", b: "2" }, "meta");
        for (const c of conversations) {
          const stored = await store.messages(c.conversationId, ALL);
          assertEqual(stored.length, 50, `number of messages of ${c.conversationId}`);
        }
        const newest = await store.messages("c19", { limit: 1, from: "newest" });
        assertProtoListEqual(
          MessageSchema,
          newest,
          [message("c19", 50, { text: "x".repeat(200) })],
          "newest of c19",
        );
      });
    },
  },

  {
    name: "a batch that cannot be stored is rejected and changes nothing",
    async run(harness) {
      await session(harness, async (store) => {
        await store.write({
          cursor: "cursor-1",
          conversations: [conversation("c1")],
          messages: [message("c1", 1)],
        });
        // A message without a conversation or a seq has no key: the whole batch must fail.
        const keyless = create(MessageSchema, { text: "no key" });
        await assertRejects(
          store.write({
            cursor: "cursor-2",
            reset: true,
            conversations: [conversation("c2")],
            messages: [message("c2", 1), keyless],
            outbox: [sendItem(1, "c2")],
            meta: { deviceId: "device-2" },
          }),
          "write() of a batch holding a message with no conversation_id and seq 0",
        );
        const state = await store.load();
        assertEqual(state.cursor, "cursor-1", "cursor after the rejected batch");
        assertEqual(
          state.conversations.map((c) => c.conversationId),
          ["c1"],
          "conversations after the rejected batch",
        );
        assertEqual(seqs(await store.messages("c1", ALL)), [1], "messages of c1 after the rejected batch");
        assertEqual(seqs(await store.messages("c2", ALL)), [], "messages of c2 after the rejected batch");
        assertEqual(state.outbox.length, 0, "outbox after the rejected batch");
        assertEqual({ ...state.meta }, {}, "meta after the rejected batch");
        // The handle still works.
        await store.write({ cursor: "cursor-3" });
      });
      await session(harness, async (store) => {
        assertEqual((await store.load()).cursor, "cursor-3", "cursor after reopening");
      });
    },
  },

  {
    name: "writes issued without waiting apply in call order and all land",
    async run(harness) {
      await session(harness, async (store) => {
        const writes: Promise<void>[] = [];
        for (let i = 1; i <= 30; i++) {
          writes.push(
            store.write({
              cursor: `cursor-${i}`,
              messages: [message("c1", i)],
              meta: { last: String(i) },
              outbox: [sendItem(i, "c1")],
              deleteOutbox: i > 1 ? [oid(i - 1)] : [],
            }),
          );
        }
        await Promise.all(writes);
      });
      await session(harness, async (store) => {
        const state = await store.load();
        assertEqual(state.cursor, "cursor-30", "cursor after 30 concurrent writes");
        assertEqual({ ...state.meta }, { last: "30" }, "meta after 30 concurrent writes");
        assertEqual(
          state.outbox.map((item) => item.id),
          [oid(30)],
          "outbox after 30 concurrent writes",
        );
        assertEqual(seqs(await store.messages("c1", ALL)).length, 30, "number of messages");
      });
    },
  },

  {
    name: "two handles open at once see each other's writes, and closing one leaves the other working",
    needs: "sharedHandles",
    async run(harness) {
      const a = await harness.open();
      const b = await harness.open();
      try {
        await a.write({ cursor: "from-a", conversations: [conversation("c1")], outbox: [sendItem(1, "c1")] });
        const seenByB = await b.load();
        assertEqual(seenByB.cursor, "from-a", "cursor written by a, read by b");
        assertEqual(
          seenByB.outbox.map((item) => item.id),
          [oid(1)],
          "outbox written by a, read by b",
        );
        await b.write({ messages: [message("c1", 1), message("c1", 2)], outbox: [sendItem(2, "c1")] });
        assertEqual(seqs(await a.messages("c1", ALL)), [1, 2], "messages written by b, read by a");
        assertEqual(
          (await a.load()).outbox.map((item) => item.id),
          [oid(1), oid(2)],
          "outbox written by both, read by a",
        );
        await a.close();
        await b.write({ cursor: "from-b" });
        assertEqual((await b.load()).cursor, "from-b", "b after a was closed");
      } finally {
        await a.close().catch(() => {});
        await b.close().catch(() => {});
      }
    },
  },
];

/**
 * The conformance cases every {@link ClientStore} implementation must pass. They
 * import no test runner, so a wrapper is a loop:
 *
 * @example
 * ```ts
 * import { clientStoreCasesFor } from "@parley/client/testing";
 * for (const c of clientStoreCasesFor({ sharedHandles: true })) {
 *   it(c.name, () => c.run({ open: async () => createMemoryClientStore({ storage }) }));
 * }
 * ```
 */
export const clientStoreCases: readonly ClientStoreCase[] = Object.freeze(cases);

/**
 * The cases that apply to a store with the given features: those with no
 * `needs`, plus those whose `needs` is among `features`.
 */
export function clientStoreCasesFor(
  features: Partial<Record<ClientStoreFeature, boolean>> = {},
): readonly ClientStoreCase[] {
  return clientStoreCases.filter((c) => c.needs === undefined || features[c.needs] === true);
}

/**
 * Runs one case by name (e.g. from a browser page driven by Playwright).
 * Rejects when the case fails or when no case has that name.
 */
export async function runClientStoreCase(name: string, harness: ClientStoreHarness): Promise<void> {
  const found = clientStoreCases.find((c) => c.name === name);
  if (!found) throw new Error(`unable to run the client store case; no case is named "${name}"`);
  await found.run(harness);
}
