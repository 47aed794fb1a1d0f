import type { Transport } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createMemoryStorage } from "./store/memory.js";
import { createHarness, type Harness, live, uniqueUser, waitFor } from "./testing-helpers/harness.js";
import { createLocalCoordinatorGroup } from "./testing-helpers/local-coordinators.js";

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

/** Counts the Subscribe streams a transport opens. */
function countSubscribes(counter: { count: number }) {
  return (transport: Transport): Transport => ({
    unary: (...args) => transport.unary(...args),
    stream: (method, ...rest) => {
      if (method.name === "Subscribe") counter.count += 1;
      return transport.stream(method, ...rest);
    },
  });
}

describe("tabs", () => {
  it("two tabs share one connection and one store; the follower takes over when the leader closes, losing and doubling nothing", async () => {
    const a = uniqueUser("alice");
    const b = uniqueUser("bob");
    const storage = createMemoryStorage();
    const group = createLocalCoordinatorGroup();
    const leaderStreams = { count: 0 };
    const followerStreams = { count: 0 };
    const tab1 = h.client(a, { storage, coordinator: group.create(), wrap: countSubscribes(leaderStreams) });
    await live(tab1.client);
    const tab2 = h.client(a, {
      storage,
      coordinator: group.create(),
      wrap: countSubscribes(followerStreams),
    });
    await tab2.client.ready();
    await waitFor(() => tab2.client.state === "live");
    expect([tab1.client.isLeader, tab2.client.isLeader]).toEqual([true, false]);

    const bob = h.client(b).client;
    await live(bob);
    const id = (await bob.createDirect(a)).conversationId;
    await bob.send(id, { text: "hi tabs" });
    await waitFor(() => tab2.client.messages(id).length === 1);
    expect(tab2.client.conversation(id)?.lastMessage?.text).toBe("hi tabs");

    // The follower's send goes out through the leader.
    const sent = await tab2.client.send(id, { text: "from tab 2" });
    expect(sent.status).toBe("pending");
    await waitFor(() => tab2.client.messages(id).at(-1)?.message.seq === 2);
    await waitFor(() => tab1.client.messages(id).at(-1)?.message.text === "from tab 2");
    await waitFor(() => bob.messages(id).length === 2);
    expect(followerStreams.count).toBe(0);
    expect(leaderStreams.count).toBe(1);

    // The follower's markRead shows at once and reaches the server through the leader.
    await tab2.client.markRead(id);
    expect(tab2.client.conversation(id)?.unreadCount).toBe(0);
    await waitFor(() => tab1.client.conversation(id)?.unreadCount === 0 && tab1.client.outbox().length === 0);

    // The leader loses its network: the follower's sends wait in the shared store.
    tab1.net.setOnline(false);
    await waitFor(() => tab2.client.state === "offline");
    await tab2.client.send(id, { text: "queued 1" });
    await tab2.client.send(id, { text: "queued 2" });
    await waitFor(() => tab1.client.outbox().length === 2);
    await tab1.client.close();
    await waitFor(() => tab2.client.isLeader);
    await live(tab2.client);
    expect(followerStreams.count).toBe(1);
    await waitFor(() => tab2.client.outbox().length === 0);
    await waitFor(() => bob.messages(id).length === 4);
    expect(bob.messages(id).map((m) => m.message.text)).toEqual([
      "hi tabs",
      "from tab 2",
      "queued 1",
      "queued 2",
    ]);
    expect(tab2.client.messages(id).map((m) => `${m.message.seq}:${m.message.text}`)).toEqual([
      "1:hi tabs",
      "2:from tab 2",
      "3:queued 1",
      "4:queued 2",
    ]);
    // The new leader goes on from the stored cursor.
    await bob.send(id, { text: "still there?" });
    await waitFor(() => tab2.client.messages(id).at(-1)?.message.text === "still there?");
    expect(tab2.client.messages(id)).toHaveLength(5);
    expect(group.broadcasts).toBeGreaterThan(0);
  });
});
