import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { ulid } from "@parley/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createNetworkSwitch } from "./network-switch.js";
import { createMemoryClientStore } from "./store/memory.js";
import {
  createHarness,
  type Harness,
  live,
  livePair,
  uniqueUser,
  waitFor,
} from "./testing-helpers/harness.js";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

async function serverTexts(userId: string, conversationId: string): Promise<string[]> {
  const raw = await h.raw(userId);
  const page = await raw.messages.getHistory({ conversationId, limit: 200 });
  return page.messages.map((m) => `${m.seq}:${m.text}`);
}

const pair = () => livePair(h);

describe("outbox", () => {
  it("queues sends made offline in order and delivers each once, in order, when back online", async () => {
    const { a, alice, bob, id } = await pair();
    alice.net.setOnline(false);
    await waitFor(() => alice.client.state === "offline");
    for (const text of ["one", "two", "three"]) await alice.client.send(id, { text });
    expect(alice.client.messages(id).map((m) => `${m.message.text}:${m.status}`)).toEqual([
      "one:pending",
      "two:pending",
      "three:pending",
    ]);
    expect(alice.client.outbox().map((i) => i.op.kind)).toEqual(["send", "send", "send"]);
    alice.net.setOnline(true);
    await waitFor(() => alice.client.outbox().length === 0);
    expect(alice.client.messages(id).map((m) => `${m.message.seq}:${m.message.text}`)).toEqual([
      "1:one",
      "2:two",
      "3:three",
    ]);
    await waitFor(() => bob.client.messages(id).length === 3);
    expect(bob.client.messages(id).map((m) => m.message.text)).toEqual(["one", "two", "three"]);
    expect(await serverTexts(a, id)).toEqual(["1:one", "2:two", "3:three"]);
  });

  it("after a restart resumes from the stored cursor and sends the stored outbox without duplicates", async () => {
    const { a, b, alice, bob, id } = await pair();
    await alice.client.send(id, { text: "before" });
    await waitFor(() => alice.client.outbox().length === 0);
    alice.net.setOnline(false);
    await alice.client.send(id, { text: "queued 1" });
    await alice.client.send(id, { text: "queued 2" });
    await alice.client.close();
    await bob.client.send(id, { text: "while you were away" });
    await waitFor(() => bob.client.outbox().length === 0);

    const again = h.client(a, { storage: alice.storage });
    let resyncs = 0;
    again.client.on("resync", () => resyncs++);
    await again.client.ready();
    expect(
      again.client
        .messages(id)
        .map((m) => `${m.message.text}:${m.status === "pending" ? "pending" : "confirmed"}`),
    ).toEqual(["before:confirmed", "queued 1:pending", "queued 2:pending"]);
    await waitFor(() => again.client.outbox().length === 0);
    expect(resyncs).toBe(0);
    expect(again.client.messages(id).map((m) => m.message.text)).toEqual([
      "before",
      "while you were away",
      "queued 1",
      "queued 2",
    ]);
    expect(await serverTexts(b, id)).toEqual([
      "1:before",
      "2:while you were away",
      "3:queued 1",
      "4:queued 2",
    ]);
  });

  it("an item the server already has (its answer was lost) is answered by the server's dedup, not sent twice", async () => {
    const { a, alice, id } = await pair();
    await alice.client.close();
    // The send reached the server, but the client crashed before storing the answer.
    const itemId = ulid();
    const raw = await h.raw(a);
    await raw.messages.sendMessage({ conversationId: id, clientMsgId: itemId, text: "once" });
    const store = createMemoryClientStore({ storage: alice.storage });
    await store.write({
      outbox: [
        {
          id: itemId,
          conversationId: id,
          op: { kind: "send", text: "once", replyToSeq: 0 },
          createdAt: Date.now(),
          status: "pending",
          attempts: 1,
        },
      ],
    });
    await store.close();
    const again = h.client(a, { storage: alice.storage });
    await live(again.client);
    await waitFor(() => again.client.outbox().length === 0);
    expect(again.client.messages(id).map((m) => `${m.message.seq}:${m.message.text}`)).toEqual(["1:once"]);
    expect(await serverTexts(a, id)).toEqual(["1:once"]);
  });

  // Found by multi-device.test.ts (seeds 1600512050 and 1428582092): a retry is answered with the
  // original result, older than what the stream brought meanwhile, and that older state was cached.
  it("a retried reaction whose first answer was lost does not bring back an older state of the message", async () => {
    const a = uniqueUser("alice");
    const b = uniqueUser("bob");
    const net = createNetworkSwitch(h.server.transport);
    let reactions = 0;
    const alice = h.client(a, {
      net,
      wrap: (transport: Transport): Transport => ({
        unary: async (method, ...rest) => {
          if (method.name !== "AddReaction" || ++reactions > 1) return transport.unary(method, ...rest);
          // The reaction is applied, then the network drops before the answer arrives.
          await transport.unary(method, ...rest);
          net.setOnline(false);
          throw new ConnectError("network down", Code.Unavailable);
        },
        stream: (...args) => transport.stream(...args),
      }),
    });
    const bob = h.client(b);
    await live(alice.client);
    await live(bob.client);
    const id = (await bob.client.createDirect(a)).conversationId;
    await bob.client.send(id, { text: "typo" });
    await waitFor(() => alice.client.messages(id).length === 1);
    await alice.client.react(alice.client.messages(id)[0]?.message ?? { conversationId: id }, "👍");
    await waitFor(() => alice.client.state === "offline");
    await bob.client.edit({ conversationId: id, seq: 1 }, "fixed");
    await waitFor(() => bob.client.outbox().length === 0);
    net.setOnline(true);
    await waitFor(() => alice.client.outbox().length === 0);
    expect(reactions).toBe(2);
    const shown = alice.client.messages(id)[0]?.message;
    expect([shown?.text, shown?.reactions.map((r) => r.emoji)]).toEqual(["fixed", ["👍"]]);
  });

  it("an edit sent before a restart whose answer was lost does not bring back an older state after it", async () => {
    const a = uniqueUser("alice");
    const b = uniqueUser("bob");
    const net = createNetworkSwitch(h.server.transport);
    const alice = h.client(a, {
      net,
      wrap: (transport: Transport): Transport => ({
        unary: async (method, ...rest) => {
          if (method.name !== "EditMessage") return transport.unary(method, ...rest);
          await transport.unary(method, ...rest);
          net.setOnline(false);
          throw new ConnectError("network down", Code.Unavailable);
        },
        stream: (...args) => transport.stream(...args),
      }),
    });
    const bob = h.client(b);
    await live(alice.client);
    await live(bob.client);
    const id = (await alice.client.createDirect(b)).conversationId;
    const sent = await alice.client.send(id, { text: "typo" });
    await waitFor(() => alice.client.outbox().length === 0 && bob.client.messages(id).length === 1);
    await alice.client.edit(sent.message, "fixed");
    await waitFor(() => alice.client.state === "offline");
    await alice.client.close();
    await bob.client.react({ conversationId: id, seq: 1 }, "🎉");
    await waitFor(() => bob.client.outbox().length === 0);
    const again = h.client(a, { storage: alice.storage });
    await live(again.client);
    await waitFor(() => again.client.outbox().length === 0);
    const shown = again.client.messages(id)[0]?.message;
    expect([shown?.text, shown?.reactions.map((r) => r.emoji)]).toEqual(["fixed", ["🎉"]]);
  });

  it("a terminal error fails only that item; the next one in the conversation is sent", async () => {
    const { a, alice, bob, id } = await pair();
    alice.net.setOnline(false);
    await alice.client.send(id, { text: "x".repeat(4001) });
    await alice.client.send(id, { text: "short" });
    alice.net.setOnline(true);
    await waitFor(() => alice.client.outbox().every((i) => i.status === "failed"));
    const [failed] = alice.client.outbox();
    expect(failed?.failure?.reason).toBe("TEXT_TOO_LONG");
    const view = alice.client.messages(id);
    // "short" is confirmed (seq 1): "sent", or already "delivered" if bob's client reported it.
    expect(
      view.map(
        (m) =>
          `${m.message.text.slice(0, 5)}:${m.message.seq}:${m.status === "delivered" ? "sent" : m.status}`,
      ),
    ).toEqual(["short:1:sent", "xxxxx:0:failed"]);
    expect(view[1]?.failure?.reason).toBe("TEXT_TOO_LONG");
    await waitFor(() => bob.client.messages(id).length === 1);
    expect(await serverTexts(a, id)).toEqual(["1:short"]);
  });

  it("a send to a conversation I am not in fails with NOT_A_MEMBER; retry() sends it once I am added", async () => {
    const a = uniqueUser("alice");
    const b = uniqueUser("bob");
    const alice = h.client(a).client;
    const bob = h.client(b).client;
    await live(alice);
    await live(bob);
    const group = await bob.createGroup({ title: "Bob's", memberIds: [] });
    const id = group.conversationId;
    const pending = await alice.send(id, { text: "let me in" });
    await waitFor(() => alice.outbox()[0]?.status === "failed");
    expect(alice.outbox()[0]?.failure?.reason).toBe("NOT_A_MEMBER");
    expect(alice.messages(id).map((m) => m.status)).toEqual(["failed"]);
    await bob.addMembers(id, [a]);
    await alice.retry(pending.message.clientMsgId);
    await waitFor(() => alice.outbox().length === 0);
    await waitFor(() => bob.messages(id).some((m) => m.message.text === "let me in"));
  });

  it("discard() drops a failed item and a pending one", async () => {
    const { alice, id } = await pair();
    const failed = await alice.client.send(id, { text: "y".repeat(4001) });
    await waitFor(() => alice.client.outbox()[0]?.status === "failed");
    alice.net.setOnline(false);
    const pending = await alice.client.send(id, { text: "never mind" });
    const removed: string[] = [];
    alice.client.on("outbox", (e) => e.removed && removed.push(e.item.id));
    await alice.client.discard(failed.message.clientMsgId);
    await alice.client.discard(pending.message.clientMsgId);
    expect(alice.client.outbox()).toEqual([]);
    expect(alice.client.messages(id)).toEqual([]);
    expect(removed).toEqual([failed.message.clientMsgId, pending.message.clientMsgId]);
    alice.net.setOnline(true);
    await live(alice.client);
    await alice.client.send(id, { text: "real one" });
    await waitFor(() => alice.client.outbox().length === 0);
    expect(alice.client.messages(id).map((m) => `${m.message.seq}:${m.message.text}`)).toEqual([
      "1:real one",
    ]);
  });

  it("edits and reactions on a pending send show at once and land on its seq once it is sent", async () => {
    const { a, alice, bob, id } = await pair();
    alice.net.setOnline(false);
    const draft = await alice.client.send(id, { text: "draft" });
    await alice.client.edit(draft.message, "final");
    await alice.client.react(draft.message, "👍");
    const [shown] = alice.client.messages(id);
    expect(shown?.message.text).toBe("final");
    expect(shown?.status).toBe("pending");
    expect(shown?.message.reactions.map((r) => [r.emoji, r.userIds])).toEqual([["👍", [a]]]);
    alice.net.setOnline(true);
    await waitFor(() => alice.client.outbox().length === 0);
    await waitFor(() => {
      const m = bob.client.messages(id)[0]?.message;
      return m?.text === "final" && m.reactions.length === 1 && m.editedAt !== undefined;
    });
    const [mine] = alice.client.messages(id);
    expect(mine?.message.seq).toBe(1);
    expect(mine?.message.text).toBe("final");
    expect(mine?.message.reactions.map((r) => r.emoji)).toEqual(["👍"]);
  });

  it("an edit queued behind a send still finds its message after a restart, long after the send was answered", async () => {
    const { a, alice, bob, id } = await pair();
    await alice.client.close();
    // A device whose edits cannot get through (e.g. a proxy dropping them) while sends do.
    const flaky = h.client(a, {
      storage: alice.storage,
      wrap: (transport: Transport): Transport => ({
        unary: (method, ...rest) =>
          method.name === "EditMessage"
            ? Promise.reject(new ConnectError("proxy error", Code.Unavailable))
            : transport.unary(method, ...rest),
        stream: (...args) => transport.stream(...args),
      }),
    });
    await live(flaky.client);
    const sent = await flaky.client.send(id, { text: "frist" });
    await flaky.client.edit(sent.message, "first");
    await waitFor(() => flaky.client.outbox().length === 1 && (flaky.client.outbox()[0]?.attempts ?? 0) >= 1);
    for (let i = 0; i < 25; i++) await bob.client.send(id, { text: `b${i}` });
    await waitFor(() => flaky.client.conversation(id)?.lastSeq === 26);
    await flaky.client.close();
    // After the restart only the newest messages are in memory; the edit's target is not among them.
    const again = h.client(a, { storage: alice.storage });
    await again.client.ready();
    expect(again.client.outbox().map((i) => i.op.kind)).toEqual(["edit"]);
    expect(again.client.messages(id).some((m) => m.message.seq === 1)).toBe(false);
    await waitFor(() => again.client.outbox().length === 0);
    const raw = await h.raw(a);
    const page = await raw.messages.getHistory({
      conversationId: id,
      anchor: { case: "aroundSeq", value: 1 },
      limit: 1,
    });
    expect(page.messages[0]?.text).toBe("first");
  });

  it("edits of a send that failed fail with TARGET_FAILED", async () => {
    const { alice, id } = await pair();
    alice.net.setOnline(false);
    const bad = await alice.client.send(id, { text: "z".repeat(4001) });
    await alice.client.edit(bad.message, "shorter");
    alice.net.setOnline(true);
    await waitFor(
      () => alice.client.outbox().length === 2 && alice.client.outbox().every((i) => i.status === "failed"),
    );
    expect(alice.client.outbox().map((i) => i.failure?.reason)).toEqual(["TEXT_TOO_LONG", "TARGET_FAILED"]);
  });

  it("edits, reactions and deletes made on another device of the same user show up", async () => {
    const { a, b, alice, bob, id } = await pair();
    const phone = h.client(a);
    await live(phone.client);
    await alice.client.send(id, { text: "typo" });
    await waitFor(() => phone.client.messages(id)[0]?.message.seq === 1);
    const ref = { conversationId: id, seq: 1 };
    await phone.client.edit(ref, "fixed");
    await waitFor(() => alice.client.messages(id)[0]?.message.text === "fixed");
    await bob.client.react(ref, "🎉");
    await phone.client.react(ref, "🎉");
    await waitFor(() => alice.client.messages(id)[0]?.message.reactions[0]?.userIds.length === 2);
    expect(alice.client.messages(id)[0]?.message.reactions[0]?.userIds.sort()).toEqual([a, b].sort());
    await phone.client.unreact(ref, "🎉");
    await waitFor(() => alice.client.messages(id)[0]?.message.reactions[0]?.userIds.length === 1);
    await phone.client.delete(ref);
    await waitFor(() => alice.client.messages(id)[0]?.message.deletedAt !== undefined);
    expect(alice.client.messages(id)[0]?.message.text).toBe("");
    await waitFor(() => bob.client.messages(id)[0]?.message.deletedAt !== undefined);
  });
});
