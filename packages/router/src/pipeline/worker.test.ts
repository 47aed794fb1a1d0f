import { create, fromBinary } from "@bufbuild/protobuf";
import { createSqliteHistoryStore } from "@parley/history";
import { EventSchema, SendMessageRequestSchema } from "@parley/protocol";
import { CreateDirectSchema } from "@parley/protocol/internal";
import { afterEach, describe, expect, it } from "vitest";
import type { EventLog, NewRecord } from "../log/port.js";
import { createSqliteEventLog } from "../log/sqlite.js";
import { silentLogger } from "../logger.js";
import { createCommandBus } from "./command-bus.js";
import { createHub } from "./hub.js";
import { createInboxConsumer } from "./inbox.js";
import { createLocalReplyChannel } from "./replies.js";
import { DEFAULT_TOPICS } from "./topics.js";
import { createWorker } from "./worker.js";

/** An event log whose inbox appends fail `failures` times, as if the process died there. */
function flakyInbox(log: EventLog, failures: number): EventLog & { failed: number } {
  const wrapped = Object.create(log) as EventLog & { failed: number };
  wrapped.failed = 0;
  wrapped.append = async (topic: string, records: NewRecord[]) => {
    if (topic === DEFAULT_TOPICS.inbox && wrapped.failed < failures) {
      wrapped.failed++;
      throw new Error("inbox append failed (simulated crash after the history commit)");
    }
    return log.append(topic, records);
  };
  return wrapped;
}

describe("pipeline", () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of closers.reverse()) await close();
    closers.length = 0;
  });

  async function pipeline(inboxFailures: number) {
    const base = createSqliteEventLog({ path: ":memory:" });
    const log = flakyInbox(base, inboxFailures);
    const history = createSqliteHistoryStore({ path: ":memory:" });
    const replies = createLocalReplyChannel();
    const hub = createHub();
    const topics = DEFAULT_TOPICS;
    const worker = await createWorker({ log, history, replies, topics, logger: silentLogger });
    const inbox = await createInboxConsumer({ log, history, hub, topics, logger: silentLogger });
    const bus = createCommandBus({ log, replies, topics, processId: "test" });
    closers.push(
      () => bus.close(),
      () => worker.stop(),
      () => inbox.stop(),
      () => base.close(),
      () => history.close(),
    );
    return { log, history, bus };
  }

  it("re-emits a committed command's fan-out when the inbox append failed, with no duplicate events", async () => {
    const { log, history, bus } = await pipeline(2);
    const conversationId = "d:ann:ben";
    const created = await bus.submit({
      actorId: "ann",
      conversationId,
      kind: { case: "createDirect", value: create(CreateDirectSchema, { peerUserId: "ben" }) },
    });
    expect(created.outcome.case).toBe("conversation");
    // The first two inbox appends failed after history was committed; the log redelivered
    // the command, the worker found its dedup entry and appended the stored fan-out.
    expect(log.failed).toBe(2);
    const sent = await bus.submit({
      actorId: "ann",
      conversationId,
      kind: {
        case: "sendMessage",
        value: create(SendMessageRequestSchema, { conversationId, clientMsgId: "m1", text: "hello" }),
      },
    });
    expect(sent.outcome.case === "message" && sent.outcome.value.seq).toBe(1);

    const deadline = Date.now() + 10_000;
    let page = await history.readUserEvents("ben", 0, 100);
    while (page.events.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      page = await history.readUserEvents("ben", 0, 100);
    }
    const kinds = page.events.map((e) => fromBinary(EventSchema, e.payload).payload.case);
    expect(kinds).toEqual(["conversationUpdated", "messageCreated"]);
    expect(page.events.map((e) => e.position)).toEqual([1, 2]);
  });

  it("answers a retried client id with the original message", async () => {
    const { bus } = await pipeline(0);
    const conversationId = "d:cat:dan";
    await bus.submit({
      actorId: "cat",
      conversationId,
      kind: { case: "createDirect", value: create(CreateDirectSchema, { peerUserId: "dan" }) },
    });
    const send = (text: string) =>
      bus.submit({
        actorId: "cat",
        conversationId,
        kind: {
          case: "sendMessage",
          value: create(SendMessageRequestSchema, { conversationId, clientMsgId: "x", text }),
        },
      });
    const first = await send("one");
    const again = await send("two");
    expect(again.outcome).toEqual(first.outcome);
  });
});
