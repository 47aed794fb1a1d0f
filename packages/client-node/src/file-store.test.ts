import { spawn } from "node:child_process";
import {
  appendFile,
  copyFile,
  mkdtemp,
  readFile,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import type { ClientStore } from "@parley/client";
import { clientStoreCasesFor } from "@parley/client/testing";
import { MessageSchema } from "@parley/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { createFileClientStore, type FileClientStoreOptions } from "./file-store.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const KILL_WRITER = fileURLToPath(new URL("./fixtures/kill-writer.ts", import.meta.url));

const dirs: string[] = [];
const opened: ClientStore[] = [];

async function freshDir(): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), "parley-file-store-")));
  dirs.push(dir);
  return dir;
}

async function openStore(options: FileClientStoreOptions): Promise<ClientStore> {
  const store = createFileClientStore(options);
  opened.push(store);
  return store;
}

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const message = (seq: number, text = `message ${seq}`) =>
  create(MessageSchema, { conversationId: "c1", seq, text });

const allSeqs = async (store: ClientStore) =>
  (await store.messages("c1", { limit: Number.MAX_SAFE_INTEGER, from: "oldest" })).map((m) => m.seq);

describe("file client store: conformance", () => {
  for (const c of clientStoreCasesFor({ sharedHandles: false })) {
    it(c.name, async () => {
      const dir = await freshDir();
      await c.run({ open: () => openStore({ dir }) });
    });
  }
});

describe("file client store: conformance, compacting on every write", () => {
  for (const c of clientStoreCasesFor({ sharedHandles: false })) {
    it(c.name, async () => {
      const dir = await freshDir();
      await c.run({ open: () => openStore({ dir, compactBytes: 0, fsync: false }) });
    });
  }
});

