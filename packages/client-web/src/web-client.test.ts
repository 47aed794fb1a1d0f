import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type BrowserRig, startBrowserRig } from "./testing/browser-rig.js";
import type { ShownMessage } from "./testing/harness-page.js";
import { createPeer, type PeerStream } from "./testing/peer.js";

let rig: BrowserRig;
const streams: PeerStream[] = [];
let users = 0;
/** A user id no other test of this file uses. */
const user = (name: string) => `${name}-${++users}`;

beforeAll(async () => {
  rig = await startBrowserRig();
});
afterAll(async () => {
  await rig?.close();
});
beforeEach(async () => {
  // Each test starts with no client connected, so stream counts are its own.
  await poll(() => rig.streams()).toBe(0);
});
afterEach(async ({ task }) => {
  await Promise.all(streams.splice(0).map((s) => s.close()));
  await rig.afterTest(task, "web-client");
});

/** Polls until the assertion holds; generous, because the machine is shared. */
const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 20_000, interval: 50 });

const TAB = "tab";

async function startClient(page: Page, userId: string, token: string): Promise<void> {
  await page.evaluate((options) => window.parley.startClient("tab", options), { userId, token });
}

const stateOf = (page: Page) => page.evaluate((h) => window.parley.client(h).state, TAB);
const isLeader = (page: Page) => page.evaluate((h) => window.parley.client(h).isLeader, TAB);
const shown = (page: Page, conversationId: string): Promise<ShownMessage[]> =>
  page.evaluate(([h, id]) => window.parley.shown(h, id), [TAB, conversationId] as const);
const send = (page: Page, conversationId: string, text: string) =>
  page.evaluate(([h, id, t]) => window.parley.send(h, id, t), [TAB, conversationId, text] as const);
const hasConversation = (page: Page, conversationId: string) =>
  page.evaluate(([h, id]) => window.parley.client(h).conversation(id) !== undefined, [
    TAB,
    conversationId,
  ] as const);
const texts = (messages: readonly { text: string }[]) => messages.map((m) => m.text);
/** Messages the server has confirmed (not pending or failed). */
const confirmed = (messages: ShownMessage[]) => messages.filter((m) => m.seq > 0 && m.status !== "pending");

/** Two tabs of `userId` in one context, both live; returns [leader, follower]. */
async function twoTabs(context: BrowserContext, userId: string, token: string): Promise<[Page, Page]> {
  const first = await rig.openPage(context);
  await startClient(first, userId, token);
  const second = await rig.openPage(context);
  await startClient(second, userId, token);
  await poll(() => Promise.all([stateOf(first), stateOf(second)])).toEqual(["live", "live"]);
  const leaders = await Promise.all([isLeader(first), isLeader(second)]);
  expect(leaders.filter(Boolean)).toHaveLength(1);
  return leaders[0] ? [first, second] : [second, first];
}

