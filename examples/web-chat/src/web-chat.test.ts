/**
 * The web chat in Chromium against the real reference server, driven only
 * through the UI (what a user sees and clicks).
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type AppRig, startAppRig } from "./testing/rig";

/** The docs site shows this screenshot; written when missing or with PARLEY_UPDATE_SCREENSHOTS=1. */
const DOCS_SCREENSHOT = fileURLToPath(
  new URL("../../../docs-site/public/screenshots/web-chat.png", import.meta.url),
);

let rig: AppRig;

beforeAll(async () => {
  rig = await startAppRig();
}, 120_000);
afterAll(async () => {
  await rig?.close();
});
beforeEach(async () => {
  // Each test starts with no client connected, so stream counts are its own.
  await poll(() => rig.streams()).toBe(0);
});
afterEach(async ({ task }) => {
  await rig.afterTest(task);
});

/** Polls until the assertion holds; generous, because the machine is shared. */
const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 20_000, interval: 50 });

// ---- what a user does ------------------------------------------------------

/** Opens the app in a new tab of `context` and signs in as `userId`. */
async function signIn(context: BrowserContext, userId: string): Promise<Page> {
  const page = await rig.openApp(context);
  await page.getByTestId("login-user").fill(userId);
  await page.getByTestId("login-submit").click();
  await poll(() => connectionState(page)).toBe("live");
  return page;
}

const connectionState = (page: Page) => page.getByTestId("connection-state").getAttribute("data-state");

/** Starts (or opens) the direct chat with `peer` from the sidebar form. */
async function startDirect(page: Page, peer: string): Promise<void> {
  await page.getByTestId("new-direct-peer").fill(peer);
  await page.getByTestId("new-conversation-submit").click();
  await poll(() => page.getByTestId("conversation-header-title").textContent()).toBe(peer);
}

const conversationItem = (page: Page, title: string) =>
  page.locator(`[data-testid="conversation-item"][data-title="${title}"]`);

/** Opens a conversation from the list. */
async function openConversation(page: Page, title: string): Promise<void> {
  await conversationItem(page, title).click();
  await poll(() => page.getByTestId("conversation-header-title").textContent()).toBe(title);
}

/** Types `text` in the composer and presses Enter. */
async function send(page: Page, text: string): Promise<void> {
  const input = page.getByTestId("composer-input");
  await input.fill(text);
  await input.press("Enter");
}

const messages = (page: Page) => page.getByTestId("message");
/** The texts of the open conversation's messages, top to bottom (deleted ones as "(deleted)"). */
const shownTexts = (page: Page) =>
  messages(page).evaluateAll((els) =>
    els.map(
      (el) =>
        el.querySelector('[data-testid="message-text"]')?.textContent ??
        (el.querySelector('[data-testid="message-deleted"]') ? "(deleted)" : ""),
    ),
  );
/** The message showing `text`. */
const message = (page: Page, text: string) =>
  messages(page).filter({ has: page.getByTestId("message-text").getByText(text, { exact: true }) });
const statusOf = (msg: Locator) => msg.getByTestId("message-status").getAttribute("data-status");

/** Hovers a message and clicks one of its actions (reply, react, edit, delete). */
async function act(msg: Locator, action: "reply" | "react" | "edit" | "delete"): Promise<void> {
  await msg.hover();
  await msg.getByTestId(`action-${action}`).click();
}

async function react(msg: Locator, emoji: string): Promise<void> {
  await act(msg, "react");
  await msg.locator(`[data-testid="pick-emoji"][data-emoji="${emoji}"]`).click();
}

const reactions = (msg: Locator) =>
  msg
    .getByTestId("reaction")
    .evaluateAll((els) =>
      els.map((el) => `${el.getAttribute("data-emoji")} ${el.textContent?.split(" ")[1]}`),
    );

// ---- tests -----------------------------------------------------------------

