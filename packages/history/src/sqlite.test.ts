import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ConversationKind, MemberRole, MessageSchema } from "@parley/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
// By relative path: @parley/testkit depends on @parley/history, so the package name would be circular.
import { describeHistoryStore } from "../../testkit/src/history-store.js";
import type { ConversationState, ConversationWrite, HistoryStore, NewUserEvent } from "./index.js";
import { createSqliteHistoryStore, type SqliteHistoryStoreOptions } from "./index.js";

let dirs: string[] = [];

async function tempPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "parley-history-"));
  dirs.push(dir);
  return join(dir, "history.db");
}

afterEach(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  dirs = [];
});

describeHistoryStore("sqlite (file)", async () => {
  const path = await tempPath();
  let store = createSqliteHistoryStore({ path });
  return {
    store,
    reopen: async () => {
      await store.close();
      store = createSqliteHistoryStore({ path });
      return store;
    },
    cleanup: () => store.close(),
  };
});

describeHistoryStore(
  "sqlite (:memory:)",
  async () => {
    const store = createSqliteHistoryStore({ path: ":memory:" });
    return { store, cleanup: () => store.close() };
  },
  { durable: false },
);

function event(eventId: string, timeMs: number): NewUserEvent {
  return { eventId, payload: new Uint8Array([1, 2, 3]), timeMs };
}

function state(conversationId: string, lastSeq: number, title = "t"): ConversationState {
  return {
    conversationId,
    kind: ConversationKind.GROUP,
    title,
    createdBy: "alice",
    createdAtMs: 1,
    updatedAtMs: 1,
    lastSeq,
    members: [{ userId: "alice", role: MemberRole.OWNER, deliveredSeq: 0, readSeq: 0, joinedAtMs: 1 }],
  };
}

function message(conversationId: string, seq: number, text = `m${seq}`) {
  return create(MessageSchema, {
    conversationId,
    seq,
    text,
    createdAt: timestampFromMs(1000 * seq),
  });
}

