import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConversationState, ConversationWrite, HistoryStore, NewUserEvent } from "@parley/history";
import {
  ConversationKind,
  ErrorReason,
  LIMITS,
  MemberRole,
  type Message,
  MessageSchema,
  reasonOf,
} from "@parley/protocol";
import { describeHistoryStore } from "@parley/testkit";
import type { Client } from "cassandra-driver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CassandraHistoryStore,
  type CassandraHistoryStoreOptions,
  createCassandraHistoryStore,
  SCHEMA_VERSION,
} from "./index.js";
import {
  CASSANDRA,
  connectClient,
  dropKeyspaces,
  failingClient,
  startProxy,
  startSilentNode,
  uniqueKeyspace,
} from "./test-cassandra.js";

// One keyspace for the conformance suite and the bucket tests, with tiny buckets so
// that almost every history and event read crosses partitions.
const MESSAGES_PER_BUCKET = 4;
const EVENTS_PER_BUCKET = 3;

let admin: Client;
const keyspace = uniqueKeyspace("history");
const created: string[] = [keyspace];

/** Options of a store on the shared test keyspace. */
function options(extra: Partial<CassandraHistoryStoreOptions> = {}): CassandraHistoryStoreOptions {
  return {
    keyspace,
    client: admin,
    migrate: false,
    messagesPerBucket: MESSAGES_PER_BUCKET,
    userEventsPerBucket: EVENTS_PER_BUCKET,
    ...extra,
  };
}

beforeAll(async () => {
  admin = await connectClient();
  const store = createCassandraHistoryStore({ ...options(), migrate: true });
  await store.ready();
  await store.close();
});

afterAll(async () => {
  await dropKeyspaces(admin, created);
  await admin.shutdown();
});

describeHistoryStore(
  "cassandra",
  async () => {
    let store = createCassandraHistoryStore(options());
    return {
      store,
      async reopen() {
        await store.close();
        // A store with a client of its own: nothing can come from the old one's memory.
        store = createCassandraHistoryStore({
          ...options(),
          client: undefined,
          ...CASSANDRA,
        });
        return store;
      },
      cleanup: () => store.close(),
    };
  },
  { durable: true },
);

// ---- fixtures ----------------------------------------------------------------

const BASE_MS = 1_700_000_000_000;