describe("web chat in Chromium", () => {
  it("lets two users chat: delivered and read marks, reply, reaction, edit, delete, typing and presence", async () => {
    const alice = await signIn(await rig.newContext(), "alice");
    const bob = await signIn(await rig.newContext(), "bob");

    await startDirect(alice, "bob");
    await send(alice, "Hi Bob! Is the new build out?");
    const first = message(alice, "Hi Bob! Is the new build out?");

    // Bob is online but has not opened the chat: delivered, not read; his list shows it unread.
    await poll(() => statusOf(first)).toBe("delivered");
    const item = conversationItem(bob, "alice");
    await poll(() => item.getByTestId("unread-count").textContent()).toBe("1");
    await poll(() => item.getByTestId("conversation-last").textContent()).toBe(
      "alice: Hi Bob! Is the new build out?",
    );
    await poll(() => item.getByTestId("presence-dot").getAttribute("data-online")).toBe("true");
    await poll(() =>
      conversationItem(alice, "bob").getByTestId("presence-dot").getAttribute("data-online"),
    ).toBe("true");
    expect(await statusOf(first)).toBe("delivered");

    // Bob opens it: read on Alice's side, and his unread count goes.
    await openConversation(bob, "alice");
    await poll(() => statusOf(first)).toBe("read");
    await poll(() => item.getByTestId("unread-count").count()).toBe(0);

    // Bob types: Alice sees it; he sends: it goes.
    await bob.getByTestId("composer-input").fill("Yes");
    await poll(() => alice.getByTestId("typing-indicator").textContent()).toBe("bob is typing…");

    // Bob replies to the message and reacts to it.
    await act(message(bob, "Hi Bob! Is the new build out?"), "reply");
    await send(bob, "Yes, shipped an hour ago.");
    await poll(() => alice.getByTestId("typing-indicator").textContent()).toBe("");
    const reply = message(alice, "Yes, shipped an hour ago.");
    await poll(() => reply.getByTestId("reply-quote").textContent()).toBe(
      "alice: Hi Bob! Is the new build out?",
    );
    await react(message(bob, "Hi Bob! Is the new build out?"), "❤️");
    await poll(() => reactions(first)).toEqual(["❤️ 1"]);
    // Alice adds a reaction of her own, then takes it back by clicking it.
    await react(first, "👍");
    await poll(() => reactions(message(bob, "Hi Bob! Is the new build out?"))).toEqual(["❤️ 1", "👍 1"]);
    await first.locator('[data-testid="reaction"][data-emoji="👍"]').click();
    await poll(() => reactions(message(bob, "Hi Bob! Is the new build out?"))).toEqual(["❤️ 1"]);

    // Alice edits her message: Bob sees the new text, marked edited, with the reaction kept.
    await act(first, "edit");
    await send(alice, "Hi Bob! Is the new build out yet?");
    const edited = message(bob, "Hi Bob! Is the new build out yet?");
    await poll(() => edited.getByTestId("message-edited").count()).toBe(1);
    await poll(() => reactions(edited)).toEqual(["❤️ 1"]);

    // Alice sends a message by mistake and deletes it: Bob sees it go.
    await send(alice, "wrong window, sorry");
    await poll(async () => (await shownTexts(bob)).at(-1)).toBe("wrong window, sorry");
    await act(message(alice, "wrong window, sorry"), "delete");
    await poll(() => shownTexts(bob)).toEqual([
      "Hi Bob! Is the new build out yet?",
      "Yes, shipped an hour ago.",
      "(deleted)",
    ]);
    await poll(() => shownTexts(alice)).toEqual(await shownTexts(bob));

    // A few more lines and a group, for the screenshot of the docs.
    await send(alice, "Great, trying it now.");
    await poll(() => statusOf(message(alice, "Great, trying it now."))).toBe("read");
    await react(message(alice, "Yes, shipped an hour ago."), "❤️");
    await poll(() => reactions(message(bob, "Yes, shipped an hour ago."))).toEqual(["❤️ 1"]);
    await alice.getByTestId("new-group-tab").click();
    await alice.getByTestId("new-group-title").fill("Release crew");
    await alice.getByTestId("new-group-members").fill("bob, carol");
    await alice.getByTestId("new-conversation-submit").click();
    await poll(() => alice.getByTestId("conversation-header-title").textContent()).toBe("Release crew");
    await poll(() => conversationItem(bob, "Release crew").count()).toBe(1);
    await openConversation(alice, "bob");
    await alice.getByTestId("new-direct-tab").click();
    await poll(() => statusOf(message(alice, "Great, trying it now."))).toBe("read");

    await rig.screenshot(bob, "chat-bob");
    const shot = await rig.screenshot(alice, "chat-alice");
    if (!existsSync(DOCS_SCREENSHOT) || process.env.PARLEY_UPDATE_SCREENSHOTS === "1") {
      await mkdir(dirname(DOCS_SCREENSHOT), { recursive: true });
      await copyFile(shot, DOCS_SCREENSHOT);
    }
  });

  it("keeps messages written offline across a reload and delivers them once, in order", async () => {
    const carolContext = await rig.newContext();
    await rig.cacheAppShell(carolContext); // the app itself loads offline, as with a service worker
    const carol = await signIn(carolContext, "carol");
    const dave = await signIn(await rig.newContext(), "dave");
    await startDirect(carol, "dave");
    await send(carol, "before");
    await poll(() => conversationItem(dave, "carol").count()).toBe(1);
    await openConversation(dave, "carol");
    await poll(() => shownTexts(dave)).toEqual(["before"]);
    await poll(() => statusOf(message(carol, "before"))).toBe("read");

    await carolContext.setOffline(true);
    const banner = carol.getByTestId("offline-banner");
    await poll(() => banner.getAttribute("data-state")).toBe("offline");
    for (const text of ["one", "two", "three"]) await send(carol, text);
    await poll(() => banner.getByTestId("pending-count").textContent()).toBe("3");
    await poll(() =>
      messages(carol).evaluateAll((els) => els.map((el) => el.getAttribute("data-status"))),
    ).toEqual(["read", "pending", "pending", "pending"]);
    await rig.screenshot(carol, "offline-before-reload");

    // Reload while offline: the session, the conversation and the outbox come back.
    await carol.reload();
    await poll(() => carol.getByTestId("offline-banner").getByTestId("pending-count").textContent()).toBe(
      "3",
    );
    await poll(() => shownTexts(carol)).toEqual(["before", "one", "two", "three"]);
    await rig.screenshot(carol, "offline-after-reload");
    expect(await shownTexts(dave)).toEqual(["before"]);

    await carolContext.setOffline(false);
    await poll(() => carol.getByTestId("offline-banner").count()).toBe(0);
    await poll(() => shownTexts(dave)).toEqual(["before", "one", "two", "three"]);
    await poll(() =>
      messages(carol).evaluateAll((els) => els.map((el) => el.getAttribute("data-status"))),
    ).toEqual(["read", "read", "read", "read"]);
    // Exactly once on the server too.
    const history = await rig.call<{ messages: { seq: number; text: string }[] }>(
      "parley.v1.MessageService/GetHistory",
      { conversationId: await carol.getByTestId("conversation").getAttribute("data-conversation-id") },
      await rig.devLogin("dave"),
    );
    expect(history.messages.map((m) => [m.seq, m.text])).toEqual([
      [1, "before"],
      [2, "one"],
      [3, "two"],
      [4, "three"],
    ]);
    expect(await shownTexts(dave)).toEqual(["before", "one", "two", "three"]);
  });

  it("shares one server stream between two tabs and hands it over when the leader tab closes", async () => {
    const erinContext = await rig.newContext();
    const tab1 = await signIn(erinContext, "erin");
    // The second tab is signed in already (the session is in localStorage).
    const tab2 = await rig.openApp(erinContext);
    await poll(() => connectionState(tab2)).toBe("live");
    const leaders = () =>
      Promise.all([tab1, tab2].map((tab) => tab.getByTestId("app").getAttribute("data-leader")));
    await poll(async () => (await leaders()).filter((l) => l === "true").length).toBe(1);
    await poll(() => rig.streams()).toBe(1);

    const frank = await signIn(await rig.newContext(), "frank");
    await startDirect(frank, "erin");
    await send(frank, "hello, both tabs");
    for (const tab of [tab1, tab2]) {
      await openConversation(tab, "frank");
      await poll(() => shownTexts(tab)).toEqual(["hello, both tabs"]);
    }
    await poll(() => statusOf(message(frank, "hello, both tabs"))).toBe("read");
    await poll(() => rig.streams()).toBe(2); // one for erin's two tabs, one for frank

    // The leader tab closes; the other one takes over the connection.
    const [leader, follower] = (await leaders())[0] === "true" ? [tab1, tab2] : [tab2, tab1];
    await leader.close();
    await poll(() => follower.getByTestId("app").getAttribute("data-leader")).toBe("true");
    await poll(() => connectionState(follower)).toBe("live");
    await poll(() => rig.streams()).toBe(2);

    await send(frank, "after the handover");
    await poll(() => shownTexts(follower)).toEqual(["hello, both tabs", "after the handover"]);
    await send(follower, "still here");
    await poll(() => shownTexts(frank)).toEqual(["hello, both tabs", "after the handover", "still here"]);
    await rig.screenshot(follower, "tabs-after-handover");

    // Signing out in one tab signs out every tab.
    const another = await rig.openApp(erinContext);
    await poll(() => connectionState(another)).toBe("live");
    await follower.getByTestId("logout").click();
    for (const tab of [follower, another]) await poll(() => tab.getByTestId("login-form").count()).toBe(1);
    await poll(() => rig.streams()).toBe(1); // frank's
  });

  it("loads older messages when scrolled to the top", async () => {
    // Heidi wrote 45 messages before Grace ever opened the app.
    const heidiToken = await rig.devLogin("heidi");
    const { conversation } = await rig.call<{ conversation: { conversationId: string } }>(
      "parley.v1.ConversationService/CreateDirect",
      { peerUserId: "grace" },
      heidiToken,
    );
    const written = Array.from({ length: 45 }, (_, i) => `message ${i + 1}`);
    for (const [i, text] of written.entries()) {
      await rig.call(
        "parley.v1.MessageService/SendMessage",
        { conversationId: conversation.conversationId, clientMsgId: `history-${i}`, text },
        heidiToken,
      );
    }

    const grace = await signIn(await rig.newContext(), "grace");
    await openConversation(grace, "heidi");
    // The first snapshot holds the newest 20.
    await poll(() => shownTexts(grace)).toEqual(written.slice(-20));
    const edge = grace.getByTestId("history-edge");
    expect(await edge.getAttribute("data-more")).toBe("true");

    await grace.getByTestId("message-list").evaluate((el) => el.scrollTo({ top: 0 }));
    await poll(() => edge.getAttribute("data-more")).toBe("false");
    expect(await shownTexts(grace)).toEqual(written);
    // The view stayed where the reader was, rather than jumping to the oldest message.
    expect(await grace.getByTestId("message-list").evaluate((el) => el.scrollTop)).toBeGreaterThan(0);
    await rig.screenshot(grace, "history-loaded");
  });
});