describe("createSqliteHistoryStore", () => {
  let store: HistoryStore;
  let clock: number;
  const open = (options: Omit<SqliteHistoryStoreOptions, "path"> = {}, path = ":memory:") => {
    store = createSqliteHistoryStore({ path, now: () => clock, ...options });
    return store;
  };

  beforeEach(() => {
    clock = 1_000_000;
  });

  afterEach(async () => {
    await store?.close();
  });

  describe("user event retention", () => {
    it("keeps the newest maxEventsPerUser events and moves the horizon up", async () => {
      open({ userEventRetention: { maxEventsPerUser: 3 } });
      await store.appendUserEvents(
        "alice",
        [1, 2, 3, 4, 5].map((n) => event(`e${n}`, clock)),
      );
      await store.appendUserEvents("bob", [event("b1", clock)]);

      let page = await store.readUserEvents("alice", 0, 10);
      expect(page.horizon).toBe(2);
      expect(page.last).toBe(5);
      expect(page.events.map((e) => e.position)).toEqual([3, 4, 5]);

      await store.appendUserEvents("alice", [event("e6", clock), event("e7", clock)]);
      page = await store.readUserEvents("alice", 2, 10);
      expect(page.horizon).toBe(4);
      expect(page.last).toBe(7);
      expect(page.events.map((e) => e.position)).toEqual([5, 6, 7]);

      // Other users' streams are pruned only by their own appends.
      expect(await store.readUserEvents("bob", 0, 10)).toMatchObject({ horizon: 0, last: 1 });
    });

    it("prunes events older than maxAgeMs on append and moves the horizon up", async () => {
      open({ userEventRetention: { maxAgeMs: 10_000 } });
      await store.appendUserEvents("alice", [event("e1", clock), event("e2", clock + 1000)]);
      clock += 5000;
      await store.appendUserEvents("alice", [event("e3", clock)]);
      expect(await store.readUserEvents("alice", 0, 10)).toMatchObject({ horizon: 0, last: 3 });

      // e1 is now 10.5 s old, e2 9.5 s: only e1 goes.
      clock += 5500;
      await store.appendUserEvents("alice", [event("e4", clock)]);
      let page = await store.readUserEvents("alice", 0, 10);
      expect(page.horizon).toBe(1);
      expect(page.events.map((e) => e.eventId)).toEqual(["e2", "e3", "e4"]);

      // Reads do not prune; the next append does.
      clock += 60_000;
      expect((await store.readUserEvents("alice", 0, 10)).events).toHaveLength(3);
      await store.appendUserEvents("alice", [event("e5", clock)]);
      page = await store.readUserEvents("alice", 0, 10);
      expect(page).toMatchObject({ horizon: 4, last: 5 });
      expect(page.events.map((e) => e.eventId)).toEqual(["e5"]);
    });

    it("skips ids still stored; ids pruned away are appended again", async () => {
      open({ userEventRetention: { maxEventsPerUser: 1 } });
      await store.appendUserEvents("alice", [event("e1", clock), event("e2", clock)]);
      expect(await store.readUserEvents("alice", 0, 10)).toMatchObject({ horizon: 1, last: 2 });
      expect(await store.appendUserEvents("alice", [event("e2", clock)])).toEqual([]);
      const again = await store.appendUserEvents("alice", [event("e1", clock)]);
      expect(again.map((e) => e.position)).toEqual([3]);
    });
  });

  describe("commit", () => {
    it("applies nothing when a statement fails part-way", async () => {
      open();
      await store.commit({
        conversation: state("c1", 1, "before"),
        messages: [message("c1", 1)],
        addedUserIds: ["alice"],
        removedUserIds: [],
      });

      const failing: ConversationWrite = {
        conversation: state("c1", 3, "after"),
        messages: [message("c1", 1, "changed"), message("c1", 2), message("c1", 0)],
        dedup: { clientId: "k1", result: new Uint8Array([1]), createdAtMs: 1 },
        addedUserIds: ["bob"],
        removedUserIds: ["alice"],
      };
      await expect(store.commit(failing)).rejects.toThrow(/^unable to commit; .*CHECK constraint failed/);

      expect((await store.getConversation("c1"))?.title).toBe("before");
      expect((await store.getMessage("c1", 1))?.text).toBe("m1");
      expect(await store.getMessage("c1", 2)).toBeUndefined();
      expect(await store.getDedup("c1", "k1")).toBeUndefined();
      expect(await store.listUserConversations("alice")).toEqual(["c1"]);
      expect(await store.listUserConversations("bob")).toEqual([]);

      // The store is still usable afterwards.
      await store.commit({ ...failing, messages: [message("c1", 2)] });
      expect((await store.getConversation("c1"))?.title).toBe("after");
    });

    it("fails only the failing write of writes committed together", async () => {
      open();
      const good = (id: string) => ({
        conversation: state(id, 1, id),
        messages: [message(id, 1)],
        addedUserIds: ["alice"],
        removedUserIds: [],
      });
      const bad: ConversationWrite = {
        conversation: state("c2", 2, "bad"),
        messages: [message("c2", 1), message("c2", 0)],
        addedUserIds: ["bob"],
        removedUserIds: [],
      };
      // Requested in one turn, so they share one group commit.
      const results = await Promise.allSettled([
        store.commit(good("c1")),
        store.commit(bad),
        store.commit(good("c3")),
        store.appendUserEvents("alice", [{ eventId: "e1", payload: new Uint8Array([1]), timeMs: 1 }]),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
      expect((await store.getConversation("c1"))?.title).toBe("c1");
      expect((await store.getConversation("c3"))?.title).toBe("c3");
      expect(await store.getConversation("c2")).toBeUndefined();
      expect(await store.getMessage("c2", 1)).toBeUndefined();
      expect((await store.listUserConversations("alice")).sort()).toEqual(["c1", "c3"]);
      expect(await store.listUserConversations("bob")).toEqual([]);
      expect((await store.readUserEvents("alice", 0, 10)).events.map((e) => e.position)).toEqual([1]);
    });

    it("rejects a message of another conversation", async () => {
      open();
      await expect(
        store.commit({
          conversation: state("c1", 1),
          messages: [message("c2", 1)],
          addedUserIds: [],
          removedUserIds: [],
        }),
      ).rejects.toThrow(/^unable to commit; message seq 1 belongs to conversation "c2", not "c1"/);
      expect(await store.getConversation("c1")).toBeUndefined();
    });
  });

  it("rejects invalid query arguments with a clear error", async () => {
    open();
    await expect(store.getMessages("c1", { kind: "latest", limit: -1 })).rejects.toThrow(
      "unable to read messages; limit must be a non-negative integer, got -1",
    );
    await expect(store.readUserEvents("alice", 0.5, 10)).rejects.toThrow(
      "unable to read user events; afterPosition must be a non-negative integer, got 0.5",
    );
  });

  it("rejects calls after close", async () => {
    open();
    await store.close();
    await expect(store.getConversation("c1")).rejects.toThrow(
      "unable to read conversation; the history store is closed",
    );
    await expect(store.appendUserEvents("alice", [event("e1", clock)])).rejects.toThrow(
      "unable to append user events; the history store is closed",
    );
    await store.close(); // closing again is harmless
  });

  it("creates a WAL-mode database at the current schema version", async () => {
    const path = await tempPath();
    await open({}, path).close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      expect(db.prepare("PRAGMA user_version").get()).toEqual({ user_version: 1 });
      expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    } finally {
      db.close();
    }
  });

  it("refuses a database written by a newer schema", async () => {
    const path = await tempPath();
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    expect(() => open({}, path)).toThrow(/^unable to open history store at .*; schema version 99 is newer/);
  });
});
