import { randomUUID } from "node:crypto";
import { type AddressInfo, createServer } from "node:net";
import { ErrorReason, REASONS, reasonOf } from "@parley/protocol";
import {
  type AppendResult,
  type ConsumeOptions,
  type Consumer,
  type EventLog,
  type Logger,
  type LogRecord,
  type NewRecord,
  partitionForKey,
  silentLogger,
} from "@parley/router";
import { describeEventLog, sleep, waitFor } from "@parley/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { createKafkaEventLog } from "./kafka-log.js";
import { created, deleteCreated, FAST_TEST_OPTIONS, recording, testBrokers } from "./test-kafka.js";

const DEADLINE_MS = 20_000;
const TEST_TIMEOUT_MS = 60_000;
/** How long to keep listening after the expected records arrived, to catch extra deliveries. */
const SETTLE_MS = 300;

function openLog(): EventLog {
  return createKafkaEventLog({ brokers: testBrokers(), ...FAST_TEST_OPTIONS });
}

describeEventLog(
  "kafka",
  async () => {
    const made = created();
    let log = recording(openLog(), made);
    return {
      log,
      // A restarted process learns partition counts from ensureTopic (the pipeline calls it
      // before anything else), so the reopened log ensures the topics the old one did.
      reopen: async () => {
        await log.close();
        log = recording(openLog(), made);
        for (const [topic, partitions] of made.topics) await log.ensureTopic(topic, partitions);
        return log;
      },
      cleanup: async () => {
        await log.close();
        await deleteCreated(made);
      },
    };
  },
  { durable: true, sharedGroups: true },
);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function unique(kind: string): string {
  return `parley-kafka-${kind}-${randomUUID().slice(0, 12)}`;
}

function numbered(keys: string[], perKey: number, from = 0): NewRecord[] {
  const records: NewRecord[] = [];
  for (let n = from; n < from + perKey; n++) {
    for (const key of keys) records.push({ key, value: encoder.encode(`${key}#${n}`) });
  }
  return records;
}

function where(record: { partition: number; offset: number }): string {
  return `${record.partition}:${record.offset}`;
}

