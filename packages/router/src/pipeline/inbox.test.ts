import { create, toBinary } from "@bufbuild/protobuf";
import { createSqliteHistoryStore, type HistoryStore, type UserEvent } from "@parley/history";
import { EventSchema } from "@parley/protocol";
import { InboxRecordSchema } from "@parley/protocol/internal";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../../testkit/src/wait.js";
import { createSqliteEventLog } from "../log/sqlite.js";
import { silentLogger } from "../logger.js";
import { createHub } from "./hub.js";
import { createInboxConsumer } from "./inbox.js";
import { DEFAULT_TOPICS } from "./topics.js";

/** One inbox partition, so every user's records arrive in the same batch. */
const topics = { ...DEFAULT_TOPICS, inboxPartitions: 1 };

function inboxRecord(userId: string, eventId: string) {
  const event = create(EventSchema, { eventId, conversationId: "g:test" });
  return { key: userId, value: toBinary(InboxRecordSchema, create(InboxRecordSchema, { userId, event })) };
}

/**
 * SQLite history whose first append for `failUser` rejects, whose first append for
 * `slowUser` is held for a while, and which records two appends of one user running
 * at the same time (the store's contract forbids that).
 */
function troubledHistory(failUser: string, slowUser: string) {
  const real = createSqliteHistoryStore({ path: ":memory:" });
  const inFlight = new Set<string>();
  const overlaps: string[] = [];
  let failed = 0;
  let slowed = false;
  const history: HistoryStore = Object.create(real);
  history.appendUserEvents = async (userId, events) => {
    if (inFlight.has(userId)) overlaps.push(userId);
    inFlight.add(userId);
    try {
      if (userId === failUser && failed === 0) {
        failed++;
        throw new Error("append failed (simulated)");
      }
      if (userId === slowUser && !slowed) {
        slowed = true;
        // Longer than the log's first redelivery backoff (50 ms).
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      return await real.appendUserEvents(userId, events);
    } finally {
      inFlight.delete(userId);
    }
  };
  return { history, real, overlaps, failedCount: () => failed };
}

describe("inbox consumer", () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of closers.reverse()) await close();
    closers.length = 0;
  });

  it("publishes every user's events once, only after they are stored, even when another user's append fails", async () => {
    const log = createSqliteEventLog({ path: ":memory:" });
    const { history, real, overlaps, failedCount } = troubledHistory("bob", "ann");
    const hub = createHub();
    const received = new Map<string, UserEvent[]>();
    const unstored: string[] = [];
    for (const user of ["ann", "bob", "cat"]) {
      received.set(user, []);
      hub.subscribe(user, (events) => {
        received.get(user)?.push(...events);
        // A live event must already be readable from history (a resuming device reads it there).
        void real.readUserEvents(user, 0, 100).then((page) => {
          const stored = new Set(page.events.map((e) => e.eventId));
          for (const e of events) if (!stored.has(e.eventId)) unstored.push(e.eventId);
        });
      });
    }
    const inbox = await createInboxConsumer({ log, history, hub, topics, logger: silentLogger });
    closers.push(
      () => inbox.stop(),
      () => log.close(),
      () => real.close(),
    );

    await log.append(topics.inbox, [
      inboxRecord("ann", "a1"),
      inboxRecord("bob", "b1"),
      inboxRecord("ann", "a2"),
      inboxRecord("cat", "c1"),
      inboxRecord("bob", "b2"),
    ]);

    const ids = (user: string) => received.get(user)?.map((e) => `${e.eventId}@${e.position}`);
    await waitFor(() => ids("bob")?.length === 2 && ids("ann")?.length === 2, 5_000, "all events live");
    expect(failedCount()).toBe(1);
    expect(ids("ann")).toEqual(["a1@1", "a2@2"]);
    expect(ids("bob")).toEqual(["b1@1", "b2@2"]);
    expect(ids("cat")).toEqual(["c1@1"]);
    expect(unstored).toEqual([]);
    // The redelivered batch waited for ann's first (slow) append instead of racing it.
    expect(overlaps).toEqual([]);
  });
});
