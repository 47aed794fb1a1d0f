import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createSqliteHistoryStore } from "@parley/history";
import {
  CreateGroupRequestSchema,
  EventSchema,
  RenameRequestSchema,
  SendMessageRequestSchema,
} from "@parley/protocol";
import { type CommandResult, CreateDirectSchema } from "@parley/protocol/internal";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../../testkit/src/wait.js";
import type { ConsumeOptions, EventLog, LogRecord, NewRecord } from "../log/port.js";
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

/**
 * Two members of one consumer group on one SQLite log, the way two workers share the
 * commands topic on Kafka. The in-process log runs one consumer per group, so each member
 * consumes as a group of its own and handles only the records that arrive while it owns
 * the topic, passing the others by (as the shared group's offsets would: the owner
 * handled them). `moveTo` waits until both members have seen every record appended so
 * far, then hands every partition to one member and tells both through `onAssignment`.
 */
function twoMemberGroup(base: EventLog, topic: string, partitions: number) {
  let owner = "a";
  let appended = 0;
  const seen = new Map<string, number>([
    ["a", 0],
    ["b", 0],
  ]);
  const listeners = new Map<string, ConsumeOptions["onAssignment"]>();
  const assignment = (name: string) =>
    name === owner ? Array.from({ length: partitions }, (_, partition) => partition) : [];
  const member = (name: string): EventLog => ({
    ensureTopic: (t, n) => base.ensureTopic(t, n),
    partitionFor: (t, key) => base.partitionFor(t, key),
    append: (t, records) => base.append(t, records),
    close: () => base.close(),
    async consume(options) {
      if (options.topic !== topic) return base.consume(options);
      listeners.set(name, options.onAssignment);
      options.onAssignment?.(assignment(name));
      return base.consume({
        ...options,
        group: `${options.group}/${name}`,
        onAssignment: undefined,
        handler: async (records: LogRecord[]) => {
          if (owner === name) await options.handler(records);
          seen.set(name, (seen.get(name) ?? 0) + records.length);
        },
      });
    },
  });
  return {
    member,
    /** The log producers use: counts what reaches the topic. */
    log: {
      ...member("producer"),
      async append(t: string, records: NewRecord[]) {
        const results = await base.append(t, records);
        if (t === topic) appended += results.length;
        return results;
      },
    } satisfies EventLog,
    async moveTo(name: string) {
      await waitFor(() => [...seen.values()].every((n) => n === appended), 5_000, "both members caught up");
      owner = name;
      for (const [member, onAssignment] of listeners) onAssignment?.(assignment(member));
    },
  };
}

function seqOf(result: CommandResult): number | undefined {
  return result.outcome.case === "message" ? result.outcome.value.seq : undefined;
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
  it("reloads a conversation's state when its partition comes back after another worker wrote to it (A -> B -> A)", async () => {
    const base = createSqliteEventLog({ path: ":memory:" });
    const topics = DEFAULT_TOPICS;
    const group = twoMemberGroup(base, topics.commands, topics.commandPartitions);
    const history = createSqliteHistoryStore({ path: ":memory:" });
    const replies = createLocalReplyChannel();
    const workerA = await createWorker({
      log: group.member("a"),
      history,
      replies,
      topics,
      logger: silentLogger,
    });
    const workerB = await createWorker({
      log: group.member("b"),
      history,
      replies,
      topics,
      logger: silentLogger,
    });
    const bus = createCommandBus({ log: group.log, replies, topics, processId: "test" });
    closers.push(
      () => bus.close(),
      () => workerA.stop(),
      () => workerB.stop(),
      () => base.close(),
      () => history.close(),
    );
    const conversationId = "d:eve:fay";
    const send = (clientMsgId: string, text: string) =>
      bus.submit({
        actorId: "eve",
        conversationId,
        kind: {
          case: "sendMessage",
          value: create(SendMessageRequestSchema, { conversationId, clientMsgId, text }),
        },
      });
    await bus.submit({
      actorId: "eve",
      conversationId,
      kind: { case: "createDirect", value: create(CreateDirectSchema, { peerUserId: "fay" }) },
    });
    expect(seqOf(await send("m1", "one"))).toBe(1); // worker A, which now caches the state
    await group.moveTo("b");
    expect(seqOf(await send("m2", "two"))).toBe(2); // worker B
    await group.moveTo("a");
    expect(seqOf(await send("m3", "three"))).toBe(3); // worker A again
    const stored = await history.getMessages(conversationId, { kind: "latest", limit: 10 });
    expect(stored.map((m) => [m.seq, m.text])).toEqual([
      [1, "one"],
      [2, "two"],
      [3, "three"],
    ]);
    expect((await history.getConversation(conversationId))?.lastSeq).toBe(3);
  });

  it("keeps message times non-decreasing along seq when the worker's clock goes backwards", async () => {
    const log = createSqliteEventLog({ path: ":memory:" });
    const history = createSqliteHistoryStore({ path: ":memory:" });
    const replies = createLocalReplyChannel();
    const topics = DEFAULT_TOPICS;
    let clock = 50_000;
    const worker = await createWorker({
      log,
      history,
      replies,
      topics,
      logger: silentLogger,
      now: () => clock,
    });
    const bus = createCommandBus({ log, replies, topics, processId: "test" });
    closers.push(
      () => bus.close(),
      () => worker.stop(),
      () => log.close(),
      () => history.close(),
    );
    const conversationId = "g:clock";
    const submit = (kind: Parameters<typeof bus.submit>[0]["kind"]) =>
      bus.submit({ actorId: "gil", conversationId, kind });
    const send = (clientMsgId: string) =>
      submit({
        case: "sendMessage",
        value: create(SendMessageRequestSchema, { conversationId, clientMsgId, text: clientMsgId }),
      });
    await submit({
      case: "createGroup",
      value: create(CreateGroupRequestSchema, { clientId: "g", title: "clock", memberIds: ["hal"] }),
    });
    await send("m1");
    await send("m2");
    clock = 20_000; // stepped back
    await submit({ case: "rename", value: create(RenameRequestSchema, { conversationId, title: "later" }) });
    await send("m3");
    clock = 10_000; // and back again
    await send("m4");
    clock = 60_000;
    await send("m5");

    const stored = await history.getMessages(conversationId, { kind: "latest", limit: 10 });
    expect(stored.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    const times = stored.map((m) => (m.createdAt ? timestampMs(m.createdAt) : undefined));
    expect(times).toEqual([50_000, 50_000, 50_000, 50_000, 60_000]);
    // What the time-anchored reads (jump to a date) return follows from it.
    const after = await history.getMessages(conversationId, { kind: "afterTime", timeMs: 50_000, limit: 10 });
    expect(after.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    const before = await history.getMessages(conversationId, {
      kind: "beforeTime",
      timeMs: 60_000,
      limit: 10,
    });
    expect(before.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });
});
