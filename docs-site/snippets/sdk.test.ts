// Runs the SDK guide's snippets (sdk.ts) against the real pipeline in this process.
import {
  createNetworkSwitch,
  createParleyClient,
  type LocalMessage,
  type ParleyClient,
} from "@parley/client";
import type { Presence } from "@parley/protocol";
import { createTestServer, type TestServer, waitFor } from "@parley/testkit";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import * as sdk from "./sdk.js";

let server: TestServer;
const open: ParleyClient[] = [];

beforeEach(async () => {
  server = await createTestServer();
  vi.spyOn(console, "log").mockImplementation(() => {}); // the snippets print what an app would show
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await server.close();
  vi.restoreAllMocks();
});

function signIn(userId: string, transport = server.transport): ParleyClient {
  const client = createParleyClient({ transport, userId, token: () => server.token(userId) });
  open.push(client);
  return client;
}

/** A ChatView that keeps what it was told. */
function recordingView() {
  const view = {
    states: [] as string[],
    conversations: new Map<string, string>(),
    messages: new Map<string, LocalMessage>(),
    toasts: [] as string[],
    showConnection: (state: string) => void view.states.push(state),
    showConversation: (c: { conversationId: string; title: string }) =>
      void view.conversations.set(c.conversationId, c.title),
    removeConversation: (id: string) => void view.conversations.delete(id),
    showMessage: (_id: string, m: LocalMessage) =>
      void view.messages.set(m.message.clientMsgId || m.message.messageId, m),
    redrawAll: (list: { conversationId: string; title: string }[]) => {
      view.conversations = new Map(list.map((c) => [c.conversationId, c.title]));
    },
    toast: (text: string) => void view.toasts.push(text),
  };
  return view;
}

/** Waits for the message `text` to be in `client`'s view of the conversation. */
const arrived = (client: ParleyClient, conversationId: string, text: string) =>
  waitFor(() => client.messages(conversationId).find((m) => m.message.text === text && m.message.seq > 0));

