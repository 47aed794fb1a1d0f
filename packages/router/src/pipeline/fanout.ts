import { toBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { type Event, EventSchema } from "@parley/protocol";
import { type CommandResult, CommandResultSchema, type InboxRecord } from "@parley/protocol/internal";
import type { NewRecord } from "../log/port.js";

// Field numbers of parley.internal.v1.InboxRecord and CommandResult.fanout (log.proto),
// parley.v1.Event (sync.proto) and google.protobuf.Timestamp.
const INBOX_USER_ID = 1;
const INBOX_EVENT = 2;
const RESULT_FANOUT = 20;
const EVENT_ID = 2;
const EVENT_TIME = 3;
const TIMESTAMP_SECONDS = 1;
const TIMESTAMP_NANOS = 2;

/** What the gateway needs of an inbox record: the user, and the event as stored bytes. */
export interface InboxEntry {
  userId: string;
  /** The event's id (an empty string when the record has no event). */
  eventId: string;
  /** The event's time in ms since the epoch, when it has one. */
  timeMs: number | undefined;
  /** The encoded `parley.v1.Event`, exactly as the worker wrote it. */
  event: Uint8Array | undefined;
}

/**
 * Reads an inbox record without decoding its event: only the event's id and time are
 * read, and its bytes are kept as they are, so the gateway can store them without a
 * decode and re-encode per member. Throws on malformed bytes, as `fromBinary` does.
 */
export function readInboxRecord(bytes: Uint8Array): InboxEntry {
  const entry: InboxEntry = { userId: "", eventId: "", timeMs: undefined, event: undefined };
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === INBOX_USER_ID && wireType === WireType.LengthDelimited) entry.userId = reader.string();
    else if (field === INBOX_EVENT && wireType === WireType.LengthDelimited) entry.event = reader.bytes();
    else reader.skip(wireType, field);
  }
  if (entry.event) {
    const event = new BinaryReader(entry.event);
    while (event.pos < event.len) {
      const [field, wireType] = event.tag();
      if (field === EVENT_ID && wireType === WireType.LengthDelimited) entry.eventId = event.string();
      else if (field === EVENT_TIME && wireType === WireType.LengthDelimited) {
        entry.timeMs = readTimestampMs(event.bytes());
      } else event.skip(wireType, field);
    }
  }
  return entry;
}

function readTimestampMs(bytes: Uint8Array): number {
  const reader = new BinaryReader(bytes);
  let seconds = 0;
  let nanos = 0;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === TIMESTAMP_SECONDS && wireType === WireType.Varint) seconds = Number(reader.int64());
    else if (field === TIMESTAMP_NANOS && wireType === WireType.Varint) nanos = reader.int32();
    else reader.skip(wireType, field);
  }
  // As timestampMs() of @bufbuild/protobuf/wkt computes it.
  return seconds * 1000 + Math.round(nanos / 1_000_000);
}

/**
 * The inbox topic records of a fan-out, keyed by user. A command sends the same
 * `Event` object to every member (a group message reaches 50 inboxes), so each
 * distinct event is encoded once and each record is framed around its bytes: the
 * result is byte for byte what `toBinary(InboxRecordSchema, record)` gives, without
 * encoding the event once per member.
 */
export function encodeFanout(fanout: InboxRecord[]): NewRecord[] {
  const encoded = new Map<Event, Uint8Array>();
  return fanout.map((record) => {
    const writer = new BinaryWriter();
    if (record.userId !== "") writer.tag(INBOX_USER_ID, WireType.LengthDelimited).string(record.userId);
    if (record.event) {
      let bytes = encoded.get(record.event);
      if (!bytes) {
        bytes = toBinary(EventSchema, record.event);
        encoded.set(record.event, bytes);
      }
      writer.tag(INBOX_EVENT, WireType.LengthDelimited).bytes(bytes);
    }
    return { key: record.userId, value: writer.finish() };
  });
}

/**
 * The bytes of `result` with `records` (from {@link encodeFanout}) as its `fanout`:
 * what a dedup entry remembers, so a redelivered command can re-emit the same events.
 * Equal to encoding the result with the fan-out set, reusing the records' bytes.
 */
export function encodeStoredResult(result: CommandResult, records: NewRecord[]): Uint8Array {
  const writer = new BinaryWriter();
  writer.raw(toBinary(CommandResultSchema, result.fanout.length === 0 ? result : { ...result, fanout: [] }));
  for (const record of records) writer.tag(RESULT_FANOUT, WireType.LengthDelimited).bytes(record.value);
  return writer.finish();
}