function id(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

function message(conversationId: string, seq: number, createdMs = BASE_MS + seq * 1000): Message {
  return create(MessageSchema, {
    conversationId,
    seq,
    messageId: `${conversationId}:m${seq}`,
    senderId: "sender",
    clientMsgId: `${conversationId}:c${seq}`,
    text: `message ${seq}`,
    createdAt: timestampFromMs(createdMs),
  });
}

function state(conversationId: string, memberIds: string[], lastSeq = 0): ConversationState {
  return {
    conversationId,
    kind: ConversationKind.GROUP,
    title: "fixture",
    createdBy: memberIds[0] ?? "nobody",
    createdAtMs: BASE_MS,
    updatedAtMs: BASE_MS + lastSeq,
    lastSeq,
    members: memberIds.map((userId) => ({
      userId,
      role: MemberRole.MEMBER,
      deliveredSeq: 0,
      readSeq: 0,
      joinedAtMs: BASE_MS,
    })),
  };
}

function write(
  conversation: ConversationState,
  messages: Message[] = [],
  extra: Partial<ConversationWrite> = {},
) {
  return {
    conversation,
    messages,
    addedUserIds: conversation.members.map((m) => m.userId),
    removedUserIds: [],
    ...extra,
  } satisfies ConversationWrite;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function events(...ids: string[]): NewUserEvent[] {
  return ids.map((eventId) => ({ eventId, payload: new TextEncoder().encode(eventId), timeMs: BASE_MS }));
}

async function seqs(
  store: HistoryStore,
  conversationId: string,
  query: Parameters<HistoryStore["getMessages"]>[1],
) {
  return (await store.getMessages(conversationId, query)).map((m) => m.seq);
}

async function rowCount(table: string, where: string, params: unknown[]): Promise<number> {
  const result = await admin.execute(
    `SELECT COUNT(*) AS n FROM ${keyspace}.${table} WHERE ${where}`,
    params,
    {
      prepare: true,
    },
  );
  return Number(result.rows[0]?.get("n"));
}

/** Resolves to the error `promise` rejects with (fails the test when it resolves). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure");
}

// ---- buckets -------------------------------------------------------------------

describe("buckets", () => {
  let store: CassandraHistoryStore;
  beforeAll(() => {
    // Pages of 2 rows, so reads also cross driver pages inside a bucket.
    store = createCassandraHistoryStore(options({ pageSize: 2 }));
  });
  afterAll(() => store.close());

  it("spreads messages over partitions of messagesPerBucket seqs", async () => {
    const conversationId = id("conv");
    await store.commit(
      write(
        state(conversationId, [id("alice")], 14),
        range(1, 14).map((n) => message(conversationId, n)),
      ),
    );
    const counts = [];
    for (const bucket of [0, 1, 2, 3, 4]) {
      counts.push(await rowCount("messages", "conversation_id = ? AND bucket = ?", [conversationId, bucket]));
    }
    // seq 1-3 | 4-7 | 8-11 | 12-14 | nothing
    expect(counts).toEqual([3, 4, 4, 3, 0]);
  });

  it("answers every history query across bucket boundaries", async () => {
    const conversationId = id("conv");
    await store.commit(
      write(
        state(conversationId, [id("alice")], 14),
        range(1, 14).map((n) => message(conversationId, n)),
      ),
    );
    const at = (seq: number) => BASE_MS + seq * 1000;

    expect(await seqs(store, conversationId, { kind: "latest", limit: 6 })).toEqual(range(9, 14));
    expect(await seqs(store, conversationId, { kind: "latest", limit: 100 })).toEqual(range(1, 14));
    expect(await seqs(store, conversationId, { kind: "before", seq: 9, limit: 6 })).toEqual(range(3, 8));
    expect(await seqs(store, conversationId, { kind: "before", seq: 4, limit: 6 })).toEqual(range(1, 3));
    expect(await seqs(store, conversationId, { kind: "after", seq: 2, limit: 7 })).toEqual(range(3, 9));
    expect(await seqs(store, conversationId, { kind: "after", seq: 3, limit: 100 })).toEqual(range(4, 14));
    expect(await seqs(store, conversationId, { kind: "afterTime", timeMs: at(3), limit: 6 })).toEqual(
      range(3, 8),
    );
    expect(await seqs(store, conversationId, { kind: "afterTime", timeMs: at(7) + 1, limit: 3 })).toEqual([
      8, 9, 10,
    ]);
    expect(await seqs(store, conversationId, { kind: "beforeTime", timeMs: at(13), limit: 6 })).toEqual(
      range(7, 12),
    );
    expect(await seqs(store, conversationId, { kind: "beforeTime", timeMs: at(8), limit: 100 })).toEqual(
      range(1, 7),
    );
    expect((await store.getMessage(conversationId, 8))?.seq).toBe(8);

    for (const size of [1, 2, 3, 4, 5, 7]) {
      const backwards: number[] = [];
      let page = await seqs(store, conversationId, { kind: "latest", limit: size });
      while (page.length > 0) {
        backwards.unshift(...page);
        page = await seqs(store, conversationId, { kind: "before", seq: page[0] as number, limit: size });
      }
      expect(backwards).toEqual(range(1, 14));
      const forwards: number[] = [];
      page = await seqs(store, conversationId, { kind: "after", seq: 0, limit: size });
      while (page.length > 0) {
        forwards.push(...page);
        page = await seqs(store, conversationId, {
          kind: "after",
          seq: page[page.length - 1] as number,
          limit: size,
        });
      }
      expect(forwards).toEqual(range(1, 14));
    }
  });

  it("pages user events across buckets", async () => {
    const userId = id("user");
    await store.appendUserEvents(userId, events("e1", "e2"));
    await store.appendUserEvents(userId, events("e3", "e4", "e5", "e6", "e7"));
    await store.appendUserEvents(userId, events("e8", "e9", "e10"));
    const counts = [];
    for (const bucket of [0, 1, 2, 3]) {
      counts.push(await rowCount("user_events", "user_id = ? AND bucket = ?", [userId, bucket]));
    }
    // positions 1-2 | 3-5 | 6-8 | 9-10
    expect(counts).toEqual([2, 3, 3, 2]);
    for (const size of [1, 2, 3, 4, 10]) {
      const read: number[] = [];
      let after = 0;
      for (;;) {
        const page = await store.readUserEvents(userId, after, size);
        expect(page).toMatchObject({ horizon: 0, last: 10 });
        if (page.events.length === 0) break;
        read.push(...page.events.map((e) => e.position));
        after = page.events[page.events.length - 1]?.position as number;
      }
      expect(read).toEqual(range(1, 10));
    }
    const page = await store.readUserEvents(userId, 4, 3);
    expect(page.events.map((e) => e.eventId)).toEqual(["e5", "e6", "e7"]);
  });

  it("refuses a store whose bucket sizes differ from the keyspace's", async () => {
    const other = createCassandraHistoryStore({ ...options(), migrate: true, messagesPerBucket: 1000 });
    try {
      const error = await failure(other.ready());
      expect(error.message).toMatch(/messages_per_bucket = 4.*1000/);
      expect(reasonOf(error)).toBe(ErrorReason.INTERNAL);
    } finally {
      await other.close();
    }
  });
});

// ---- commits interrupted halfway ---------------------------------------------------

describe("a commit interrupted halfway", () => {
  /** A store whose statements matching `pattern` fail as if the process died before them. */
  function crashingStore(pattern: RegExp): CassandraHistoryStore {
    return createCassandraHistoryStore(options({ client: failingClient(admin, (q) => pattern.test(q)) }));
  }

  it("before its commit point: nothing is visible and the retry applies it once", async () => {
    const conversationId = id("conv");
    const alice = id("alice");
    const first = state(conversationId, [alice], 1);
    const dedup = { clientId: id("client"), result: new Uint8Array([1]), createdAtMs: BASE_MS };
    const crashing = crashingStore(/INSERT INTO \w+\.conversations/);
    const error = await failure(crashing.commit(write(first, [message(conversationId, 1)], { dedup })));
    expect(reasonOf(error)).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);

    const store = createCassandraHistoryStore(options());
    expect(await store.getConversation(conversationId)).toBeUndefined();
    expect(await store.getDedup(conversationId, dedup.clientId)).toBeUndefined();
    expect(await store.getMessages(conversationId, { kind: "latest", limit: 10 })).toEqual([]);

    await store.commit(write(first, [message(conversationId, 1)], { dedup }));
    expect(await store.getConversation(conversationId)).toEqual(first);
    expect(await seqs(store, conversationId, { kind: "latest", limit: 10 })).toEqual([1]);
    expect(await store.listUserConversations(alice)).toEqual([conversationId]);
  });

  it("after its commit point: the state, messages and dedup entry are all visible, and getDedup finishes it", async () => {
    const conversationId = id("conv");
    const [alice, bob] = [id("alice"), id("bob")];
    const store = createCassandraHistoryStore(options());
    await store.commit(write(state(conversationId, [alice, bob], 1), [message(conversationId, 1)]));
    // A store leaves its own finished commit record for the next commit to remove; a new
    // owner's store finishes it again (idempotently) first. Let that happen before the
    // crash below is armed, so the crash hits the second commit's own follow-up.
    await createCassandraHistoryStore(options()).getDedup(conversationId, id("nothing"));

    // The worker dies right after the commit point: no message row, no dedup row, bob still listed.
    const crashing = crashingStore(/INTO \w+\.messages|INTO \w+\.dedup|DELETE FROM \w+\.user_conversations/);
    const second = state(conversationId, [alice], 2);
    const edited = create(MessageSchema, { ...message(conversationId, 1), text: "edited" });
    const dedup = { clientId: id("client"), result: new Uint8Array([7, 7]), createdAtMs: BASE_MS };
    const error = await failure(
      crashing.commit(
        write(second, [edited, message(conversationId, 2)], {
          dedup,
          addedUserIds: [],
          removedUserIds: [bob],
        }),
      ),
    );
    expect(reasonOf(error)).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
    expect(await rowCount("messages", "conversation_id = ? AND bucket = ?", [conversationId, 0])).toBe(1);

    // Readers already see the whole commit.
    expect(await store.getConversation(conversationId)).toEqual(second);
    expect(await store.getMessages(conversationId, { kind: "latest", limit: 10 })).toEqual([
      edited,
      message(conversationId, 2),
    ]);
    expect(await store.getMessage(conversationId, 1)).toEqual(edited);
    expect(
      await seqs(store, conversationId, { kind: "afterTime", timeMs: BASE_MS + 2000, limit: 10 }),
    ).toEqual([2]);

    // The redelivered command finds its dedup entry; asking finishes the commit.
    const found = await store.getDedup(conversationId, dedup.clientId);
    expect(found && Array.from(found.result)).toEqual([7, 7]);
    expect(await rowCount("messages", "conversation_id = ? AND bucket = ?", [conversationId, 0])).toBe(2);
    expect(
      await rowCount("dedup", "conversation_id = ? AND client_id = ?", [conversationId, dedup.clientId]),
    ).toBe(1);
    expect(await store.listUserConversations(bob)).toEqual([]);
    const pending = await admin.execute(
      `SELECT pending_ts FROM ${keyspace}.conversations WHERE conversation_id = ? LIMIT 1`,
      [conversationId],
      { prepare: true },
    );
    expect(pending.rows[0]?.get("pending_ts")).toBeNull();
  });

  it("a finished commit record left in place reads the same everywhere and goes with the next commit", async () => {
    const conversationId = id("conv");
    const alice = id("alice");
    const pendingTs = async () =>
      (
        await admin.execute(
          `SELECT pending_ts FROM ${keyspace}.conversations WHERE conversation_id = ? LIMIT 1`,
          [conversationId],
          { prepare: true },
        )
      ).rows[0]?.get("pending_ts");
    const writer = createCassandraHistoryStore(options());
    const dedup = { clientId: id("client"), result: new Uint8Array([3]), createdAtMs: BASE_MS };
    await writer.commit(write(state(conversationId, [alice], 1), [message(conversationId, 1)], { dedup }));
    expect(await pendingTs()).not.toBeNull();

    // Another process reads the same history, and finishing the record again changes nothing.
    const reader = createCassandraHistoryStore(options());
    const latest = await writer.getMessages(conversationId, { kind: "latest", limit: 10 });
    expect(latest).toEqual([message(conversationId, 1)]);
    expect(await reader.getMessages(conversationId, { kind: "latest", limit: 10 })).toEqual(latest);
    expect(Array.from((await reader.getDedup(conversationId, dedup.clientId))?.result ?? [])).toEqual([3]);
    expect(await rowCount("messages", "conversation_id = ? AND bucket = ?", [conversationId, 0])).toBe(1);
    expect(await reader.getMessages(conversationId, { kind: "latest", limit: 10 })).toEqual(latest);

    // The writer's next commit (after asking for its dedup entry, as the worker does) replaces it.
    const next = { clientId: id("client"), result: new Uint8Array([4]), createdAtMs: BASE_MS };
    expect(await writer.getDedup(conversationId, next.clientId)).toBeUndefined();
    await writer.commit(
      write(state(conversationId, [alice], 2), [message(conversationId, 2)], {
        dedup: next,
        addedUserIds: [],
      }),
    );
    expect(await seqs(reader, conversationId, { kind: "after", seq: 0, limit: 10 })).toEqual([1, 2]);
    expect(await reader.getConversation(conversationId)).toEqual(state(conversationId, [alice], 2));
  });

  it("after its commit point: the next commit finishes it first", async () => {
    const conversationId = id("conv");
    const alice = id("alice");
    const crashing = crashingStore(/INTO \w+\.messages/);
    await failure(crashing.commit(write(state(conversationId, [alice], 1), [message(conversationId, 1)])));

    const store = createCassandraHistoryStore(options());
    await store.commit(
      write(state(conversationId, [alice], 2), [message(conversationId, 2)], { addedUserIds: [] }),
    );
    expect(await rowCount("messages", "conversation_id = ? AND bucket = ?", [conversationId, 0])).toBe(2);
    expect(await seqs(store, conversationId, { kind: "after", seq: 0, limit: 10 })).toEqual([1, 2]);
  });

  it("appending user events before the new position is stored: nothing is visible and the retry appends them", async () => {
    const userId = id("user");
    const store = createCassandraHistoryStore(options());
    await store.appendUserEvents(userId, events("a"));
    const crashing = crashingStore(/UPDATE \w+\.user_streams/);
    await failure(crashing.appendUserEvents(userId, events("b", "c", "d")));

    expect(await store.readUserEvents(userId, 0, 10)).toMatchObject({ last: 1, horizon: 0 });
    expect((await store.readUserEvents(userId, 0, 10)).events.map((e) => e.eventId)).toEqual(["a"]);
    const appended = await store.appendUserEvents(userId, events("b", "c", "d", "e"));
    expect(appended.map((e) => [e.eventId, e.position])).toEqual([
      ["b", 2],
      ["c", 3],
      ["d", 4],
      ["e", 5],
    ]);
    expect(await store.appendUserEvents(userId, events("c"))).toEqual([]);
  });
});

