import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHarness, type Harness, live, texts, uniqueUser, waitFor } from "./testing-helpers/harness.js";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

describe("connection", () => {
  it("connects and goes live", async () => {
    const alice = h.client(uniqueUser("alice")).client;
    const states: string[] = [];
    alice.on("state", (e) => states.push(e.state));
    await alice.ready();
    await live(alice);
    expect(states).toEqual(["connecting", "live"]);
    expect(alice.isLeader).toBe(true);
    expect(alice.deviceId).not.toBe("");
  });
});

describe("send", () => {
  it("a send is pending, then sent with a seq, and the peer's client receives it once", async () => {
    const a = uniqueUser("alice");
    const b = uniqueUser("bob");
    const alice = h.client(a).client;
    const bob = h.client(b).client;
    await live(alice);
    await live(bob);
    const conv = await alice.createDirect(b);
    const pending = await alice.send(conv.conversationId, { text: "hello" });
    expect(pending.status).toBe("pending");
    expect(pending.message.seq).toBe(0);
    expect(pending.message.senderId).toBe(a);
    await waitFor(() => alice.messages(conv.conversationId)[0]?.message.seq === 1);
    await waitFor(() => bob.messages(conv.conversationId).length === 1);
    expect(bob.messages(conv.conversationId).map((m) => m.message.text)).toEqual(["hello"]);
    expect(alice.outbox()).toEqual([]);
    expect(texts(alice, conv.conversationId)).toHaveLength(1);
  });
});
