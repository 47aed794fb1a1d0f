import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { describeEventLog } from "../../../testkit/src/event-log.js";
import { waitFor } from "../../../testkit/src/wait.js";
import type { AppendResult, EventLog, LogRecord } from "./port.js";
import { createSqliteEventLog, type SqliteEventLogOptions } from "./sqlite.js";

describeEventLog("sqlite (file)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "parley-log-"));
  const path = join(dir, "log.db");
  let current = createSqliteEventLog({ path });
  return {
    log: current,
    reopen: async () => {
      await current.close();
      current = createSqliteEventLog({ path });
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describeEventLog(
  "sqlite (:memory:)",
  async () => {
    const log = createSqliteEventLog({ path: ":memory:" });
    return { log, cleanup: () => log.close() };
  },
  { durable: false },
);

const bytes = (text: string) => new TextEncoder().encode(text);
const noop = async () => {};

describe("createSqliteEventLog", () => {
  let dir: string;
  let path: string;
  const opened: EventLog[] = [];

  function open(options: Partial<SqliteEventLogOptions> = {}): EventLog {
    const log = createSqliteEventLog({ path, ...options });
    opened.push(log);
    return log;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "parley-log-"));
    path = join(dir, "log.db");
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((log) => log.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a second consumer of the same group and topic while the first runs", async () => {
    const log = open();
    await log.ensureTopic("t", 2);
    await log.ensureTopic("u", 2);
    const first = await log.consume({ topic: "t", group: "g", handler: noop });
    await expect(log.consume({ topic: "t", group: "g", handler: noop })).rejects.toThrow(
      /^unable to consume topic "t" as group "g"; this group already has a running consumer/,
    );
    // Other groups, and the same group on another topic, are independent.
    const other = await log.consume({ topic: "t", group: "h", handler: noop });
    const elsewhere = await log.consume({ topic: "u", group: "g", handler: noop });
    await first.stop();
    const again = await log.consume({ topic: "t", group: "g", handler: noop });
    await Promise.all([other.stop(), elsewhere.stop(), again.stop()]);
  });

  it("fails only the failing append of appends committed together, leaving no gap in offsets", async () => {
    const log = open();
    await log.ensureTopic("t", 1);
    // Another connection makes SQLite refuse one record, as a full disk or a broken
    // file would refuse a write.
    const saboteur = new DatabaseSync(path);
    saboteur.exec(
      "CREATE TRIGGER poison BEFORE INSERT ON records WHEN NEW.key = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned record'); END",
    );
    saboteur.close();
    // Requested in one turn, so they share one group commit.
    const results = await Promise.allSettled([
      log.append("t", [{ key: "a", value: bytes("1") }]),
      log.append("t", [
        { key: "b", value: bytes("2") },
        { key: "poison", value: bytes("x") },
      ]),
      log.append("t", [{ key: "c", value: bytes("3") }]),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason.message).toMatch(
      /^unable to append to topic "t"; .*poisoned record/,
    );
    const offsets = results.flatMap((r) =>
      r.status === "fulfilled" ? r.value.map((a: AppendResult) => a.offset) : [],
    );
    expect(offsets).toEqual([0, 1]);
    const seen: string[] = [];
    const consumer = await log.consume({
      topic: "t",
      group: "g",
      handler: async (records) => {
        for (const r of records) seen.push(new TextDecoder().decode(r.value));
      },
    });
    await waitFor(() => seen.length === 2);
    await consumer.stop();
    expect(seen).toEqual(["1", "3"]);
  });

  it("rejects operations on an unknown topic", async () => {
    const log = open();
    await expect(log.append("missing", [{ key: "k", value: bytes("v") }])).rejects.toThrow(
      'unable to append to topic "missing"; the topic does not exist (call ensureTopic first)',
    );
    await expect(log.consume({ topic: "missing", group: "g", handler: noop })).rejects.toThrow(
      /^unable to consume topic "missing"; the topic does not exist/,
    );
    expect(() => log.partitionFor("missing", "k")).toThrow(
      /^unable to choose a partition for topic "missing"/,
    );
  });

  it("keeps a topic's partition count fixed and validates arguments", async () => {
    const log = open();
    await log.ensureTopic("t", 4);
    await log.ensureTopic("t", 4);
    await expect(log.ensureTopic("t", 2)).rejects.toThrow(
      /^unable to ensure topic "t"; it exists with 4 partitions, not 2/,
    );
    await expect(log.ensureTopic("t", 8)).rejects.toThrow(/it exists with 4 partitions, not 8/);
    await expect(log.ensureTopic("z", 0)).rejects.toThrow(/partitions must be a positive integer/);
    await expect(log.ensureTopic("", 1)).rejects.toThrow(/non-empty string/);
    await expect(log.consume({ topic: "t", group: "g", handler: noop, maxBatch: 0 })).rejects.toThrow(
      /maxBatch must be a positive integer/,
    );
    await expect(log.append("t", [{ key: "k", value: "text" as unknown as Uint8Array }])).rejects.toThrow(
      /Uint8Array value/,
    );
    // The partition count survives a reopen.
    await log.close();
    await expect(open().ensureTopic("t", 3)).rejects.toThrow(/it exists with 4 partitions, not 3/);
  });

  it("rejects every call after close(), and close() is idempotent", async () => {
    const log = open();
    await log.ensureTopic("t", 1);
    await log.close();
    await log.close();
    await expect(log.append("t", [{ key: "k", value: bytes("v") }])).rejects.toThrow(
      "unable to append; the event log is closed",
    );
    await expect(log.ensureTopic("t", 1)).rejects.toThrow("unable to ensure topic; the event log is closed");
    await expect(log.consume({ topic: "t", group: "g", handler: noop })).rejects.toThrow(
      "unable to consume; the event log is closed",
    );
    expect(() => log.partitionFor("t", "k")).toThrow("unable to choose a partition; the event log is closed");
  });

  it("close() waits for handler calls in flight, which may still append, then stops consumers", async () => {
    const log = open();
    await log.ensureTopic("in", 1);
    await log.ensureTopic("out", 1);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    await log.consume({
      topic: "in",
      group: "g",
      handler: async (records) => {
        calls++;
        await gate;
        await log.append(
          "out",
          records.map(({ key, value }) => ({ key, value })),
        );
      },
    });
    await log.append("in", [{ key: "k", value: bytes("v") }]);
    await waitFor(() => calls === 1, 10_000, "the handler call");
    const closing = log.close();
    release();
    await closing;
    expect(calls).toBe(1);
    const reopened = open();
    const seen: LogRecord[] = [];
    await reopened.consume({ topic: "out", group: "check", handler: async (r) => void seen.push(...r) });
    await waitFor(() => seen.length === 1, 10_000, "the record the handler appended");
    // The handler's call was committed before close, so "g" has nothing left.
    const again: LogRecord[] = [];
    await reopened.consume({ topic: "in", group: "g", handler: async (r) => void again.push(...r) });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(again).toEqual([]);
  });

  it("wakes consumers on append in the same process without waiting for the poll", async () => {
    const log = open({ pollIntervalMs: 60_000 });
    await log.ensureTopic("t", 2);
    const seen: LogRecord[] = [];
    await log.consume({ topic: "t", group: "g", handler: async (r) => void seen.push(...r) });
    await new Promise((resolve) => setTimeout(resolve, 20)); // the loops are idle now
    const started = Date.now();
    await log.append("t", [
      { key: "a", value: bytes("1") },
      { key: "b", value: bytes("2") },
    ]);
    await waitFor(() => seen.length === 2, 2_000, "both records");
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("backs off between redeliveries (50 ms doubling)", async () => {
    const log = open();
    await log.ensureTopic("t", 1);
    const attempts: number[] = [];
    await log.consume({
      topic: "t",
      group: "g",
      handler: async () => {
        attempts.push(Date.now());
        if (attempts.length < 4) throw new Error("not yet");
      },
    });
    await log.append("t", [{ key: "k", value: bytes("v") }]);
    await waitFor(() => attempts.length === 4, 10_000, "four attempts");
    const gaps = attempts.slice(1).map((at, i) => at - (attempts[i] as number));
    expect(gaps[0]).toBeGreaterThanOrEqual(45);
    expect(gaps[1]).toBeGreaterThanOrEqual(95);
    expect(gaps[2]).toBeGreaterThanOrEqual(195);
  });

  it("prunes only records every group has committed, keeping maxRecordsPerPartition", async () => {
    const log = open({ retention: { maxRecordsPerPartition: 2 } });
    await log.ensureTopic("t", 1);
    const offsetsLeft = () => {
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        const rows = db.prepare('SELECT "offset" AS o FROM records WHERE topic = ? ORDER BY 1').all("t");
        return rows.map((row) => row.o);
      } finally {
        db.close();
      }
    };
    // Group "slow" handles offsets 0-3, then fails on everything after.
    let slowCommitted = 0;
    const slow = await log.consume({
      topic: "t",
      group: "slow",
      maxBatch: 4,
      handler: async (records) => {
        if ((records[0]?.offset ?? 0) >= 4) throw new Error("stuck");
        slowCommitted += records.length;
      },
    });
    const fast: LogRecord[] = [];
    await log.consume({ topic: "t", group: "fast", handler: async (r) => void fast.push(...r) });
    await log.append(
      "t",
      Array.from({ length: 10 }, (_, i) => ({ key: "k", value: bytes(String(i)) })),
    );
    await waitFor(() => fast.length === 10, 10_000, "fast to handle all");
    await waitFor(() => slowCommitted === 4, 10_000, "slow to handle four");
    await slow.stop();
    await log.append("t", [{ key: "k", value: bytes("10") }]); // triggers nothing by itself
    await waitFor(() => fast.length === 11, 10_000, "fast to handle the last");
    // "slow" has committed up to 4: nothing from 4 on may go.
    expect(offsetsLeft()).toEqual([4, 5, 6, 7, 8, 9, 10]);

    const rest: LogRecord[] = [];
    await log.consume({ topic: "t", group: "slow", handler: async (r) => void rest.push(...r) });
    await waitFor(() => rest.length === 7, 10_000, "slow to catch up");
    await waitFor(() => offsetsLeft().length === 2, 10_000, "the prune");
    expect(offsetsLeft()).toEqual([9, 10]);

    // A group that starts now starts from the oldest record left.
    const late: LogRecord[] = [];
    await log.consume({ topic: "t", group: "late", handler: async (r) => void late.push(...r) });
    await waitFor(() => late.length === 2, 10_000, "late to catch up");
    expect(late.map((r) => r.offset)).toEqual([9, 10]);
    // Offsets keep counting after a reopen even though the older records are gone.
    await log.close();
    const results: AppendResult[] = await open().append("t", [{ key: "k", value: bytes("11") }]);
    expect(results).toEqual([{ partition: 0, offset: 11 }]);
  });

  it("rejects an invalid retention or poll interval", () => {
    expect(() => open({ retention: { maxRecordsPerPartition: 0 } })).toThrow(
      /^unable to create the event log; retention.maxRecordsPerPartition must be an integer >= 1/,
    );
    expect(() => open({ pollIntervalMs: 0 })).toThrow(/pollIntervalMs must be positive/);
  });

  it("keeps every acknowledged append when the process is killed right after", async () => {
    const module = fileURLToPath(new URL("./sqlite.ts", import.meta.url));
    const script = `
      import { createSqliteEventLog } from ${JSON.stringify(module)};
      const log = createSqliteEventLog({ path: process.argv[1] });
      await log.ensureTopic("t", 3);
      let acknowledged = 0;
      for (let i = 0; i < 200; i++) {
        await log.append("t", [{ key: "k" + (i % 7), value: new TextEncoder().encode(String(i)) }]);
        acknowledged++;
      }
      process.stdout.write("acknowledged " + acknowledged + "\\n");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, path], {
      cwd: fileURLToPath(new URL("../../../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, signal) => resolve(signal)),
    );
    await waitFor(
      () => stdout.includes("acknowledged 200"),
      20_000,
      `the child to append (stderr: ${stderr})`,
    );
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    const log = open();
    const seen: LogRecord[] = [];
    await log.consume({ topic: "t", group: "g", handler: async (r) => void seen.push(...r) });
    await waitFor(() => seen.length >= 200, 10_000, "200 records");
    expect(seen.map((r) => Number(new TextDecoder().decode(r.value))).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
  }, 30_000);
});