// ---- other behaviour ------------------------------------------------------------

describe("cassandra store", () => {
  it("commits and reads a group of the largest size", async () => {
    const store = createCassandraHistoryStore(options());
    const conversationId = id("big");
    const members = range(1, LIMITS.maxGroupMembers).map((n) => `${conversationId}-user${n}`);
    const big = state(conversationId, members, 1);
    await store.commit(write(big, [message(conversationId, 1)]));
    expect(await store.getConversation(conversationId)).toEqual(big);
    expect(await store.listUserConversations(members[999] as string)).toEqual([conversationId]);
    await store.close();
  });

  it("keeps maxEventsPerUser events: the horizon moves up and whole buckets below it are deleted", async () => {
    const store = createCassandraHistoryStore(options({ userEventRetention: { maxEventsPerUser: 4 } }));
    const userId = id("user");
    await store.appendUserEvents(userId, events("e1", "e2", "e3"));
    expect(await store.readUserEvents(userId, 0, 0)).toMatchObject({ horizon: 0, last: 3 });
    await store.appendUserEvents(userId, events("e4", "e5", "e6"));
    expect(await store.readUserEvents(userId, 0, 0)).toMatchObject({ horizon: 2, last: 6 });
    // Everything the stream holds, and what `appendUserEvents` returned, even when the
    // append itself goes past the limit.
    const appended = await store.appendUserEvents(userId, events("e7", "e8", "e9", "e10"));
    expect(appended.map((e) => e.position)).toEqual([7, 8, 9, 10]);
    const page = await store.readUserEvents(userId, 0, 100);
    expect(page).toMatchObject({ horizon: 6, last: 10 });
    expect(page.events.map((e) => e.eventId)).toEqual(["e7", "e8", "e9", "e10"]);
    expect((await store.readUserEvents(userId, 6, 2)).events.map((e) => e.position)).toEqual([7, 8]);

    const counts = [];
    for (const bucket of [0, 1, 2, 3]) {
      counts.push(await rowCount("user_events", "user_id = ? AND bucket = ?", [userId, bucket]));
    }
    // Buckets 0 (1-2) and 1 (3-5) lie below the horizon; 2 (6-8) still holds 6.
    expect(counts).toEqual([0, 0, 3, 2]);
    // A pruned id is appended again; a kept one is not.
    expect(
      (await store.appendUserEvents(userId, events("e1", "e9"))).map((e) => [e.eventId, e.position]),
    ).toEqual([["e1", 11]]);
    await store.close();
  });

  it("keeps user events for userEventRetention.maxAgeMs and moves the horizon past expired ones", async () => {
    const shortLived = createCassandraHistoryStore(options({ userEventRetention: { maxAgeMs: 1000 } }));
    const longLived = createCassandraHistoryStore(options({ userEventRetention: {} }));
    const [mixed, gone] = [id("mixed"), id("gone")];
    await shortLived.appendUserEvents(mixed, events("e1", "e2", "e3"));
    await shortLived.appendUserEvents(gone, events("g1", "g2"));
    await sleep(2500);
    await longLived.appendUserEvents(mixed, events("e4", "e5"));

    const page = await longLived.readUserEvents(mixed, 0, 10);
    expect(page.events.map((e) => e.position)).toEqual([4, 5]);
    expect(page).toMatchObject({ horizon: 3, last: 5 });
    expect((await longLived.readUserEvents(mixed, 3, 10)).events.map((e) => e.position)).toEqual([4, 5]);
    expect(await longLived.readUserEvents(gone, 0, 10)).toEqual({ events: [], horizon: 2, last: 2 });
    // An id whose event expired is appended again.
    expect((await longLived.appendUserEvents(mixed, events("e1"))).map((e) => e.position)).toEqual([6]);
    await Promise.all([shortLived.close(), longLived.close()]);
  });

  it("fails with SHUTTING_DOWN after close", async () => {
    const store = createCassandraHistoryStore(options());
    await store.close();
    const error = await failure(store.getConversation(id("conv")));
    expect(reasonOf(error)).toBe(ErrorReason.SHUTTING_DOWN);
  });
});

