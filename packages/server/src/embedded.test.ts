import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { create } from "@bufbuild/protobuf";
import { SendMessageRequestSchema } from "@parley/protocol";
import { CreateDirectSchema } from "@parley/protocol/internal";
import { silentLogger } from "@parley/router";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedParley, type EmbeddedParley } from "./embedded.js";

describe("createEmbeddedParley", () => {
  let dir: string | undefined;
  let parley: EmbeddedParley | undefined;
  afterEach(async () => {
    await parley?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("keeps the event log's handled records to logRecordsPerPartition, while history keeps every message", async () => {
    dir = await mkdtemp(join(tmpdir(), "parley-embedded-"));
    const logPath = join(dir, "log.db");
    parley = await createEmbeddedParley({
      logPath,
      historyPath: join(dir, "history.db"),
      logRecordsPerPartition: 3,
      verifyToken: async () => {
        throw new Error("no tokens in this test");
      },
      logger: silentLogger,
    });
    const { commands, history } = parley.deps;
    const conversationId = "d:ann:ben";
    await commands.submit({
      actorId: "ann",
      conversationId,
      kind: { case: "createDirect", value: create(CreateDirectSchema, { peerUserId: "ben" }) },
    });
    for (let i = 1; i <= 40; i++) {
      await commands.submit({
        actorId: "ann",
        conversationId,
        kind: {
          case: "sendMessage",
          value: create(SendMessageRequestSchema, { conversationId, clientMsgId: `m${i}`, text: `${i}` }),
        },
      });
    }
    // Wait until both users' streams hold every event (the inbox consumer handled them all).
    for (const user of ["ann", "ben"]) {
      for (let tries = 0; (await history.readUserEvents(user, 0, 100)).last < 41; tries++) {
        if (tries > 500) throw new Error(`${user}'s events did not arrive`);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await parley.close();
    parley = undefined;

    const db = new DatabaseSync(logPath, { readOnly: true });
    const rows = db
      .prepare("SELECT topic, partition, count(*) AS n FROM records GROUP BY topic, partition")
      .all() as { topic: string; partition: number; n: number }[];
    db.close();
    // 41 commands went to one commands partition, 82 inbox records to two inbox partitions
    // (or one): without retention those partitions would hold them all.
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.n).toBeLessThanOrEqual(3);
  });
});
