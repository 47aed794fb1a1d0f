import { randomBytes, randomUUID } from "node:crypto";
import type { AppendResult, ConsumeOptions, Consumer, EventLog, LogRecord, NewRecord } from "@parley/router";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sleep, waitFor } from "./wait.js";

/** A log to test, made fresh for every test by the factory given to {@link describeEventLog}. */
export interface EventLogUnderTest {
  /** The log under test. */
  log: EventLog;
  /**
   * Closes `log` (if it is still open) and opens a new log over the same storage, as a
   * restarted process would. Omit it for logs without durable storage; the tests that
   * need it are then skipped.
   */
  reopen?: () => Promise<EventLog>;
  /** Closes whichever log is open and disposes of what the test stored. */
  cleanup: () => Promise<void>;
}

/** Deadline for anything eventual; generous because a shared Kafka is slow to rebalance. */
const DEADLINE_MS = 20_000;
/** Per-test timeout: a few deadlines. */
const TEST_TIMEOUT_MS = 90_000;
/** How long to keep listening after the expected records arrived, to catch extra deliveries. */
const SETTLE_MS = 300;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A name no other test (or earlier run against a shared broker) uses. */
function unique(kind: string): string {
  return `parley-test-${kind}-${randomUUID().slice(0, 12)}`;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

function text(value: string): Uint8Array {
  return encoder.encode(value);
}

function where(record: { partition: number; offset: number }): string {
  return `${record.partition}:${record.offset}`;
}

/**
 * Collects what a consumer receives and notes any broken delivery rule (records of
 * several partitions in one call, offsets going backwards within a partition, two
 * handler calls at once on one partition) instead of throwing, since a throw would
 * cause redelivery.
 */
function collector() {
  const records: LogRecord[] = [];
  const calls: LogRecord[][] = [];
  const problems: string[] = [];
  const inFlight = new Map<number, number>();
  const lastOffset = new Map<number, number>();
  const handler = async (batch: LogRecord[]): Promise<void> => {
    const first = batch[0];
    if (!first) {
      problems.push("handler called with no records");
      return;
    }
    const busy = inFlight.get(first.partition) ?? 0;
    if (busy > 0) problems.push(`two handler calls at once on partition ${first.partition}`);
    inFlight.set(first.partition, busy + 1);
    for (const record of batch) {
      if (record.partition !== first.partition) problems.push(`one call mixed partitions: ${where(record)}`);
      const last = lastOffset.get(record.partition) ?? -1;
      if (record.offset <= last) problems.push(`offset ${where(record)} delivered after offset ${last}`);
      lastOffset.set(record.partition, record.offset);
    }
    calls.push(batch);
    records.push(...batch);
    // Give another call a chance to overlap, so the one-at-a-time rule is really tested.
    await sleep(0);
    inFlight.set(first.partition, (inFlight.get(first.partition) ?? 1) - 1);
  };
  /** Values received for `key`, decoded as text, in delivery order. */
  const valuesOf = (key: string): string[] =>
    records.filter((r) => r.key === key).map((r) => decoder.decode(r.value));
  return { records, calls, problems, handler, valuesOf };
}

/** Records with text values `${key}#${n}`, `perKey` of each key, keys interleaved. */
function numbered(keys: string[], perKey: number, from = 0): NewRecord[] {
  const records: NewRecord[] = [];
  for (let n = from; n < from + perKey; n++) {
    for (const key of keys) records.push({ key, value: text(`${key}#${n}`) });
  }
  return records;
}

function expectNoDuplicates(records: LogRecord[]): void {
  const positions = records.map(where);
  expect(new Set(positions).size, "a record was delivered twice").toBe(positions.length);
}

/** 0, 1, ... partitions - 1. */
function allPartitions(partitions: number): number[] {
  return Array.from({ length: partitions }, (_, partition) => partition);
}

/**
 * A group member for the assignment tests: a {@link collector} whose consume options
 * also record every `onAssignment` call, and which notes as a problem any record of a
 * partition the member had not been told it owns when the record arrived, and any
 * report that is not in ascending order.
 */
function member(label: string) {
  const got = collector();
  const reports: number[][] = [];
  let owned = new Set<number>();
  const options: Pick<ConsumeOptions, "handler" | "onAssignment"> = {
    handler: async (batch) => {
      const partition = batch[0]?.partition;
      if (partition !== undefined && !owned.has(partition)) {
        got.problems.push(`${label} got records of partition ${partition} while it owned [${[...owned]}]`);
      }
      await got.handler(batch);
    },
    onAssignment: (partitions) => {
      const copy = [...partitions];
      if (copy.some((partition, i) => i > 0 && partition <= (copy[i - 1] as number))) {
        got.problems.push(`${label} was assigned [${copy}], not in ascending order`);
      }
      reports.push(copy);
      owned = new Set(copy);
    },
  };
  /** The partitions of the latest report (none before the first). */
  const owns = (): number[] => [...owned].sort((a, b) => a - b);
  return { label, got, reports, options, owns };
}

/**
 * The conformance suite for {@link EventLog}: every implementation (the in-process
 * SQLite log, Kafka) must pass it. Topic and group names are unique per test, so the
 * suite can run against a shared broker.
 *
 * @param name - the implementation's name, shown in the test report.
 * @param factory - makes a fresh log for each test.
 */
/** What the log under test can do, known when the suite is registered. */
export interface EventLogFeatures {
  /** The log keeps records and offsets across close and reopen (`reopen` is given); durability tests run only then. */
  durable: boolean;
  /**
   * Several consumers of one group and topic run at once and share its partitions
   * (Kafka). When false, a group has one consumer at a time and a second `consume` of
   * the same group and topic rejects while the first runs (the in-process log); the
   * hand-over test then moves the partitions between consumers one after the other.
   * @defaultValue false
   */
  sharedGroups?: boolean;
}

export function describeEventLog(
  name: string,
  factory: () => Promise<EventLogUnderTest>,
  features: EventLogFeatures = { durable: true },
): void {
  describe(`EventLog conformance: ${name}`, () => {
    let underTest: EventLogUnderTest;
    let log: EventLog;
    let consumers: Consumer[] = [];

    beforeEach(async () => {
      underTest = await factory();
      log = underTest.log;
      consumers = [];
    });

    afterEach(async () => {
      await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
      await underTest.cleanup();
    });

    async function consume(options: ConsumeOptions, on: EventLog = log): Promise<Consumer> {
      const consumer = await on.consume(options);
      consumers.push(consumer);
      return consumer;
    }

    async function topicWith(partitions: number, on: EventLog = log): Promise<string> {
      const topic = unique("topic");
      await on.ensureTopic(topic, partitions);
      return topic;
    }

    it(
      "maps a key to the same partition every time, within range, spread over all partitions",
      async () => {
        const topic = await topicWith(4);
        await log.ensureTopic(topic, 4); // idempotent with the same count
        const keys = Array.from({ length: 200 }, (_, i) => `conversation-${i}`);
        const used = new Set<number>();
        for (const key of keys) {
          const partition = log.partitionFor(topic, key);
          expect(Number.isInteger(partition)).toBe(true);
          expect(partition).toBeGreaterThanOrEqual(0);
          expect(partition).toBeLessThan(4);
          expect(log.partitionFor(topic, key)).toBe(partition);
          used.add(partition);
        }
        expect(used.size).toBe(4);
        const results = await log.append(
          topic,
          keys.map((key) => ({ key, value: text(key) })),
        );
        results.forEach((result, i) => {
          expect(result.partition).toBe(log.partitionFor(topic, keys[i] as string));
        });
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "returns increasing offsets per partition from append",
      async () => {
        const topic = await topicWith(3);
        const keys = ["a", "b", "c", "d", "e", "f"];
        const results: AppendResult[] = [];
        for (let round = 0; round < 3; round++) {
          const batch = numbered(keys, 5, round * 5);
          const appended = await log.append(topic, batch);
          expect(appended).toHaveLength(batch.length);
          results.push(...appended);
        }
        const last = new Map<number, number>();
        for (const result of results) {
          expect(Number.isInteger(result.offset)).toBe(true);
          expect(result.offset).toBeGreaterThan(last.get(result.partition) ?? -1);
          last.set(result.partition, result.offset);
        }
        expect(await log.append(topic, [])).toEqual([]);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "delivers every record exactly once, in per-key order, with the exact key and value bytes",
      async () => {
        const topic = await topicWith(3);
        const got = collector();
        await consume({ topic, group: unique("group"), handler: got.handler });
        const keys = ["alice", "bob", "ключ-🙂", "conversation/42", "x"];
        const larger = randomBytes(64);
        const sent = new Map<string, NewRecord>();
        const perKey = new Map<string, string[]>(keys.map((key) => [key, []]));
        for (let round = 0; round < 10; round++) {
          const batch: NewRecord[] = keys.map((key, i) => {
            const kind = (round + i) % 4;
            const value =
              kind === 0
                ? new Uint8Array(0)
                : kind === 1
                  ? new Uint8Array([0, 255, 0, 128, 10, 13])
                  : kind === 2
                    ? larger.subarray(8 + round, 40 + round) // a view into a larger buffer
                    : randomBytes(1 + round * 100);
            return { key, value };
          });
          const results = await log.append(topic, batch);
          results.forEach((result, i) => {
            const record = batch[i] as NewRecord;
            sent.set(where(result), record);
            perKey.get(record.key)?.push(hex(record.value));
          });
        }
        await waitFor(() => got.records.length >= sent.size, DEADLINE_MS, `${sent.size} records`);
        await sleep(SETTLE_MS);
        expect(got.problems).toEqual([]);
        expect(got.records).toHaveLength(sent.size);
        expectNoDuplicates(got.records);
        for (const record of got.records) {
          const original = sent.get(where(record));
          expect(original, `unexpected record at ${where(record)}`).toBeDefined();
          expect(record.topic).toBe(topic);
          expect(record.key).toBe(original?.key);
          expect(hex(record.value)).toBe(hex(original?.value ?? new Uint8Array()));
          expect(record.partition).toBe(log.partitionFor(topic, record.key));
          expect(Number.isFinite(record.timestampMs)).toBe(true);
        }
        for (const key of keys) {
          const received = got.records.filter((r) => r.key === key).map((r) => hex(r.value));
          expect(received).toEqual(perKey.get(key));
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "delivers records appended before consume() started, from the beginning for a new group",
      async () => {
        const topic = await topicWith(2);
        const keys = ["k1", "k2", "k3", "k4"];
        const appended = await log.append(topic, numbered(keys, 5));
        const got = collector();
        await consume({ topic, group: unique("group"), handler: got.handler });
        await waitFor(() => got.records.length >= 20, DEADLINE_MS, "20 records");
        await sleep(SETTLE_MS);
        expect(got.problems).toEqual([]);
        expect(got.records.map(where).sort()).toEqual(appended.map(where).sort());
        for (const key of keys) {
          expect(got.valuesOf(key)).toEqual([0, 1, 2, 3, 4].map((n) => `${key}#${n}`));
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "gives every group every record, independently",
      async () => {
        const topic = await topicWith(2);
        const keys = ["a", "b", "c", "d", "e"];
        await log.append(topic, numbered(keys, 10));
        const first = collector();
        const second = collector();
        await consume({ topic, group: unique("group-a"), handler: first.handler });
        await consume({ topic, group: unique("group-b"), handler: second.handler });
        await log.append(topic, numbered(keys, 10, 10));
        await waitFor(
          () => first.records.length >= 100 && second.records.length >= 100,
          DEADLINE_MS,
          "100 records in both groups",
        );
        await sleep(SETTLE_MS);
        for (const got of [first, second]) {
          expect(got.problems).toEqual([]);
          expect(got.records).toHaveLength(100);
          expectNoDuplicates(got.records);
          for (const key of keys) {
            expect(got.valuesOf(key)).toEqual(Array.from({ length: 20 }, (_, n) => `${key}#${n}`));
          }
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "redelivers the same records after the handler throws, before any later record",
      async () => {
        const topic = await topicWith(1);
        const appended = await log.append(topic, numbered(["only"], 5));
        const attempts: LogRecord[][] = [];
        const delivered: LogRecord[] = [];
        const errors: { error: unknown; records: LogRecord[] }[] = [];
        let failuresLeft = 2;
        await consume({
          topic,
          group: unique("group"),
          handler: async (records) => {
            attempts.push(records);
            if (failuresLeft > 0) {
              failuresLeft--;
              throw new Error("handler failed on purpose");
            }
            delivered.push(...records);
          },
          onError: (error, records) => errors.push({ error, records }),
        });
        await waitFor(() => attempts.length >= 1, DEADLINE_MS, "a failed attempt");
        const later = await log.append(topic, numbered(["only"], 5, 5));
        await waitFor(() => delivered.length >= 10, DEADLINE_MS, "10 records handled");
        await sleep(SETTLE_MS);

        expect(attempts.length).toBeGreaterThanOrEqual(3);
        const firstAttempt = (attempts[0] ?? []).map(where);
        expect(firstAttempt[0]).toBe(where(appended[0] as AppendResult));
        for (const attempt of attempts.slice(1, 3)) {
          // The same records again (a retry may bring more after them, never fewer or others).
          expect(attempt.map(where).slice(0, firstAttempt.length)).toEqual(firstAttempt);
        }
        expect(delivered.map(where)).toEqual([...appended, ...later].map(where));
        expect(delivered.map((r) => decoder.decode(r.value))).toEqual(
          Array.from({ length: 10 }, (_, n) => `only#${n}`),
        );
        expect(errors).toHaveLength(2);
        for (const [i, reported] of errors.entries()) {
          expect((reported.error as Error).message).toBe("handler failed on purpose");
          expect(reported.records.map(where)).toEqual((attempts[i] ?? []).map(where));
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "resumes a group after stop() right after its last committed record: nothing twice, nothing lost",
      async () => {
        const topic = await topicWith(2);
        const group = unique("group");
        const keys = ["p", "q", "r"];
        const before = await log.append(topic, numbered(keys, 4));
        const first = collector();
        const consumer = await consume({ topic, group, handler: first.handler });
        await waitFor(() => first.records.length >= 12, DEADLINE_MS, "12 records");
        await consumer.stop();
        const after = await log.append(topic, numbered(keys, 4, 4));
        await sleep(SETTLE_MS);
        expect(first.records.map(where).sort()).toEqual(before.map(where).sort());

        const second = collector();
        await consume({ topic, group, handler: second.handler });
        await waitFor(() => second.records.length >= 12, DEADLINE_MS, "12 more records");
        await sleep(SETTLE_MS);
        expect(first.records).toHaveLength(12);
        expect(second.problems).toEqual([]);
        expect(second.records.map(where).sort()).toEqual(after.map(where).sort());
        for (const key of keys) {
          expect(second.valuesOf(key)).toEqual([4, 5, 6, 7].map((n) => `${key}#${n}`));
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "stop() waits for the handler call in flight, commits it, and delivers nothing more",
      async () => {
        const topic = await topicWith(1);
        const group = unique("group");
        const appended = await log.append(topic, numbered(["s"], 3));
        let release: () => void = () => {};
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        const firstCalls: LogRecord[][] = [];
        const consumer = await consume({
          topic,
          group,
          handler: async (records) => {
            firstCalls.push(records);
            await gate;
          },
        });
        await waitFor(() => firstCalls.length === 1, DEADLINE_MS, "the first handler call");
        let stopped = false;
        const stopping = consumer.stop().then(() => {
          stopped = true;
        });
        await sleep(100);
        expect(stopped, "stop() resolved while the handler was still running").toBe(false);
        release();
        await stopping;
        const later = await log.append(topic, numbered(["s"], 1, 3));
        await sleep(SETTLE_MS);
        expect(firstCalls).toHaveLength(1);

        const handled = (firstCalls[0] ?? []).map(where);
        const second = collector();
        await consume({ topic, group, handler: second.handler });
        await waitFor(
          () => handled.length + second.records.length >= 4,
          DEADLINE_MS,
          "the rest of the records",
        );
        await sleep(SETTLE_MS);
        // What the stopped consumer handled was committed: the next one starts right after it.
        expect(second.problems).toEqual([]);
        expect([...handled, ...second.records.map(where)]).toEqual([...appended, ...later].map(where));
      },
      TEST_TIMEOUT_MS,
    );

    if (features.durable)
      it(
        "keeps records, offsets and committed group positions across a reopen",
        async () => {
          if (!underTest.reopen) throw new Error(`${name} declared durable but its factory gave no reopen()`);
          const topic = await topicWith(3);
          const group = unique("group");
          const keys = Array.from({ length: 10 }, (_, i) => `user-${i}`);
          const partitionsBefore = keys.map((key) => log.partitionFor(topic, key));
          const consumedBefore = await log.append(topic, numbered(keys, 3));
          const first = collector();
          const consumer = await consume({ topic, group, handler: first.handler });
          await waitFor(() => first.records.length >= 30, DEADLINE_MS, "30 records");
          await consumer.stop();
          const pending = await log.append(topic, numbered(keys, 1, 3));
          const lastOffset = new Map<number, number>();
          for (const result of [...consumedBefore, ...pending]) {
            lastOffset.set(result.partition, Math.max(lastOffset.get(result.partition) ?? -1, result.offset));
          }

          log = await underTest.reopen();
          expect(keys.map((key) => log.partitionFor(topic, key))).toEqual(partitionsBefore);
          const appendedAfter = await log.append(topic, numbered(keys, 1, 4));
          for (const result of appendedAfter) {
            // Offsets continue where they were; nothing is overwritten.
            expect(result.offset).toBeGreaterThan(lastOffset.get(result.partition) ?? -1);
          }

          const resumed = collector();
          await consume({ topic, group, handler: resumed.handler }, log);
          await waitFor(() => resumed.records.length >= 20, DEADLINE_MS, "20 unconsumed records");
          const fresh = collector();
          await consume({ topic, group: unique("group"), handler: fresh.handler }, log);
          await waitFor(() => fresh.records.length >= 50, DEADLINE_MS, "all 50 records for a new group");
          await sleep(SETTLE_MS);
          expect(resumed.problems).toEqual([]);
          expect(resumed.records.map(where).sort()).toEqual([...pending, ...appendedAfter].map(where).sort());
          expect(fresh.records).toHaveLength(50);
          for (const key of keys) {
            expect(resumed.valuesOf(key)).toEqual([`${key}#3`, `${key}#4`]);
            expect(fresh.valuesOf(key)).toEqual([0, 1, 2, 3, 4].map((n) => `${key}#${n}`));
          }
        },
        TEST_TIMEOUT_MS,
      );

    it(
      "tells a lone consumer it owns every partition before delivering their records, and [] once stop() finished",
      async () => {
        const topic = await topicWith(4);
        const keys = Array.from({ length: 40 }, (_, i) => `owner-${i}`);
        expect(new Set(keys.map((key) => log.partitionFor(topic, key))).size).toBe(4);
        const before = await log.append(topic, numbered(keys, 2));
        const lone = member("the consumer");
        const consumer = await consume({ topic, group: unique("group"), ...lone.options });
        await waitFor(() => lone.owns().length === 4, DEADLINE_MS, "an assignment of 4 partitions");
        const during = await log.append(topic, numbered(keys, 2, 2));
        const total = before.length + during.length;
        await waitFor(() => lone.got.records.length >= total, DEADLINE_MS, `${total} records`);
        await sleep(SETTLE_MS);
        // Every record arrived after its partition was reported (checked on arrival).
        expect(lone.got.problems).toEqual([]);
        expect(lone.got.records).toHaveLength(total);
        expect(lone.reports.length).toBeGreaterThanOrEqual(1);
        for (const report of lone.reports) expect(report).toEqual(allPartitions(4));

        const reported = lone.reports.length;
        await consumer.stop();
        expect(lone.reports.slice(reported), "reports during stop()").toEqual([[]]);
        await log.append(topic, numbered(keys, 1, 4));
        await sleep(SETTLE_MS);
        expect(lone.reports.slice(reported), "reports after stop()").toEqual([[]]);
        expect(lone.got.records).toHaveLength(total);
      },
      TEST_TIMEOUT_MS,
    );

    it(
      features.sharedGroups
        ? "splits a group's partitions between two members (disjoint, covering the topic) and gives them back to the one left when the other stops"
        : "moves a group's partitions from a stopped consumer to the next one and back, each told what it owns before its records arrive",
      async () => {
        const topic = await topicWith(4);
        const group = unique("group");
        const keys = Array.from({ length: 40 }, (_, i) => `share-${i}`);
        const appended: AppendResult[] = [];
        const members: ReturnType<typeof member>[] = [];
        const join = async (label: string) => {
          const joining = member(label);
          members.push(joining);
          const consumer = await consume({ topic, group, ...joining.options });
          return { ...joining, consumer };
        };
        const delivered = () => members.flatMap((m) => m.got.records);
        /** Appends a round of records and waits until the members have them all. */
        const round = async (n: number) => {
          appended.push(...(await log.append(topic, numbered(keys, 1, n))));
          await waitFor(
            () => delivered().length >= appended.length,
            DEADLINE_MS,
            `${appended.length} records`,
          );
        };

        const first = await join("first");
        await waitFor(() => first.owns().length === 4, DEADLINE_MS, "the first member owning 4 partitions");
        await round(0);

        if (features.sharedGroups) {
          const second = await join("second");
          await waitFor(
            () => {
              const a = first.owns();
              const b = second.owns();
              return (
                a.length > 0 &&
                b.length > 0 &&
                a.every((partition) => !b.includes(partition)) &&
                [...a, ...b].length === 4
              );
            },
            DEADLINE_MS,
            "two members owning disjoint shares of the 4 partitions",
          );
          expect([...first.owns(), ...second.owns()].sort()).toEqual(allPartitions(4));
          const secondBefore = second.got.records.length;
          await round(1);
          await round(2);
          // Both members work: each got the records of its own partitions (checked on arrival).
          expect(second.got.records.length).toBeGreaterThan(secondBefore);
          await second.consumer.stop();
          expect(second.reports.at(-1)).toEqual([]);
          await waitFor(
            () => first.owns().length === 4,
            DEADLINE_MS,
            "the first member owning the 4 partitions again",
          );
          await round(3);
        } else {
          // One consumer per group at a time: the partitions move by stopping and starting.
          await expect(log.consume({ topic, group, handler: async () => {} })).rejects.toThrow();
          await first.consumer.stop();
          expect(first.reports.at(-1)).toEqual([]);
          const second = await join("second");
          await waitFor(
            () => second.owns().length === 4,
            DEADLINE_MS,
            "the second member owning 4 partitions",
          );
          await round(1);
          await second.consumer.stop();
          expect(second.reports.at(-1)).toEqual([]);
          const back = await join("first again");
          await waitFor(
            () => back.owns().length === 4,
            DEADLINE_MS,
            "the first member back owning 4 partitions",
          );
          await round(2);
        }

        await sleep(SETTLE_MS);
        for (const m of members) expect(m.got.problems, m.label).toEqual([]);
        expectNoDuplicates(delivered());
        expect(delivered().map(where).sort()).toEqual(appended.map(where).sort());
        for (const key of keys) {
          const values = delivered()
            .filter((record) => record.key === key)
            .sort((x, y) => x.offset - y.offset)
            .map((record) => decoder.decode(record.value));
          expect(values).toEqual(values.map((_, n) => `${key}#${n}`));
        }
      },
      TEST_TIMEOUT_MS,
    );

    it(
      "delivers 2,000 records of 50 keys over 4 partitions, keeping per-key order",
      async () => {
        const topic = await topicWith(4);
        const keys = Array.from({ length: 50 }, (_, i) => `room-${i}`);
        const got = collector();
        // Half before the consumer starts, half while it runs.
        for (let n = 0; n < 20; n += 5) await log.append(topic, numbered(keys, 5, n));
        await consume({ topic, group: unique("group"), handler: got.handler, maxBatch: 100 });
        for (let n = 20; n < 40; n += 5) await log.append(topic, numbered(keys, 5, n));
        await waitFor(() => got.records.length >= 2000, DEADLINE_MS, "2,000 records");
        await sleep(SETTLE_MS);
        expect(got.problems).toEqual([]);
        expect(got.records).toHaveLength(2000);
        expectNoDuplicates(got.records);
        expect(new Set(got.records.map((r) => r.partition)).size).toBe(4);
        expect(Math.max(...got.calls.map((call) => call.length))).toBeLessThanOrEqual(100);
        for (const key of keys) {
          expect(got.valuesOf(key)).toEqual(Array.from({ length: 40 }, (_, n) => `${key}#${n}`));
        }
      },
      TEST_TIMEOUT_MS,
    );
  });
}