// ---- migrations ------------------------------------------------------------------

describe("migrate", () => {
  async function tables(ks: string): Promise<string[]> {
    const result = await admin.execute(
      "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
      [ks],
      { prepare: true },
    );
    return result.rows.map((row) => row.get("table_name") as string).sort();
  }

  const ALL_TABLES = [
    "conversations",
    "dedup",
    "messages",
    "schema_meta",
    "schema_version",
    "user_conversations",
    "user_event_ids",
    "user_events",
    "user_streams",
  ];

  it("creates the keyspace once, even from stores migrating at the same time, and again changes nothing", async () => {
    const ks = uniqueKeyspace("migrate");
    created.push(ks);
    const stores = [1, 2].map(() => createCassandraHistoryStore({ keyspace: ks, client: admin }));
    expect(await Promise.all(stores.map((s) => s.migrate()))).toEqual([SCHEMA_VERSION, SCHEMA_VERSION]);
    expect(await tables(ks)).toEqual(ALL_TABLES);

    const [store] = stores as [CassandraHistoryStore];
    const conversation = state(id("conv"), [id("alice")]);
    await store.commit(write(conversation));
    expect(await store.migrate()).toBe(SCHEMA_VERSION);
    expect(await store.getConversation(conversation.conversationId)).toEqual(conversation);
    const versions = await admin.execute(`SELECT version FROM ${ks}.schema_version`);
    expect(versions.rows.map((row) => row.get("version"))).toEqual(range(1, SCHEMA_VERSION));

    await admin.execute(
      `INSERT INTO ${ks}.schema_version (version, description) VALUES (?, ?)`,
      [999, "future"],
      {
        prepare: true,
      },
    );
    const error = await failure(store.migrate());
    expect(error.message).toMatch(/schema version 999, newer than/);
    await Promise.all(stores.map((s) => s.close()));
  });

  it("adds its tables to an existing keyspace and keeps its replication", async () => {
    const ks = uniqueKeyspace("existing");
    created.push(ks);
    await admin.execute(
      `CREATE KEYSPACE ${ks} WITH replication = {'class': 'NetworkTopologyStrategy', '${CASSANDRA.localDataCenter}': 1}`,
    );
    const store = createCassandraHistoryStore({
      keyspace: ks,
      client: admin,
      replication: { class: "SimpleStrategy", replicationFactor: 1 },
    });
    await store.ready();
    expect(await tables(ks)).toEqual(ALL_TABLES);
    const keyspaceRow = await admin.execute(
      "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
      [ks],
      {
        prepare: true,
      },
    );
    expect((keyspaceRow.rows[0]?.get("replication") as Record<string, string> | undefined)?.class).toMatch(
      /NetworkTopologyStrategy/,
    );
    const userId = id("user");
    await store.appendUserEvents(userId, events("x"));
    expect((await store.readUserEvents(userId, 0, 10)).last).toBe(1);
    await store.close();
  });
});

