import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type {
  ConversationState,
  ConversationWrite,
  DedupEntry,
  HistoryQuery,
  HistoryStore,
  MemberState,
  NewUserEvent,
  UserEvent,
} from "@parley/history";
import { ConversationKind, MemberRole, type Message, MessageSchema } from "@parley/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

/** A history store to test, and how to reopen and dispose of it. */
export interface HistoryStoreUnderTest {
  store: HistoryStore;
  /**
   * Closes the current store and opens the same data again, to prove that what was
   * written is durable. Omit it for stores that cannot be reopened (in-memory ones);
   * the durability tests are then skipped.
   */
  reopen?: () => Promise<HistoryStore>;
  /** Closes the newest store (the factory's or the last reopened one) and removes its data. */
  cleanup: () => Promise<void>;
}

/** Creation time of message 1 in the fixtures; message `n` is created `n` seconds later. */
const BASE_MS = 1_700_000_000_000;

/** Creation time of the fixture message with `seq`. */
function createdMs(seq: number): number {
  return BASE_MS + seq * 1000;
}

/** A fresh id that no other test (or earlier run against a shared database) uses. */
function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

/** A plain text message created at {@link createdMs}(seq) unless overridden. */
function message(
  conversationId: string,
  seq: number,
  init: Partial<Omit<Message, "$typeName">> = {},
): Message {
  return create(MessageSchema, {
    conversationId,
    seq,
    messageId: `${conversationId}:m${seq}`,
    senderId: "sender",
    clientMsgId: `${conversationId}:c${seq}`,
    text: `message ${seq}`,
    createdAt: timestampFromMs(createdMs(seq)),
    ...init,
  });
}

function member(userId: string, overrides: Partial<MemberState> = {}): MemberState {
  return { userId, role: MemberRole.MEMBER, deliveredSeq: 0, readSeq: 0, joinedAtMs: BASE_MS, ...overrides };
}

function conversation(
  conversationId: string,
  memberIds: string[],
  overrides: Partial<ConversationState> = {},
): ConversationState {
  return {
    conversationId,
    kind: ConversationKind.GROUP,
    title: "fixture",
    createdBy: memberIds[0] ?? "nobody",
    createdAtMs: BASE_MS,
    updatedAtMs: BASE_MS,
    lastSeq: 0,
    members: memberIds.map((userId) => member(userId)),
    ...overrides,
  };
}

/** A write of `state` with `messages`, adding every member to their conversation lists. */
function write(
  state: ConversationState,
  messages: Message[] = [],
  overrides: Partial<ConversationWrite> = {},
): ConversationWrite {
  return {
    conversation: state,
    messages,
    addedUserIds: state.members.map((m) => m.userId),
    removedUserIds: [],
    ...overrides,
  };
}

