import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { EventSchema, MessageCreatedSchema, MessageSchema } from "@parley/protocol";
import { CommandResultSchema, InboxRecordSchema } from "@parley/protocol/internal";
import { describe, expect, it } from "vitest";
import { encodeFanout, encodeStoredResult, readInboxRecord } from "./fanout.js";

const message = create(MessageSchema, { conversationId: "c1", seq: 7, senderId: "ann", text: "héllo ✓" });
const shared = create(EventSchema, {
  eventId: "01JEVENT",
  time: timestampFromMs(1_700_000_000_123),
  conversationId: "c1",
  payload: { case: "messageCreated", value: create(MessageCreatedSchema, { message }) },
});
const other = create(EventSchema, { eventId: "01JOTHER", conversationId: "c2" });
const fanout = [
  create(InboxRecordSchema, { userId: "ann", event: shared }),
  create(InboxRecordSchema, { userId: "bob", event: shared }),
  create(InboxRecordSchema, { userId: "ünï", event: other }),
  create(InboxRecordSchema, { userId: "", event: shared }),
];

describe("encodeFanout", () => {
  it("gives each user's record exactly the bytes toBinary gives, keyed by user", () => {
    const records = encodeFanout(fanout);
    expect(records.map((r) => r.key)).toEqual(["ann", "bob", "ünï", ""]);
    records.forEach((record, i) => {
      expect(record.value).toEqual(toBinary(InboxRecordSchema, fanout[i] as never));
      expect(fromBinary(InboxRecordSchema, record.value)).toEqual(fanout[i]);
    });
  });
});

describe("encodeStoredResult", () => {
  it("decodes to the result with its fan-out, as encoding both together does", () => {
    const result = create(CommandResultSchema, {
      commandId: "cmd-1",
      outcome: { case: "message", value: message },
    });
    const bytes = encodeStoredResult(result, encodeFanout(fanout));
    const decoded = fromBinary(CommandResultSchema, bytes);
    expect(decoded).toEqual(create(CommandResultSchema, { ...result, fanout }));
    expect(fromBinary(CommandResultSchema, encodeStoredResult(result, []))).toEqual(result);
  });
});

describe("readInboxRecord", () => {
  it("reads the user, the event id and time, and keeps the event's bytes as written", () => {
    for (const [i, record] of encodeFanout(fanout).entries()) {
      const source = fanout[i] as (typeof fanout)[number];
      const entry = readInboxRecord(record.value);
      expect(entry.userId).toBe(source.userId);
      expect(entry.eventId).toBe(source.event?.eventId);
      expect(entry.timeMs).toBe(source.event?.time ? timestampMs(source.event.time) : undefined);
      expect(entry.event).toEqual(toBinary(EventSchema, source.event as never));
    }
  });

  it("reads a record without an event, and rejects bytes that are not a record", () => {
    const bare = readInboxRecord(toBinary(InboxRecordSchema, create(InboxRecordSchema, { userId: "cy" })));
    expect(bare).toEqual({ userId: "cy", eventId: "", timeMs: undefined, event: undefined });
    expect(() => readInboxRecord(new Uint8Array([0x12, 0x05, 0x01]))).toThrow();
  });
});