describe("the SDK guide's snippets", () => {
  test("follow: the view shows the connection, conversations and messages as they change", async () => {
    const alice = signIn("alice");
    const view = recordingView();
    const stop = await sdk.follow(alice, view);
    const { conversationId } = await alice.createDirect("bob");
    await alice.send(conversationId, { text: "hi" });
    await waitFor(() =>
      [...view.messages.values()].find((m) => m.message.text === "hi" && m.status !== "pending"),
    );
    expect(view.states).toContain("live");
    expect(view.conversations.has(conversationId)).toBe(true);
    stop();
    await alice.send(conversationId, { text: "after stop" });
    expect([...view.messages.values()].some((m) => m.message.text === "after stop")).toBe(false);
  });

  test("conversations: a direct one and a renamed group without dave", async () => {
    const alice = signIn("alice");
    const { direct, team } = await sdk.conversations(alice);
    expect(direct.members.map((m) => m.userId).sort()).toEqual(["alice", "bob"]);
    await waitFor(() => alice.conversation(team.conversationId)?.title === "Launch (Friday)");
    const members = alice
      .conversation(team.conversationId)
      ?.members.map((m) => m.userId)
      .sort();
    expect(members).toEqual(["alice", "bob", "carol"]);
    // Asking for the direct conversation again gives the same one.
    expect((await alice.createDirect("bob")).conversationId).toBe(direct.conversationId);
  });

  test("send, edit, reply, delete and attach: bob sees the final state", async () => {
    const alice = signIn("alice");
    const bob = signIn("bob");
    const { conversationId } = await bob.createDirect("alice");
    await bob.send(conversationId, { text: "Friday?" });
    const question = (await arrived(alice, conversationId, "Friday?")).message;

    const { sent, reply } = await sdk.sendReplyEditDelete(alice, conversationId, question);
    expect(sent.status).toBe("pending");
    const edited = await arrived(bob, conversationId, "Shipping on Friday 🚢");
    expect(edited.message.editedAt).toBeDefined();
    const deleted = await waitFor(() =>
      bob
        .messages(conversationId)
        .find((m) => m.message.clientMsgId === reply.message.clientMsgId && m.message.deletedAt),
    );
    expect(deleted.message.replyToSeq).toBe(question.seq);
    const plan = await arrived(bob, conversationId, "The plan");
    expect(plan.message.attachment?.url).toBe("https://files.example.com/plan.pdf");
  });

  test("reactions: 🎉 stays, 👍 is taken back", async () => {
    const alice = signIn("alice");
    const bob = signIn("bob");
    const { conversationId } = await bob.createDirect("alice");
    await bob.send(conversationId, { text: "we shipped" });
    const message = (await arrived(alice, conversationId, "we shipped")).message;
    expect(await sdk.reactions(alice, message)).toEqual(["🎉 1"]);
    const seen = await waitFor(() =>
      bob
        .messages(conversationId)
        .find((m) => m.message.seq === message.seq && m.message.reactions.length > 0),
    );
    expect(seen.message.reactions.map((r) => [r.emoji, r.userIds])).toEqual([["🎉", ["alice"]]]);
  });

  test("receipts: alice reads, bob's message shows as read", async () => {
    const alice = signIn("alice");
    const bob = signIn("bob");
    const { conversationId } = await bob.createDirect("alice");
    await bob.send(conversationId, { text: "one" });
    await bob.send(conversationId, { text: "two" });
    await arrived(alice, conversationId, "two");
    expect(alice.conversation(conversationId)?.unreadCount).toBe(2);

    const { lines, ticks } = await sdk.receipts(alice, conversationId);
    expect(alice.conversation(conversationId)?.unreadCount).toBe(0);
    expect(lines).toContain("alice got up to #2 and read up to #2");
    expect(ticks).toHaveLength(2);
    await waitFor(() => bob.messages(conversationId).every((m) => m.status === "read"));
  });

  test("typing: bob sees alice typing, then not", async () => {
    const alice = signIn("alice");
    const bob = signIn("bob");
    const { conversationId } = await alice.createDirect("bob");
    await waitFor(() => bob.conversation(conversationId) && bob.state === "live");
    let type: (text: string) => void = () => {};
    const input = {
      onInput(listener: (text: string) => void) {
        type = listener;
      },
    };
    sdk.typing(alice, conversationId, input, () => {});
    const shown: string[] = [];
    sdk.typing(bob, conversationId, { onInput: () => {} }, (line) => shown.push(line));
    type("h");
    await waitFor(() => shown.includes("alice typing…"));
    expect(bob.typing(conversationId)).toEqual(["alice"]);
    type("");
    await waitFor(() => shown.at(-1) === "");
  });

  test("presence: carol shows online once her client is live", async () => {
    const alice = signIn("alice");
    const seen: Presence[] = [];
    const { now, stop } = await sdk.presence(alice, (p) => seen.push(p));
    expect(now.map((p) => [p.userId, p.online])).toEqual([
      ["bob", false],
      ["carol", false],
    ]);
    signIn("carol");
    await waitFor(() => seen.some((p) => p.userId === "carol" && p.online));
    stop();
  });

  test("history: scrolling back reaches seq 1 with every message once", async () => {
    const bob = signIn("bob");
    const { conversationId } = await bob.createDirect("alice");
    for (let i = 1; i <= 120; i++) await bob.send(conversationId, { text: `m${i}` });
    await arrived(bob, conversationId, "m120");
    const alice = signIn("alice"); // a new device: its snapshot holds the newest 20
    await arrived(alice, conversationId, "m120");
    expect(alice.messages(conversationId).length).toBeLessThan(120);
    const all = await sdk.scrollBack(alice, conversationId);
    expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  });

  /** Alice's send to a group she was removed from fails for good; `ask` decides what then. */
  async function refusedSend(ask: (question: string) => Promise<boolean>) {
    const alice = signIn("alice");
    const bob = signIn("bob");
    const team = await bob.createGroup({ title: "team", memberIds: ["alice"] });
    await waitFor(() => alice.conversation(team.conversationId));
    await bob.removeMember(team.conversationId, "alice");
    await waitFor(() => !alice.conversation(team.conversationId));
    sdk.outbox(alice, ask);
    await alice.send(team.conversationId, { text: "am I still in?" });
    return { alice, bob, conversationId: team.conversationId };
  }

  test("outbox: a send refused for good is retried once alice is back in the group", async () => {
    const questions: string[] = [];
    let answer: (yes: boolean) => void = () => {};
    const { alice, bob, conversationId } = await refusedSend((question) => {
      questions.push(question);
      return new Promise((resolve) => {
        answer = resolve;
      });
    });
    await waitFor(() => questions.length === 1);
    expect(questions[0]).toBe("send failed (NOT_A_MEMBER). Try again?");
    expect(alice.messages(conversationId).map((m) => m.status)).toEqual(["failed"]);

    await bob.addMembers(conversationId, ["alice"]);
    answer(true);
    await arrived(bob, conversationId, "am I still in?");
    await waitFor(() => alice.outbox().length === 0);
    expect(questions).toHaveLength(1);
  });

  test("outbox: a discarded send disappears and never reaches the group", async () => {
    const questions: string[] = [];
    const { alice, bob, conversationId } = await refusedSend(async (question) => {
      questions.push(question);
      return false;
    });
    await waitFor(() => questions.length === 1 && alice.outbox().length === 0);
    expect(alice.messages(conversationId)).toEqual([]);
    await bob.send(conversationId, { text: "after" });
    await arrived(bob, conversationId, "after");
    expect(bob.messages(conversationId).map((m) => m.message.text)).toEqual(["after"]);
  });

  test("errors: offline, a bad title, and success read as the guide says", async () => {
    const net = createNetworkSwitch(server.transport);
    const alice = signIn("alice", net.transport);
    await waitFor(() => alice.state === "live");
    expect(await sdk.errors(alice, "")).toMatch(/^Check the title: /);
    expect(await sdk.errors(alice, "x".repeat(1000))).toMatch(/^Check the title: /);
    net.setOnline(false);
    expect(await sdk.errors(alice, "team")).toBe("You are offline; try again later.");
    net.setOnline(true);
    expect(await sdk.errors(alice, "team")).toBe("created");
  });
});
