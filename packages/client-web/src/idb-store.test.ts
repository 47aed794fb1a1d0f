import { clientStoreCasesFor } from "@parley/client/testing";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type BrowserRig, startBrowserRig } from "./testing/browser-rig.js";

let rig: BrowserRig;
let page: Page;
let databases = 0;
/** A database name no earlier test used. */
const freshName = () => `parley-test-${++databases}`;

beforeAll(async () => {
  rig = await startBrowserRig();
  page = await rig.openPage();
});
afterAll(async () => {
  await rig?.close();
});
describe("createIndexedDbClientStore in Chromium: ClientStore conformance", () => {
  beforeEach(({ onTestFailed, task }) => {
    onTestFailed(() => rig.saveFailure(`idb-store ${task.name}`));
  });

  for (const c of clientStoreCasesFor({ sharedHandles: true })) {
    it(c.name, async () => {
      await page.evaluate(({ caseName, name }) => window.parley.runStoreCase(caseName, name), {
        caseName: c.name,
        name: freshName(),
      });
    });
  }
});

describe("createIndexedDbClientStore in Chromium", () => {
  afterEach(async ({ task }) => {
    await rig.afterTest(task, "idb-store");
    page = await rig.openPage();
  });

  it("keeps the outbox and the cache across a page reload", async () => {
    const name = freshName();
    await page.evaluate(async (db) => {
      const { proto } = window.parley;
      window.parley.openStore("s", db);
      await window.parley.store("s").write({
        cursor: "cursor-7",
        conversations: [proto.create(proto.ConversationSchema, { conversationId: "c1", title: "Team" })],
        messages: [
          proto.create(proto.MessageSchema, {
            conversationId: "c1",
            seq: 1,
            text: "hello",
            createdAt: proto.timestampFromMs(1_700_000_000_123),
            attachment: { url: "https://x/y.png", contentType: "image/png", sizeBytes: 2n ** 40n },
          }),
        ],
        outbox: [
          {
            id: "01J00000000000000000000001",
            conversationId: "c1",
            op: { kind: "send", text: "queued while offline", replyToSeq: 1 },
            createdAt: 1_700_000_000_000,
            status: "pending",
            attempts: 0,
          },
        ],
      });
    }, name);
    await rig.reload(page);
    const after = await page.evaluate(async (db) => {
      window.parley.openStore("s", db);
      const store = window.parley.store("s");
      const state = await store.load();
      const [message] = await store.messages("c1", { limit: 10, from: "newest" });
      return {
        cursor: state.cursor,
        titles: state.conversations.map((c) => c.title),
        outbox: state.outbox.map((item) => (item.op.kind === "send" ? item.op.text : item.op.kind)),
        text: message?.text,
        createdAtMs: message?.createdAt
          ? Number(message.createdAt.seconds) * 1000 + message.createdAt.nanos / 1e6
          : 0,
        sizeBytes: String(message?.attachment?.sizeBytes),
        typeName: message?.$typeName,
      };
    }, name);
    expect(after).toEqual({
      cursor: "cursor-7",
      titles: ["Team"],
      outbox: ["queued while offline"],
      text: "hello",
      createdAtMs: 1_700_000_000_123,
      sizeBytes: String(2n ** 40n),
      typeName: "parley.v1.Message",
    });
  });

  it("is shared by the tabs of one browser profile and not seen by another profile", async () => {
    const name = freshName();
    const sameProfile = await rig.openPage(page.context());
    const otherProfile = await rig.openPage();
    const outboxOf = (p: Page) =>
      p.evaluate(async (db) => {
        window.parley.openStore("s", db);
        return (await window.parley.store("s").load()).outbox.map((item) => item.id);
      }, name);
    await page.evaluate(async (db) => {
      window.parley.openStore("s", db);
      await window.parley.store("s").write({
        outbox: [
          {
            id: "01J00000000000000000000001",
            conversationId: "c1",
            op: { kind: "markRead", seq: 3 },
            createdAt: 1,
            status: "pending",
            attempts: 0,
          },
        ],
      });
    }, name);
    expect(await outboxOf(sameProfile)).toEqual(["01J00000000000000000000001"]);
    expect(await outboxOf(otherProfile)).toEqual([]);
  });

  it("lets another tab upgrade the database, then says the data belongs to a newer version", async () => {
    const name = freshName();
    await page.evaluate(async (db) => {
      window.parley.openStore("s", db);
      await window.parley.store("s").write({ cursor: "c" });
    }, name);
    const newer = await rig.openPage(page.context());
    // A newer app version in another tab upgrades the schema: this must not stay
    // blocked by the first tab's open connection.
    const upgraded = await newer.evaluate(
      (db) =>
        new Promise<string>((resolve) => {
          const request = indexedDB.open(db, 2);
          request.onblocked = () => resolve("blocked");
          request.onsuccess = () => {
            request.result.close();
            resolve("upgraded");
          };
          request.onerror = () => resolve(`error: ${request.error?.message}`);
        }),
      name,
    );
    expect(upgraded).toBe("upgraded");
    const error = await page.evaluate(() =>
      window.parley
        .store("s")
        .load()
        .then(
          () => "loaded",
          (err: Error) => err.message,
        ),
    );
    expect(error).toMatch(/^unable to open the store ".*"; the database was upgraded by a newer version/);
  });

  it("forgets everything once deleted (sign-out)", async () => {
    const name = freshName();
    const after = await page.evaluate(async (db) => {
      window.parley.openStore("s", db);
      const store = window.parley.store("s");
      await store.write({ cursor: "c", meta: { deviceId: "d1" } });
      await store.close();
      await window.parley.deleteStore(db);
      window.parley.openStore("s", db);
      const state = await window.parley.store("s").load();
      return { cursor: state.cursor, meta: state.meta };
    }, name);
    expect(after).toEqual({ cursor: "", meta: {} });
  });

  it("refuses a message without a key before writing anything", async () => {
    const name = freshName();
    const result = await page.evaluate(async (db) => {
      const { proto } = window.parley;
      window.parley.openStore("s", db);
      const store = window.parley.store("s");
      const error = await store
        .write({
          cursor: "next",
          messages: [proto.create(proto.MessageSchema, { conversationId: "c1", seq: 0 })],
        })
        .then(
          () => "written",
          (err: Error) => err.message,
        );
      return { error, cursor: (await store.load()).cursor };
    }, name);
    expect(result).toEqual({
      error: "unable to write to the store; messages[0] has seq 0; expected 1 or more",
      cursor: "",
    });
  });
});