describe("Kafka event log", () => {
  const made = created();
  const logs: EventLog[] = [];
  const consumers: Consumer[] = [];

  /** A log of its own, as another process would have. */
  function process(): EventLog {
    const log = recording(openLog(), made);
    logs.push(log);
    return log;
  }

  async function consume(log: EventLog, options: ConsumeOptions): Promise<Consumer> {
    const consumer = await log.consume(options);
    consumers.push(consumer);
    return consumer;
  }

  afterEach(async () => {
    await Promise.allSettled(consumers.splice(0).map((consumer) => consumer.stop()));
    await Promise.allSettled(logs.splice(0).map((log) => log.close()));
    await deleteCreated(made);
  });

  it(
    "creates topics idempotently, refuses another partition count, and knows partitions only after learning them",
    async () => {
      const log = process();
      const topic = unique("topic");
      expect(() => log.partitionFor(topic, "k")).toThrow(/not known yet/);
      await expect(log.append(topic, numbered(["k"], 1))).rejects.toThrow(/does not exist/);
      await log.ensureTopic(topic, 3);
      await log.ensureTopic(topic, 3);
      await expect(log.ensureTopic(topic, 4)).rejects.toThrow(/exists with 3 partitions, not 4/);
      await expect(log.ensureTopic(topic, 2)).rejects.toThrow(/exists with 3 partitions, not 2/);

      // Another process learns the count from its first append.
      const other = process();
      const [result] = await other.append(topic, numbered(["k"], 1));
      expect(other.partitionFor(topic, "k")).toBe(result?.partition);
      expect(other.partitionFor(topic, "k")).toBe(partitionForKey("k", 3));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "gives concurrent appends their own offsets, each pointing at its own record, copied when append is called",
    async () => {
      const log = process();
      const topic = unique("topic");
      await log.ensureTopic(topic, 3);
      const keys = Array.from({ length: 12 }, (_, i) => `room-${i}`);
      // 60 appends at once of 1 to 3 records: sent in few requests, answered one by one.
      const appends = Array.from({ length: 60 }, (_, i) =>
        Array.from({ length: 1 + (i % 3) }, (_, j) => ({
          key: keys[(i + j) % keys.length] as string,
          value: encoder.encode(`append-${i}-${j}`),
        })),
      );
      // Values are views into one scratch buffer, overwritten right after each call.
      const scratch = new Uint8Array(3 * 64);
      const results = await Promise.all(
        appends.map((records) => {
          const views = records.map(({ key, value }, j) => {
            scratch.set(value, j * 64);
            return { key, value: scratch.subarray(j * 64, j * 64 + value.length) };
          });
          const appending = log.append(topic, views);
          scratch.fill(0x21);
          return appending;
        }),
      );
      const expected = new Map<string, string>();
      results.forEach((appended, i) => {
        appended.forEach((result, j) => {
          expect(result.partition).toBe(log.partitionFor(topic, appends[i]?.[j]?.key as string));
          expected.set(where(result), `append-${i}-${j}`);
        });
      });
      const total = appends.reduce((sum, records) => sum + records.length, 0);
      expect(expected.size).toBe(total);
      for (let partition = 0; partition < 3; partition++) {
        const offsets = [...expected.keys()]
          .filter((position) => position.startsWith(`${partition}:`))
          .map((position) => Number(position.split(":")[1]))
          .sort((a, b) => a - b);
        expect(offsets).toEqual(offsets.map((_, i) => i));
      }
      const got: LogRecord[] = [];
      await consume(log, {
        topic,
        group: unique("group"),
        handler: async (records) => void got.push(...records),
      });
      await waitFor(() => got.length >= total, DEADLINE_MS, `${total} records`);
      for (const record of got) expect(decoder.decode(record.value)).toBe(expected.get(where(record)));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "consumes records appended before a group first joined from the oldest record, and resumes a group from its commit",
    async () => {
      const producer = process();
      const topic = unique("topic");
      await producer.ensureTopic(topic, 2);
      const keys = ["a", "b", "c", "d"];
      const before = await producer.append(topic, numbered(keys, 3));

      // A group that never committed starts at the oldest record, wherever it runs.
      const group = unique("group");
      const first: LogRecord[] = [];
      const consumer = await consume(process(), {
        topic,
        group,
        handler: async (records) => void first.push(...records),
      });
      await waitFor(() => first.length >= 12, DEADLINE_MS, "12 records");
      await consumer.stop();
      expect(first.map(where).sort()).toEqual(before.map(where).sort());
      expect(Math.min(...first.map((r) => r.offset))).toBe(0);

      // The same group later starts from its committed offsets, not from the oldest record.
      const after = await producer.append(topic, numbered(keys, 2, 3));
      const second: LogRecord[] = [];
      await consume(process(), { topic, group, handler: async (records) => void second.push(...records) });
      await waitFor(() => second.length >= 8, DEADLINE_MS, "8 records");
      await sleep(SETTLE_MS);
      expect(second.map(where).sort()).toEqual(after.map(where).sort());
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "does not commit records whose handler threw: the next member of the group gets them again, while other partitions go on",
    async () => {
      const log = process();
      const topic = unique("topic");
      await log.ensureTopic(topic, 2);
      const [poison, healthy] = twoKeysOnDifferentPartitions(log, topic);
      await log.append(topic, [
        { key: poison, value: encoder.encode("poison#0") },
        { key: healthy, value: encoder.encode("healthy#0") },
      ]);
      const group = unique("group");
      const healthyValues: string[] = [];
      let poisonAttempts = 0;
      const failing = await consume(log, {
        topic,
        group,
        handler: async (records) => {
          for (const record of records) {
            if (record.key === poison) {
              poisonAttempts++;
              throw new Error("cannot handle this record");
            }
            healthyValues.push(decoder.decode(record.value));
          }
        },
      });
      await waitFor(
        () => poisonAttempts >= 3 && healthyValues.length >= 1,
        DEADLINE_MS,
        "retries and progress",
      );
      // The failing partition does not hold the other one back.
      await log.append(topic, [{ key: healthy, value: encoder.encode("healthy#1") }]);
      await waitFor(() => healthyValues.length >= 2, DEADLINE_MS, "the later healthy record");
      expect(healthyValues).toEqual(["healthy#0", "healthy#1"]);
      await failing.stop();

      const next: LogRecord[] = [];
      await consume(process(), { topic, group, handler: async (records) => void next.push(...records) });
      await waitFor(() => next.length >= 1, DEADLINE_MS, "the poison record again");
      await sleep(SETTLE_MS);
      expect(next.map((r) => decoder.decode(r.value))).toEqual(["poison#0"]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "hands a leaving member's partitions to the other member without losing a record",
    async () => {
      const topic = unique("topic");
      const group = unique("group");
      const producer = process();
      await producer.ensureTopic(topic, 4);
      const keys = Array.from({ length: 16 }, (_, i) => `user-${i}`);
      const delivered = new Map<string, LogRecord[]>([
        ["first", []],
        ["second", []],
      ]);
      const handlerOf =
        (member: string) =>
        async (records: LogRecord[]): Promise<void> => {
          delivered.get(member)?.push(...records);
        };
      const appended: AppendResult[] = [];
      const first = await consume(process(), { topic, group, handler: handlerOf("first") });
      appended.push(...(await producer.append(topic, numbered(keys, 5, 0))));
      // The second member joins: the group rebalances and splits the partitions.
      await consume(process(), { topic, group, handler: handlerOf("second") });
      appended.push(...(await producer.append(topic, numbered(keys, 5, 5))));
      await waitFor(
        () => (delivered.get("second")?.length ?? 0) > 0,
        DEADLINE_MS,
        "the second member to get partitions",
      );
      // The first member leaves while records keep coming: the second takes everything.
      const leaving = first.stop();
      appended.push(...(await producer.append(topic, numbered(keys, 5, 10))));
      await leaving;
      const countAtLeave = delivered.get("second")?.length ?? 0;
      appended.push(...(await producer.append(topic, numbered(keys, 5, 15))));

      const all = (): LogRecord[] => [...(delivered.get("first") ?? []), ...(delivered.get("second") ?? [])];
      const expected = new Set(appended.map(where));
      await waitFor(
        () => new Set(all().map(where)).size >= expected.size,
        DEADLINE_MS,
        `${expected.size} distinct records`,
      );
      await sleep(SETTLE_MS);
      expect(new Set(all().map(where))).toEqual(expected);
      // After the leave, the second member received records of every partition.
      const afterLeave = (delivered.get("second") ?? []).slice(countAtLeave);
      expect(new Set(afterLeave.map((r) => r.partition))).toEqual(new Set([0, 1, 2, 3]));
      // Per key, what each member got is in order.
      for (const records of delivered.values()) {
        for (const key of keys) {
          const values = records
            .filter((r) => r.key === key)
            .map((r) => Number(decoder.decode(r.value).split("#")[1]));
          expect(values).toEqual([...values].sort((a, b) => a - b));
        }
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "keeps appending after an append failed (the producer is replaced)",
    async () => {
      const warnings: string[] = [];
      const logger: Logger = {
        ...silentLogger,
        warn: (message) => void warnings.push(message),
        withContext: () => logger,
      };
      const log = createKafkaEventLog({
        brokers: testBrokers(),
        ...FAST_TEST_OPTIONS,
        logger,
        kafkajsLogLevel: "nothing",
        retry: { retries: 1, initialRetryTimeMs: 50, maxRetryTimeMs: 100 },
      });
      logs.push(log);
      const gone = unique("topic");
      const kept = unique("topic");
      await log.ensureTopic(gone, 1);
      await log.ensureTopic(kept, 2);
      made.topics.set(kept, 2);
      expect(await log.append(gone, numbered(["k"], 1))).toEqual([{ partition: 0, offset: 0 }]);
      // The log still believes in the topic; the broker no longer has it.
      await deleteCreated({ topics: new Map([[gone, 1]]), groups: new Set() });
      await expect(log.append(gone, numbered(["k"], 1))).rejects.toThrow(/unable to append to topic/);
      expect(warnings).toContain("kafka append failed; replacing the producer");
      const results = await log.append(kept, numbered(["a", "b", "c"], 2));
      expect(results.map((r) => r.partition)).toEqual(
        numbered(["a", "b", "c"], 2).map((r) => log.partitionFor(kept, r.key)),
      );
      const got: LogRecord[] = [];
      const group = unique("group");
      made.groups.add(group);
      await consume(log, {
        topic: kept,
        group,
        handler: async (records) => void got.push(...records),
      });
      await waitFor(() => got.length >= 6, DEADLINE_MS, "6 records");
      expect(got.map(where).sort()).toEqual(results.map(where).sort());
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "fails with the dependency-unavailable error, in bounded time, when no broker answers",
    async () => {
      // A port nothing listens on (connection refused), and a server that accepts
      // connections and never answers (every request times out).
      const refused = await closedPort();
      const silent = createServer(() => {});
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      try {
        for (const port of [refused, (silent.address() as AddressInfo).port]) {
          const log = createKafkaEventLog({
            brokers: [`127.0.0.1:${port}`],
            connectionTimeoutMs: 500,
            requestTimeoutMs: 500,
            retry: { retries: 2, initialRetryTimeMs: 50, maxRetryTimeMs: 200 },
          });
          logs.push(log);
          const topic = unique("topic");
          const attempts: [string, () => Promise<unknown>][] = [
            ["ensureTopic", () => log.ensureTopic(topic, 2)],
            ["append", () => log.append(topic, numbered(["k"], 1))],
            ["consume", () => log.consume({ topic, group: unique("group"), handler: async () => {} })],
          ];
          for (const [name, attempt] of attempts) {
            const started = Date.now();
            const error = await attempt().then(
              () => new Error(`${name} succeeded`),
              (reason: unknown) => reason,
            );
            expect(reasonOf(error), `${name}: ${String(error)}`).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
            // The Connect code the server answers with: unavailable.
            expect((error as { code?: unknown }).code).toBe(REASONS[ErrorReason.DEPENDENCY_UNAVAILABLE].code);
            expect((error as { rawMessage?: unknown }).rawMessage).toMatch(
              /^unable to .*; Kafka is unavailable/,
            );
            expect(Date.now() - started, `${name} took too long`).toBeLessThan(15_000);
          }
          await log.close();
          await expect(log.append(topic, [])).rejects.toThrow(/closed/);
        }
      } finally {
        silent.close();
      }
    },
    TEST_TIMEOUT_MS,
  );
});

/** Two keys that land on different partitions of the topic. */
function twoKeysOnDifferentPartitions(log: EventLog, topic: string): [string, string] {
  const first = "key-0";
  for (let i = 1; i < 100; i++) {
    const key = `key-${i}`;
    if (log.partitionFor(topic, key) !== log.partitionFor(topic, first)) return [first, key];
  }
  throw new Error("no two keys on different partitions");
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
