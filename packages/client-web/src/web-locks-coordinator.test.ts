import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type BrowserRig, startBrowserRig } from "./testing/browser-rig.js";

let rig: BrowserRig;

beforeAll(async () => {
  rig = await startBrowserRig();
});
afterAll(async () => {
  await rig?.close();
});
afterEach(async ({ task }) => {
  await rig.afterTest(task, "coordinator");
});

/** Polls until the assertion holds; generous, because the machine is shared. */
const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000, interval: 50 });

const leader = (page: Page) => page.evaluate(() => window.parley.coordinator.view().leader);
const received = (page: Page) => page.evaluate(() => window.parley.coordinator.view().messages);

/** Web Locks named `name` in the page's storage scope: how many are held, how many wait. */
async function lockQueue(page: Page, name: string): Promise<{ held: number; pending: number }> {
  return page.evaluate(async (lockName) => {
    const state = await navigator.locks.query();
    return {
      held: (state.held ?? []).filter((lock) => lock.name === lockName).length,
      pending: (state.pending ?? []).filter((lock) => lock.name === lockName).length,
    };
  }, name);
}

/** Opens `count` harness pages in one context, each with a coordinator named `name`. */
async function tabs(count: number, name: string): Promise<{ context: BrowserContext; pages: Page[] }> {
  const context = await rig.newContext();
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const page = await rig.openPage(context);
    await page.evaluate((n) => window.parley.coordinator.start(n), name);
    pages.push(page);
  }
  // Every coordinator has asked for the lock: one holds it, the rest wait.
  await poll(() => lockQueue(pages[0] as Page, name)).toEqual({ held: 1, pending: count - 1 });
  return { context, pages };
}

async function leaders(pages: Page[]): Promise<number[]> {
  const flags = await Promise.all(pages.map(leader));
  return flags.flatMap((isLeader, i) => (isLeader ? [i] : []));
}

describe("createWebLocksCoordinator in Chromium", () => {
  it("makes exactly one of two tabs the leader", async () => {
    const { pages } = await tabs(2, "parley:one-leader");
    await poll(() => leaders(pages)).toHaveLength(1);
    expect(await leaders(pages)).toEqual([0]);
  });

  it("makes another tab the leader when the leader's tab closes", async () => {
    const { pages } = await tabs(3, "parley:tab-closes");
    await poll(() => leaders(pages)).toEqual([0]);
    await (pages[0] as Page).close();
    const rest = pages.slice(1);
    await poll(() => leaders(rest)).toHaveLength(1);
    await poll(() => lockQueue(rest[0] as Page, "parley:tab-closes")).toEqual({ held: 1, pending: 1 });
  });

  it("hands the leadership over when the leader's tab reloads", async () => {
    const { pages } = await tabs(2, "parley:tab-reloads");
    const [first, second] = pages as [Page, Page];
    await poll(() => leaders(pages)).toEqual([0]);
    await rig.reload(first);
    await poll(() => leader(second)).toBe(true);
    expect(await leader(first)).toBe(false);
  });

  it("gives the leadership up on pagehide, and stays out when restored from the back/forward cache", async () => {
    const { pages } = await tabs(2, "parley:pagehide");
    const [first, second] = pages as [Page, Page];
    await poll(() => leaders(pages)).toEqual([0]);
    // The event alone (the page stays alive) must release the lock.
    await first.evaluate(() =>
      window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true })),
    );
    await poll(() => leader(second)).toBe(true);
    // Restored from the back/forward cache: it stays out, and says so.
    const warning = first.waitForEvent("console", (msg) => msg.type() === "warning");
    await first.evaluate(() =>
      window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: true })),
    );
    expect((await warning).text()).toContain("reload to rejoin");
    expect(await lockQueue(second, "parley:pagehide")).toEqual({ held: 1, pending: 0 });
  });

  it("hands the leadership over on close() while the tab stays open", async () => {
    const { pages } = await tabs(2, "parley:close");
    const [first, second] = pages as [Page, Page];
    await poll(() => leaders(pages)).toEqual([0]);
    await first.evaluate(() => window.parley.coordinator.close());
    await poll(() => leader(second)).toBe(true);
    expect(await lockQueue(second, "parley:close")).toEqual({ held: 1, pending: 0 });
  });

  it("delivers broadcasts to every other tab in the order they were sent, and not to the sender", async () => {
    const { pages } = await tabs(3, "parley:broadcast");
    const [sender, ...others] = pages as [Page, Page, Page];
    await sender.evaluate(() => {
      for (let i = 1; i <= 50; i++) window.parley.coordinator.broadcast({ n: i, at: { seq: BigInt(i) } });
    });
    const expected = Array.from({ length: 50 }, (_, i) => ({ n: i + 1, at: { seq: BigInt(i + 1) } }));
    for (const page of others) {
      await poll(() => page.evaluate(() => window.parley.coordinator.view().messages.length)).toBe(50);
      // bigints survive structured clone; compare them as strings across the evaluate boundary
      const got = await page.evaluate(() =>
        window.parley.coordinator
          .view()
          .messages.map((m) => JSON.stringify(m, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))),
      );
      expect(got).toEqual(
        expected.map((m) => JSON.stringify(m, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))),
      );
    }
    expect(await received(sender)).toEqual([]);
  });

  it("does not share leadership or messages across browser profiles", async () => {
    const a = await tabs(1, "parley:profiles");
    const b = await tabs(1, "parley:profiles");
    const [pageA, pageB] = [a.pages[0] as Page, b.pages[0] as Page];
    await poll(() => leader(pageA)).toBe(true);
    await poll(() => leader(pageB)).toBe(true);
    await pageA.evaluate(() => window.parley.coordinator.broadcast("hello"));
    // pageB's context is another profile: the message never reaches it; a tab of
    // A's profile opened afterwards proves the channel works.
    const late = await rig.openPage(a.context);
    await late.evaluate(() => window.parley.coordinator.start("parley:profiles"));
    await pageA.evaluate(() => window.parley.coordinator.broadcast("again"));
    await poll(() => received(late)).toEqual(["again"]);
    expect(await received(pageB)).toEqual([]);
  });

  it("leads alone, with a warning, where Web Locks are missing", async () => {
    const context = await rig.newContext();
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
    });
    const first = await rig.openPage(context);
    const second = await rig.openPage(context);
    const warnings: string[] = [];
    for (const page of [first, second]) {
      page.on("console", (msg) => {
        if (msg.type() === "warning") warnings.push(msg.text());
      });
      await page.evaluate(() => window.parley.coordinator.start("parley:no-locks"));
    }
    await poll(() => leaders([first, second])).toEqual([0, 1]);
    await poll(() => warnings.length).toBe(2);
    expect(warnings[0]).toContain("Web Locks or BroadcastChannel missing");
  });
});