describe("createParleyWebClient in Chromium", () => {
  it("keeps messages written offline across a reload and delivers them once, in order, after reconnecting", async () => {
    const alice = user("alice");
    const bob = await createPeer(rig.baseUrl, user("bob"));
    const conversationId = await bob.direct(alice);
    const inbox = bob.subscribe();
    streams.push(inbox);
    await poll(() => inbox.caughtUp).toBe(true);

    const context = await rig.newContext();
    await rig.cacheAppShell(context);
    const page = await rig.openPage(context);
    const token = await rig.devLogin(alice);
    await startClient(page, alice, token);
    await poll(() => stateOf(page)).toBe("live");
    await poll(() => hasConversation(page, conversationId)).toBe(true);

    await context.setOffline(true);
    await poll(() => stateOf(page)).toBe("offline");
    const written = ["one", "two", "three"];
    const ids: string[] = [];
    for (const text of written) ids.push(await send(page, conversationId, text));
    expect((await shown(page, conversationId)).map((m) => [m.text, m.status])).toEqual(
      written.map((text) => [text, "pending"]),
    );

    // Reload while still offline: the outbox comes back from IndexedDB.
    await rig.reload(page);
    await startClient(page, alice, token);
    expect((await shown(page, conversationId)).map((m) => [m.text, m.status, m.clientMsgId])).toEqual(
      written.map((text, i) => [text, "pending", ids[i]]),
    );
    expect(await stateOf(page)).toBe("offline");

    await context.setOffline(false);
    await poll(async () => confirmed(await shown(page, conversationId)).map((m) => [m.text, m.seq])).toEqual([
      ["one", 1],
      ["two", 2],
      ["three", 3],
    ]);
    await poll(() => page.evaluate((h) => window.parley.client(h).outbox().length, TAB)).toBe(0);
    await poll(() => texts(inbox.created)).toEqual(written);
    expect(inbox.created.map((m) => [m.seq, m.senderId, m.clientMsgId])).toEqual(
      written.map((_, i) => [i + 1, alice, ids[i]]),
    );
    expect((await bob.history(conversationId)).map((m) => [m.seq, m.text])).toEqual([
      [1, "one"],
      [2, "two"],
      [3, "three"],
    ]);
  });

  it("holds one server stream for two tabs, and both show incoming messages and each other's sends", async () => {
    const alice = user("alice");
    const bob = await createPeer(rig.baseUrl, user("bob"));
    const conversationId = await bob.direct(alice);
    const token = await rig.devLogin(alice);
    const [leader, follower] = await twoTabs(await rig.newContext(), alice, token);
    expect(await rig.streams()).toBe(1);

    await bob.send(conversationId, "hello, both tabs");
    for (const page of [leader, follower]) {
      await poll(async () => texts(confirmed(await shown(page, conversationId)))).toEqual([
        "hello, both tabs",
      ]);
    }

    await send(leader, conversationId, "from the leader tab");
    await send(follower, conversationId, "from the follower tab");
    const expected = ["hello, both tabs", "from the leader tab", "from the follower tab"].sort();
    for (const page of [leader, follower]) {
      await poll(async () => texts(confirmed(await shown(page, conversationId))).sort()).toEqual(expected);
      const seqs = confirmed(await shown(page, conversationId)).map((m) => m.seq);
      expect(seqs).toEqual([1, 2, 3]);
    }
    expect(texts(await bob.history(conversationId)).sort()).toEqual(expected);
    // The same order in both tabs, and the server's.
    const serverOrder = texts(await bob.history(conversationId));
    expect(texts(await shown(leader, conversationId))).toEqual(serverOrder);
    expect(texts(await shown(follower, conversationId))).toEqual(serverOrder);
    expect(await rig.streams()).toBe(1);
  });

  it("hands the connection over when the leader tab closes, losing and repeating nothing", async () => {
    const alice = user("alice");
    const bob = await createPeer(rig.baseUrl, user("bob"));
    const conversationId = await bob.direct(alice);
    const token = await rig.devLogin(alice);
    const [leader, follower] = await twoTabs(await rig.newContext(), alice, token);

    await bob.send(conversationId, "bob before");
    await poll(async () => texts(confirmed(await shown(follower, conversationId)))).toEqual(["bob before"]);

    // The leader tab closes while bob and the follower tab both send.
    await Promise.all([
      leader.close(),
      bob.send(conversationId, "bob during"),
      send(follower, conversationId, "tab during 1").then(() =>
        send(follower, conversationId, "tab during 2"),
      ),
    ]);
    await poll(() => isLeader(follower)).toBe(true);
    await poll(() => stateOf(follower)).toBe("live");

    await bob.send(conversationId, "bob after");
    await send(follower, conversationId, "tab after");

    const all = ["bob before", "bob during", "tab during 1", "tab during 2", "bob after", "tab after"];
    await poll(async () => texts(confirmed(await shown(follower, conversationId))).sort()).toEqual(
      [...all].sort(),
    );
    const final = await shown(follower, conversationId);
    expect(final.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const history = await bob.history(conversationId);
    expect(history.map((m) => [m.seq, m.text])).toEqual(final.map((m) => [m.seq, m.text]));
    // The follower's own sends keep their order.
    const mine = texts(final).filter((t) => t.startsWith("tab "));
    expect(mine).toEqual(["tab during 1", "tab during 2", "tab after"]);
    await poll(() => rig.streams()).toBe(1);
  });
});