function seqs(messages: Message[]): number[] {
  return messages.map((m) => m.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Events with payloads as plain arrays, so a Buffer and a Uint8Array compare equal. */
function plain(events: (UserEvent | NewUserEvent)[]) {
  return events.map((e) => ({ ...e, payload: Array.from(e.payload) }));
}

function newEvent(eventId: string, timeMs = BASE_MS): NewUserEvent {
  return { eventId, payload: new TextEncoder().encode(`payload of ${eventId}`), timeMs };
}

function sorted(ids: string[]): string[] {
  return [...ids].sort();
}

/**
 * The conformance suite for {@link HistoryStore} implementations. `factory` is
 * called before each test and must return a ready store; ids are unique per test,
 * so the store may be shared with other tests and runs (e.g. one Cassandra
 * keyspace). Retention (pruning of user events) is implementation-specific and not
 * covered here.
 *
 * @example
 * describeHistoryStore("sqlite", async () => {
 *   const store = createSqliteHistoryStore({ path: ":memory:" });
 *   return { store, cleanup: () => store.close() };
 * });
 */
/** What the store under test can do, known when the suite is registered. */
export interface HistoryStoreFeatures {
  /** The store keeps data across close and reopen (`reopen` is given); durability tests run only then. */
  durable: boolean;
}

export function describeHistoryStore(
  name: string,
  factory: () => Promise<HistoryStoreUnderTest>,
  features: HistoryStoreFeatures = { durable: true },
): void {
  describe(`HistoryStore conformance: ${name}`, () => {
    let subject: HistoryStoreUnderTest;
    let store: HistoryStore;

    beforeEach(async () => {
      subject = await factory();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    /** Reopens the store, or skips the test when the implementation cannot. */
    async function reopen(): Promise<void> {
      if (!subject.reopen) throw new Error(`${name} declared durable but its factory gave no reopen()`);
      store = await subject.reopen();
    }

    describe("conversations", () => {
      it("reads nothing for unknown conversations and users", async () => {
        const conversationId = uniqueId("conv");
        expect(await store.getConversation(conversationId)).toBeUndefined();
        expect(await store.listUserConversations(uniqueId("user"))).toEqual([]);
        expect(await store.getMessage(conversationId, 1)).toBeUndefined();
        expect(await store.getMessages(conversationId, { kind: "latest", limit: 10 })).toEqual([]);
        expect(await store.getDedup(conversationId, uniqueId("client"))).toBeUndefined();
      });

      it("reads back committed state, members and receipts exactly", async () => {
        const [alice, bob, carol] = [uniqueId("alice"), uniqueId("bob"), uniqueId("carol")];
        const state = conversation(uniqueId("conv"), [], {
          kind: ConversationKind.GROUP,
          title: "Launch 🚀 planning",
          createdBy: alice,
          createdAtMs: BASE_MS + 1,
          updatedAtMs: BASE_MS + 99,
          lastSeq: 3,
          members: [
            member(alice, { role: MemberRole.OWNER, deliveredSeq: 3, readSeq: 3, joinedAtMs: BASE_MS + 1 }),
            member(bob, { role: MemberRole.ADMIN, deliveredSeq: 3, readSeq: 1, joinedAtMs: BASE_MS + 2 }),
            member(carol, { role: MemberRole.MEMBER, deliveredSeq: 2, readSeq: 0, joinedAtMs: BASE_MS + 3 }),
          ],
        });
        const messages = range(1, 3).map((seq) => message(state.conversationId, seq));
        await store.commit(write(state, messages));

        expect(await store.getConversation(state.conversationId)).toEqual(state);
        for (const userId of [alice, bob, carol]) {
          expect(await store.listUserConversations(userId)).toEqual([state.conversationId]);
        }
        expect(await store.getMessages(state.conversationId, { kind: "latest", limit: 10 })).toEqual(
          messages,
        );
      });

      it("stores a direct conversation with an empty title", async () => {
        const state = conversation(uniqueId("conv"), [uniqueId("a"), uniqueId("b")], {
          kind: ConversationKind.DIRECT,
          title: "",
        });
        await store.commit(write(state));
        expect(await store.getConversation(state.conversationId)).toEqual(state);
      });

      it("replaces the state on each commit", async () => {
        const [alice, bob, carol] = [uniqueId("alice"), uniqueId("bob"), uniqueId("carol")];
        const first = conversation(uniqueId("conv"), [alice, bob]);
        await store.commit(write(first, [message(first.conversationId, 1)]));

        const second = conversation(first.conversationId, [], {
          title: "renamed",
          updatedAtMs: BASE_MS + 5000,
          lastSeq: 2,
          members: [
            member(alice, { role: MemberRole.OWNER, deliveredSeq: 2, readSeq: 2 }),
            member(carol, { joinedAtMs: BASE_MS + 4000 }),
          ],
        });
        await store.commit(
          write(second, [message(first.conversationId, 2)], { addedUserIds: [carol], removedUserIds: [bob] }),
        );

        expect(await store.getConversation(first.conversationId)).toEqual(second);
        expect(seqs(await store.getMessages(first.conversationId, { kind: "latest", limit: 10 }))).toEqual([
          1, 2,
        ]);
      });

      it("updates a message in place by seq", async () => {
        const state = conversation(uniqueId("conv"), [uniqueId("alice")], { lastSeq: 2 });
        const id = state.conversationId;
        await store.commit(write(state, [message(id, 1), message(id, 2)]));

        const edited = message(id, 1, { text: "edited", editedAt: timestampFromMs(BASE_MS + 60_000) });
        await store.commit(write(state, [edited], { addedUserIds: [] }));

        expect(await store.getMessage(id, 1)).toEqual(edited);
        const page = await store.getMessages(id, { kind: "latest", limit: 10 });
        expect(page).toEqual([edited, message(id, 2)]);
      });

      it("lists each user's conversations as users are added and removed", async () => {
        const [alice, bob, carol] = [uniqueId("alice"), uniqueId("bob"), uniqueId("carol")];
        const one = conversation(uniqueId("one"), [alice, bob]);
        const two = conversation(uniqueId("two"), [alice]);
        await store.commit(write(one));
        await store.commit(write(two));

        expect(sorted(await store.listUserConversations(alice))).toEqual(
          sorted([one.conversationId, two.conversationId]),
        );
        expect(await store.listUserConversations(bob)).toEqual([one.conversationId]);
        expect(await store.listUserConversations(carol)).toEqual([]);

        const oneLater = conversation(one.conversationId, [alice, carol]);
        await store.commit(write(oneLater, [], { addedUserIds: [carol], removedUserIds: [bob] }));
        expect(await store.listUserConversations(bob)).toEqual([]);
        expect(await store.listUserConversations(carol)).toEqual([one.conversationId]);

        // Adding a listed user again and removing an unlisted one change nothing.
        await store.commit(write(oneLater, [], { addedUserIds: [alice, carol], removedUserIds: [bob] }));
        expect(sorted(await store.listUserConversations(alice))).toEqual(
          sorted([one.conversationId, two.conversationId]),
        );
        expect(await store.listUserConversations(carol)).toEqual([one.conversationId]);
        expect(await store.listUserConversations(bob)).toEqual([]);

        await store.commit(write(conversation(two.conversationId, []), [], { removedUserIds: [alice] }));
        expect(await store.listUserConversations(alice)).toEqual([one.conversationId]);
      });
    });

    describe("dedup", () => {
      it("round-trips an entry's bytes exactly", async () => {
        const state = conversation(uniqueId("conv"), [uniqueId("alice")]);
        const dedup: DedupEntry = {
          clientId: uniqueId("client"),
          result: new Uint8Array([0, 1, 2, 127, 128, 254, 255, 0]),
          createdAtMs: BASE_MS + 42,
        };
        await store.commit(write(state, [], { dedup }));

        const read = await store.getDedup(state.conversationId, dedup.clientId);
        expect(read && { ...read, result: Array.from(read.result) }).toEqual({
          ...dedup,
          result: Array.from(dedup.result),
        });
        expect(await store.getDedup(state.conversationId, uniqueId("client"))).toBeUndefined();
      });

      it("keeps entries per conversation", async () => {
        const clientId = uniqueId("client");
        const one = conversation(uniqueId("one"), [uniqueId("alice")]);
        const two = conversation(uniqueId("two"), [uniqueId("bob")]);
        const three = conversation(uniqueId("three"), [uniqueId("carol")]);
        await store.commit(
          write(one, [], { dedup: { clientId, result: new Uint8Array([1]), createdAtMs: 1 } }),
        );
        await store.commit(
          write(two, [], { dedup: { clientId, result: new Uint8Array([2]), createdAtMs: 2 } }),
        );
        await store.commit(write(three));

        const fromOne = await store.getDedup(one.conversationId, clientId);
        const fromTwo = await store.getDedup(two.conversationId, clientId);
        expect(fromOne && Array.from(fromOne.result)).toEqual([1]);
        expect(fromTwo && Array.from(fromTwo.result)).toEqual([2]);
        expect(await store.getDedup(three.conversationId, clientId)).toBeUndefined();
      });
    });

    describe("messages", () => {
      it("gets one message by seq", async () => {
        const state = conversation(uniqueId("conv"), [uniqueId("alice")], { lastSeq: 3 });
        const other = conversation(uniqueId("other"), [uniqueId("bob")], { lastSeq: 1 });
        const messages = range(1, 3).map((seq) => message(state.conversationId, seq));
        await store.commit(write(state, messages));
        await store.commit(write(other, [message(other.conversationId, 1)]));

        expect(await store.getMessage(state.conversationId, 2)).toEqual(messages[1]);
        expect(await store.getMessage(state.conversationId, 4)).toBeUndefined();
        expect(await store.getMessage(other.conversationId, 2)).toBeUndefined();
        expect(await store.getMessage(other.conversationId, 1)).toEqual(message(other.conversationId, 1));
      });

      it("keeps every protobuf field", async () => {
        const state = conversation(uniqueId("conv"), [uniqueId("alice"), uniqueId("bob")], { lastSeq: 2 });
        const id = state.conversationId;
        const full = message(id, 1, {
          messageId: uniqueId("msg"),
          senderId: "alice",
          clientMsgId: uniqueId("client"),
          text: "héllo, wörld ✨\nsecond line",
          replyToSeq: 0,
          attachment: {
            $typeName: "parley.v1.Attachment",
            url: "https://files.example/a.png",
            contentType: "image/png",
            name: "a.png",
            sizeBytes: 123_456n,
          },
          editedAt: timestampFromMs(BASE_MS + 10_000),
          reactions: [
            { $typeName: "parley.v1.Reaction", emoji: "👍", userIds: ["alice", "bob"] },
            { $typeName: "parley.v1.Reaction", emoji: "🎉", userIds: ["bob"] },
          ],
        });
        const deleted = message(id, 2, {
          text: "",
          replyToSeq: 1,
          deletedAt: timestampFromMs(BASE_MS + 20_000),
        });
        await store.commit(write(state, [full, deleted]));

        expect(await store.getMessage(id, 1)).toEqual(full);
        expect(await store.getMessage(id, 2)).toEqual(deleted);
        expect(await store.getMessages(id, { kind: "after", seq: 0, limit: 10 })).toEqual([full, deleted]);
      });
    });

    describe("history queries", () => {
      /** A conversation with messages 1..10, message n created at createdMs(n); and a noisy neighbour. */
      async function tenMessages(): Promise<string> {
        const state = conversation(uniqueId("conv"), [uniqueId("alice")], { lastSeq: 10 });
        const neighbour = conversation(uniqueId("neighbour"), [uniqueId("bob")], { lastSeq: 20 });
        await store.commit(
          write(
            state,
            range(1, 10).map((seq) => message(state.conversationId, seq)),
          ),
        );
        await store.commit(
          write(
            neighbour,
            range(1, 20).map((seq) => message(neighbour.conversationId, seq)),
          ),
        );
        return state.conversationId;
      }

      async function page(conversationId: string, query: HistoryQuery): Promise<number[]> {
        const messages = await store.getMessages(conversationId, query);
        for (const m of messages) expect(m.conversationId).toBe(conversationId);
        return seqs(messages);
      }

      it("returns nothing for any query on a conversation without messages", async () => {
        const state = conversation(uniqueId("conv"), [uniqueId("alice")]);
        await store.commit(write(state));
        const queries: HistoryQuery[] = [
          { kind: "latest", limit: 10 },
          { kind: "before", seq: 5, limit: 10 },
          { kind: "after", seq: 0, limit: 10 },
          { kind: "beforeTime", timeMs: createdMs(100), limit: 10 },
          { kind: "afterTime", timeMs: 0, limit: 10 },
        ];
        for (const query of queries) expect(await page(state.conversationId, query)).toEqual([]);
      });

      it("latest: the newest `limit` messages, ascending", async () => {
        const id = await tenMessages();
        expect(await page(id, { kind: "latest", limit: 3 })).toEqual([8, 9, 10]);
        expect(await page(id, { kind: "latest", limit: 1 })).toEqual([10]);
        expect(await page(id, { kind: "latest", limit: 10 })).toEqual(range(1, 10));
        expect(await page(id, { kind: "latest", limit: 100 })).toEqual(range(1, 10));
        expect(await page(id, { kind: "latest", limit: 0 })).toEqual([]);
      });

      it("before seq: the `limit` messages just below seq, ascending", async () => {
        const id = await tenMessages();
        expect(await page(id, { kind: "before", seq: 5, limit: 2 })).toEqual([3, 4]);
        expect(await page(id, { kind: "before", seq: 5, limit: 10 })).toEqual([1, 2, 3, 4]);
        expect(await page(id, { kind: "before", seq: 2, limit: 10 })).toEqual([1]);
        expect(await page(id, { kind: "before", seq: 1, limit: 10 })).toEqual([]);
        expect(await page(id, { kind: "before", seq: 10, limit: 3 })).toEqual([7, 8, 9]);
        expect(await page(id, { kind: "before", seq: 11, limit: 3 })).toEqual([8, 9, 10]);
        expect(await page(id, { kind: "before", seq: 1000, limit: 100 })).toEqual(range(1, 10));
        expect(await page(id, { kind: "before", seq: 5, limit: 0 })).toEqual([]);
      });

      it("after seq: the `limit` messages from seq + 1, ascending", async () => {
        const id = await tenMessages();
        expect(await page(id, { kind: "after", seq: 0, limit: 3 })).toEqual([1, 2, 3]);
        expect(await page(id, { kind: "after", seq: 5, limit: 2 })).toEqual([6, 7]);
        expect(await page(id, { kind: "after", seq: 8, limit: 100 })).toEqual([9, 10]);
        expect(await page(id, { kind: "after", seq: 9, limit: 10 })).toEqual([10]);
        expect(await page(id, { kind: "after", seq: 10, limit: 10 })).toEqual([]);
        expect(await page(id, { kind: "after", seq: 1000, limit: 10 })).toEqual([]);
        expect(await page(id, { kind: "after", seq: 0, limit: 100 })).toEqual(range(1, 10));
        expect(await page(id, { kind: "after", seq: 0, limit: 0 })).toEqual([]);
      });

      it("beforeTime: the newest `limit` messages created strictly before the time, ascending", async () => {
        const id = await tenMessages();
        expect(await page(id, { kind: "beforeTime", timeMs: createdMs(5), limit: 2 })).toEqual([3, 4]);
        expect(await page(id, { kind: "beforeTime", timeMs: createdMs(5) + 1, limit: 2 })).toEqual([4, 5]);
        expect(await page(id, { kind: "beforeTime", timeMs: createdMs(5), limit: 100 })).toEqual([
          1, 2, 3, 4,
        ]);
        expect(await page(id, { kind: "beforeTime", timeMs: createdMs(1), limit: 10 })).toEqual([]);
        expect(await page(id, { kind: "beforeTime", timeMs: createdMs(1) + 1, limit: 10 })).toEqual([1]);
        expect(await page(id, { kind: "beforeTime", timeMs: createdMs(1000), limit: 3 })).toEqual([8, 9, 10]);
        expect(await page(id, { kind: "beforeTime", timeMs: createdMs(5), limit: 0 })).toEqual([]);
      });

      it("afterTime: the oldest `limit` messages created at or after the time, ascending", async () => {
        const id = await tenMessages();
        expect(await page(id, { kind: "afterTime", timeMs: createdMs(5), limit: 2 })).toEqual([5, 6]);
        expect(await page(id, { kind: "afterTime", timeMs: createdMs(5) + 1, limit: 2 })).toEqual([6, 7]);
        expect(await page(id, { kind: "afterTime", timeMs: createdMs(5) - 1, limit: 100 })).toEqual(
          range(5, 10),
        );
        expect(await page(id, { kind: "afterTime", timeMs: createdMs(10), limit: 10 })).toEqual([10]);
        expect(await page(id, { kind: "afterTime", timeMs: createdMs(10) + 1, limit: 10 })).toEqual([]);
        expect(await page(id, { kind: "afterTime", timeMs: 0, limit: 3 })).toEqual([1, 2, 3]);
        expect(await page(id, { kind: "afterTime", timeMs: createdMs(5), limit: 0 })).toEqual([]);
      });

      it("time queries order messages created in the same millisecond by seq", async () => {
        const state = conversation(uniqueId("conv"), [uniqueId("alice")], { lastSeq: 6 });
        const sameMs = createdMs(3);
        const messages = range(1, 6).map((seq) =>
          message(state.conversationId, seq, {
            createdAt: timestampFromMs(seq >= 3 && seq <= 5 ? sameMs : createdMs(seq)),
          }),
        );
        await store.commit(write(state, messages));
        const id = state.conversationId;
        expect(await page(id, { kind: "afterTime", timeMs: sameMs, limit: 2 })).toEqual([3, 4]);
        expect(await page(id, { kind: "afterTime", timeMs: sameMs, limit: 10 })).toEqual([3, 4, 5, 6]);
        expect(await page(id, { kind: "beforeTime", timeMs: sameMs + 1, limit: 2 })).toEqual([4, 5]);
        expect(await page(id, { kind: "beforeTime", timeMs: sameMs, limit: 10 })).toEqual([1, 2]);
      });

      it("pages through all history without gaps or repeats", async () => {
        const id = await tenMessages();
        const backwards: number[] = [];
        let oldest = (await page(id, { kind: "latest", limit: 3 })).reverse();
        while (oldest.length > 0) {
          backwards.push(...oldest);
          const last = oldest[oldest.length - 1] as number;
          oldest = (await page(id, { kind: "before", seq: last, limit: 3 })).reverse();
        }
        expect(backwards).toEqual(range(1, 10).reverse());

        const forwards: number[] = [];
        let next = await page(id, { kind: "after", seq: 0, limit: 4 });
        while (next.length > 0) {
          forwards.push(...next);
          next = await page(id, { kind: "after", seq: next[next.length - 1] as number, limit: 4 });
        }
        expect(forwards).toEqual(range(1, 10));
      });
    });

    describe("user events", () => {
      it("reads an empty stream for an unknown user", async () => {
        expect(await store.readUserEvents(uniqueId("user"), 0, 10)).toEqual({
          events: [],
          horizon: 0,
          last: 0,
        });
      });

      it("assigns contiguous positions from 1 across appends", async () => {
        const userId = uniqueId("user");
        const first = [newEvent("a", BASE_MS + 1), newEvent("b", BASE_MS + 2)];
        const onlyC = newEvent("c", BASE_MS + 3);
        const second = [onlyC];
        const third = [newEvent("d", BASE_MS + 4), newEvent("e", BASE_MS + 5), newEvent("f", BASE_MS + 6)];

        expect(plain(await store.appendUserEvents(userId, first))).toEqual(
          plain(first.map((e, i) => ({ ...e, position: i + 1 }))),
        );
        expect(plain(await store.appendUserEvents(userId, second))).toEqual(
          plain([{ ...onlyC, position: 3 }]),
        );
        expect((await store.appendUserEvents(userId, third)).map((e) => e.position)).toEqual([4, 5, 6]);
        expect(await store.appendUserEvents(userId, [])).toEqual([]);

        const read = await store.readUserEvents(userId, 0, 100);
        expect(plain(read.events)).toEqual(
          plain([...first, ...second, ...third].map((e, i) => ({ ...e, position: i + 1 }))),
        );
        expect(read.last).toBe(6);
        expect(read.horizon).toBe(0);
      });

      it("skips events whose id is already stored and does not return them", async () => {
        const userId = uniqueId("user");
        await store.appendUserEvents(userId, [newEvent("a"), newEvent("b")]);

        const appended = await store.appendUserEvents(userId, [newEvent("b"), newEvent("c"), newEvent("a")]);
        expect(appended.map((e) => [e.eventId, e.position])).toEqual([["c", 3]]);

        const withRepeat = await store.appendUserEvents(userId, [newEvent("d"), newEvent("d")]);
        expect(withRepeat.map((e) => [e.eventId, e.position])).toEqual([["d", 4]]);

        expect(await store.appendUserEvents(userId, [newEvent("a"), newEvent("d")])).toEqual([]);

        const read = await store.readUserEvents(userId, 0, 100);
        expect(read.events.map((e) => [e.eventId, e.position])).toEqual([
          ["a", 1],
          ["b", 2],
          ["c", 3],
          ["d", 4],
        ]);
        expect(read.last).toBe(4);
      });

      it("keeps payload bytes and times exactly", async () => {
        const userId = uniqueId("user");
        const event: NewUserEvent = {
          eventId: uniqueId("event"),
          payload: new Uint8Array([0, 255, 1, 254, 0, 0, 128]),
          timeMs: BASE_MS + 123,
        };
        await store.appendUserEvents(userId, [event]);
        const read = await store.readUserEvents(userId, 0, 10);
        expect(plain(read.events)).toEqual(plain([{ ...event, position: 1 }]));
      });

      it("pages after a position with a limit", async () => {
        const userId = uniqueId("user");
        await store.appendUserEvents(
          userId,
          range(1, 7).map((n) => newEvent(`e${n}`)),
        );
        const positions = async (after: number, limit: number) => {
          const page = await store.readUserEvents(userId, after, limit);
          expect(page.last).toBe(7);
          expect(page.horizon).toBe(0);
          return page.events.map((e) => e.position);
        };
        expect(await positions(0, 3)).toEqual([1, 2, 3]);
        expect(await positions(3, 3)).toEqual([4, 5, 6]);
        expect(await positions(6, 3)).toEqual([7]);
        expect(await positions(7, 3)).toEqual([]);
        expect(await positions(100, 3)).toEqual([]);
        expect(await positions(2, 100)).toEqual([3, 4, 5, 6, 7]);
        expect(await positions(0, 0)).toEqual([]);
        const page = await store.readUserEvents(userId, 4, 1);
        expect(page.events.map((e) => e.eventId)).toEqual(["e5"]);
      });

      it("keeps each user's stream separate", async () => {
        const [alice, bob] = [uniqueId("alice"), uniqueId("bob")];
        await store.appendUserEvents(alice, [newEvent("shared"), newEvent("a1")]);
        const bobs = await store.appendUserEvents(bob, [newEvent("shared")]);
        expect(bobs.map((e) => e.position)).toEqual([1]);
        await store.appendUserEvents(alice, [newEvent("a2")]);
        await store.appendUserEvents(bob, [newEvent("b1")]);

        const aliceRead = await store.readUserEvents(alice, 0, 10);
        const bobRead = await store.readUserEvents(bob, 0, 10);
        expect(aliceRead.events.map((e) => [e.eventId, e.position])).toEqual([
          ["shared", 1],
          ["a1", 2],
          ["a2", 3],
        ]);
        expect(aliceRead.last).toBe(3);
        expect(bobRead.events.map((e) => [e.eventId, e.position])).toEqual([
          ["shared", 1],
          ["b1", 2],
        ]);
        expect(bobRead.last).toBe(2);
      });
    });

    if (features.durable)
      describe("durability", () => {
        it("keeps conversations, messages, dedup entries and user events across reopen", async () => {
          const [alice, bob] = [uniqueId("alice"), uniqueId("bob")];
          const state = conversation(uniqueId("conv"), [alice, bob], { lastSeq: 5 });
          const id = state.conversationId;
          const messages = range(1, 5).map((seq) => message(id, seq));
          const dedup: DedupEntry = {
            clientId: uniqueId("client"),
            result: new Uint8Array([9, 8, 7]),
            createdAtMs: 5,
          };
          await store.commit(write(state, messages, { dedup }));
          await store.appendUserEvents(alice, [newEvent("one"), newEvent("two")]);

          await reopen();

          expect(await store.getConversation(id)).toEqual(state);
          expect(await store.listUserConversations(alice)).toEqual([id]);
          expect(await store.listUserConversations(bob)).toEqual([id]);
          expect(await store.getMessages(id, { kind: "latest", limit: 10 })).toEqual(messages);
          expect(await store.getMessage(id, 3)).toEqual(messages[2]);
          const readDedup = await store.getDedup(id, dedup.clientId);
          expect(readDedup && Array.from(readDedup.result)).toEqual([9, 8, 7]);
          const read = await store.readUserEvents(alice, 0, 10);
          expect(read.events.map((e) => [e.eventId, e.position])).toEqual([
            ["one", 1],
            ["two", 2],
          ]);
          expect(read.last).toBe(2);

          // Appending continues after the stored stream and still skips stored ids.
          const appended = await store.appendUserEvents(alice, [newEvent("two"), newEvent("three")]);
          expect(appended.map((e) => [e.eventId, e.position])).toEqual([["three", 3]]);
          await store.commit(write({ ...state, lastSeq: 6 }, [message(id, 6)], { addedUserIds: [] }));
          expect(seqs(await store.getMessages(id, { kind: "after", seq: 4, limit: 10 }))).toEqual([5, 6]);
        });
      });

    describe("isolation", () => {
      it("keeps many users and conversations apart", async () => {
        const users = range(1, 6).map((n) => uniqueId(`user${n}`));
        const conversations = range(1, 8).map((n) => {
          // Conversation n has n messages and the users whose index divides n + 1 or equals n % 6.
          const memberIds = users.filter((_, i) => (n + 1) % (i + 1) === 0 || i === n % 6);
          return conversation(uniqueId(`conv${n}`), memberIds, { lastSeq: n, title: `conversation ${n}` });
        });
        await Promise.all(
          conversations.map((state) =>
            store.commit(
              write(
                state,
                range(1, state.lastSeq).map((seq) =>
                  message(state.conversationId, seq, { text: state.title }),
                ),
              ),
            ),
          ),
        );
        await Promise.all(
          users.map((userId, i) =>
            store.appendUserEvents(
              userId,
              range(1, i + 1).map((n) => newEvent(`${userId}:${n}`)),
            ),
          ),
        );

        for (const state of conversations) {
          expect(await store.getConversation(state.conversationId)).toEqual(state);
          const messages = await store.getMessages(state.conversationId, { kind: "latest", limit: 100 });
          expect(seqs(messages)).toEqual(range(1, state.lastSeq));
          expect(messages.every((m) => m.text === state.title)).toBe(true);
        }
        for (const [i, userId] of users.entries()) {
          const expected = conversations
            .filter((state) => state.members.some((m) => m.userId === userId))
            .map((state) => state.conversationId);
          expect(sorted(await store.listUserConversations(userId))).toEqual(sorted(expected));
          const read = await store.readUserEvents(userId, 0, 100);
          expect(read.last).toBe(i + 1);
          expect(read.events.every((e) => e.eventId.startsWith(`${userId}:`))).toBe(true);
        }
      });
    });
  });
}