describe("file client store", () => {
  it("keeps every write that resolved when its process is killed with SIGKILL", async () => {
    const dir = await freshDir();
    const child = spawn(
      process.execPath,
      ["--conditions=source", "--import", "tsx", KILL_WRITER, dir, "20000"],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once("exit", (_code, signal) => resolve(signal)),
    );
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text;
      // Kill it mid-stream, right after a write resolved, while more are under way.
      if (/^ok 150$/m.test(stdout)) child.kill("SIGKILL");
    });
    const signal = await exited;
    expect(signal, `the writer should have been killed; its stderr:\n${stderr}`).toBe("SIGKILL");
    const acknowledged = Math.max(...[...stdout.matchAll(/^ok (\d+)$/gm)].map((m) => Number(m[1])));
    expect(acknowledged).toBeGreaterThanOrEqual(150);

    // The dead writer's lock is taken over; every acknowledged batch is there, whole.
    const store = await openStore({ dir });
    const state = await store.load();
    const seqs = await allSeqs(store);
    const written = seqs.length;
    expect(written).toBeGreaterThanOrEqual(acknowledged);
    expect(seqs).toEqual(Array.from({ length: written }, (_, i) => i + 1));
    expect(state.cursor).toBe(`cursor-${written}`);
    expect(state.meta).toEqual({ last: String(written) });
    expect(state.outbox).toHaveLength(written);
  });

  it("drops a torn last journal line and appends after it cleanly", async () => {
    const dir = await freshDir();
    const first = await openStore({ dir });
    await first.write({ cursor: "c1", messages: [message(1)] });
    await first.write({ cursor: "c2", messages: [message(2)] });
    await first.close();
    // A write cut short by a crash: half a line, no newline.
    const journal = join(dir, "journal.jsonl");
    const lines = (await readFile(journal, "utf8")).split("\n");
    await appendFile(journal, (lines[1] ?? "").replace('"n":2', '"n":3').slice(0, 25));

    const second = await openStore({ dir });
    expect((await second.load()).cursor).toBe("c2");
    expect(await allSeqs(second)).toEqual([1, 2]);
    await second.write({ cursor: "c3", messages: [message(3)] });
    await second.close();

    const third = await openStore({ dir });
    expect((await third.load()).cursor).toBe("c3");
    expect(await allSeqs(third)).toEqual([1, 2, 3]);
  });

  it("refuses to open a journal damaged before its last line", async () => {
    const dir = await freshDir();
    const store = await openStore({ dir });
    for (let seq = 1; seq <= 3; seq++) await store.write({ messages: [message(seq)] });
    await store.close();
    const journal = join(dir, "journal.jsonl");
    const lines = (await readFile(journal, "utf8")).split("\n");
    lines[1] = "{ not json";
    await writeFile(journal, lines.join("\n"));
    const damaged = await openStore({ dir });
    await expect(damaged.load()).rejects.toThrow(
      /unable to open the file client store in .*; journal\.jsonl line 2 is damaged/,
    );
    // The failed open released its lock, and the next call tries again.
    await writeFile(journal, "");
    expect((await damaged.load()).cursor).toBe("");
  });

  it("compacts the journal into the snapshot and keeps everything", async () => {
    const dir = await freshDir();
    const store = await openStore({ dir, compactBytes: 10_000 });
    for (let seq = 1; seq <= 200; seq++) {
      await store.write({ cursor: `cursor-${seq}`, messages: [message(seq, "x".repeat(200))] });
    }
    const journalSize = (await stat(join(dir, "journal.jsonl"))).size;
    const snapshotSize = (await stat(join(dir, "snapshot.json"))).size;
    // 200 lines of ~330 bytes were written; the journal only holds what came after the last compaction.
    expect(snapshotSize).toBeGreaterThan(0);
    expect(journalSize).toBeLessThanOrEqual(Math.max(10_000, snapshotSize) + 1_000);
    await store.close();

    const reopened = await openStore({ dir, compactBytes: 10_000 });
    expect((await reopened.load()).cursor).toBe("cursor-200");
    expect(await allSeqs(reopened)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it("loses and repeats nothing when a crash left the journal full after a compaction", async () => {
    const dir = await freshDir();
    const journal = join(dir, "journal.jsonl");
    const store = await openStore({ dir, compactBytes: 1_000_000 });
    await store.write({ cursor: "cursor-1", messages: [message(1)], outbox: [outboxItem("o1")] });
    await store.write({ deleteOutbox: ["o1"], messages: [message(2)] });
    await store.write({ reset: true, cursor: "cursor-3", messages: [message(3)] });
    await store.close();
    await copyFile(journal, `${journal}.before`);

    // Compaction on open (compactBytes 0), then put the old journal back as if emptying it never reached the disk.
    const compacting = await openStore({ dir, compactBytes: 0 });
    expect((await compacting.load()).cursor).toBe("cursor-3");
    await compacting.close();
    expect((await stat(journal)).size).toBe(0);
    await copyFile(`${journal}.before`, journal);

    const reopened = await openStore({ dir });
    const state = await reopened.load();
    expect(state.cursor).toBe("cursor-3");
    expect(state.outbox).toEqual([]);
    expect(await allSeqs(reopened)).toEqual([3]);
    await reopened.write({ cursor: "cursor-4", messages: [message(4)] });
    await reopened.close();
    const last = await openStore({ dir });
    expect((await last.load()).cursor).toBe("cursor-4");
    expect(await allSeqs(last)).toEqual([3, 4]);
  });

  it("refuses a second open of the same folder until the first handle is closed", async () => {
    const dir = await freshDir();
    const first = await openStore({ dir });
    await first.write({ cursor: "c1" });
    const second = await openStore({ dir });
    await expect(second.load()).rejects.toThrow(
      `unable to open the file client store in ${dir}; it is already open in this process (pid ${process.pid})`,
    );
    await first.close();
    expect((await second.load()).cursor).toBe("c1");
  });

  it("refuses a second open through another path to the same folder", async () => {
    const dir = await freshDir();
    const alias = join(await freshDir(), "alias");
    await symlink(dir, alias);
    const first = await openStore({ dir });
    await first.write({ cursor: "c1" });
    await expect((await openStore({ dir: alias })).load()).rejects.toThrow(
      "it is already open in this process",
    );
  });

  it("refuses a folder locked by another running process, naming it", async () => {
    const dir = await freshDir();
    const other = process.ppid; // alive: it started this test process
    await writeFile(join(dir, "lock"), `${JSON.stringify({ pid: other, hostname: hostname() })}\n`);
    await expect(createFileClientStore({ dir }).load()).rejects.toThrow(`it is in use by process ${other}`);
  });

  it("takes over a lock left by a process that has exited", async () => {
    const dir = await freshDir();
    const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await new Promise((resolve) => child.once("exit", resolve));
    await writeFile(join(dir, "lock"), `${JSON.stringify({ pid: child.pid, hostname: hostname() })}\n`);
    const store = await openStore({ dir });
    await store.write({ cursor: "c1" });
    expect(JSON.parse(await readFile(join(dir, "lock"), "utf8"))).toEqual({
      pid: process.pid,
      hostname: hostname(),
    });
  });
});

function outboxItem(id: string) {
  return {
    id,
    conversationId: "c1",
    op: { kind: "send" as const, text: "hi", replyToSeq: 0 },
    createdAt: 1,
    status: "pending" as const,
    attempts: 0,
  };
}