// ---- Cassandra unreachable ----------------------------------------------------------

describe("when Cassandra cannot be reached", () => {
  async function expectUnavailable(promise: Promise<unknown>, withinMs: number): Promise<void> {
    const started = Date.now();
    const error = await failure(promise);
    expect(reasonOf(error), error.message).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
    expect((error as Error & { rawMessage?: string }).rawMessage).toMatch(
      /^unable to .+; cassandra is unavailable/,
    );
    expect(Date.now() - started).toBeLessThan(withinMs);
  }

  it("fails with DEPENDENCY_UNAVAILABLE when nothing listens, and connects once it can", async () => {
    const proxy = await startProxy();
    const address = proxy.address;
    await proxy.close();
    const store = createCassandraHistoryStore({
      keyspace,
      contactPoints: [address],
      localDataCenter: CASSANDRA.localDataCenter,
      migrate: false,
      messagesPerBucket: MESSAGES_PER_BUCKET,
      userEventsPerBucket: EVENTS_PER_BUCKET,
    });
    await expectUnavailable(store.getConversation(id("conv")), 5000);
    await expectUnavailable(store.ready(), 5000);
    const revived = await startProxy(Number(address.split(":")[1]));
    try {
      await store.ready();
      expect(await store.getConversation(id("conv"))).toBeUndefined();
    } finally {
      await store.close();
      await revived.close();
    }
  });

  it("fails within connectTimeoutMs when the node accepts connections but never answers", async () => {
    const silent = await startSilentNode();
    const store = createCassandraHistoryStore({
      keyspace,
      contactPoints: [silent.address],
      localDataCenter: CASSANDRA.localDataCenter,
      connectTimeoutMs: 1000,
      requestTimeoutMs: 1000,
    });
    try {
      await expectUnavailable(store.listUserConversations(id("user")), 8000);
    } finally {
      await store.close();
      await silent.close();
    }
  });

  it("fails within requestTimeoutMs when the network stops mid-session, and recovers after", async () => {
    const proxy = await startProxy();
    const store = createCassandraHistoryStore({
      keyspace,
      contactPoints: [proxy.address],
      localDataCenter: CASSANDRA.localDataCenter,
      migrate: false,
      requestTimeoutMs: 1000,
      messagesPerBucket: MESSAGES_PER_BUCKET,
      userEventsPerBucket: EVENTS_PER_BUCKET,
    });
    try {
      const conversation = state(id("conv"), [id("alice")]);
      await store.commit(write(conversation));
      proxy.freeze();
      await expectUnavailable(store.getConversation(conversation.conversationId), 5000);
      await expectUnavailable(store.commit(write({ ...conversation, title: "renamed" })), 5000);
      proxy.resume();
      expect(await store.getConversation(conversation.conversationId)).toBeDefined();
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});
