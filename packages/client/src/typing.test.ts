import { sleep } from "@parley/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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

describe("typing", () => {
  it("throttles my indicator, sends stop at once, and the peer's indicator expires on its own", async () => {
    const pair = await livePair(h);
    const { a, b, id } = pair;
    const alice = pair.alice.client;
    const bob = pair.bob.client;
    await waitFor(() => bob.conversation(id) !== undefined);

    // What reaches bob's devices, straight from the server.
    const raw = await h.raw(b);
    const controller = new AbortController();
    const wire: boolean[] = [];
    let caughtUp = false;
    const reading = (async () => {
      for await (const res of raw.sync.subscribe({ cursor: "" }, { signal: controller.signal })) {
        if (res.kind.case === "caughtUp") caughtUp = true;
        if (res.kind.case === "typing") wire.push(res.kind.value.typing);
      }
    })().catch(() => {});
    await waitFor(() => caughtUp);

    const seen: string[][] = [];
    bob.on("typing", (e) => seen.push(e.userIds));
    for (let i = 0; i < 5; i++) alice.setTyping(id, true);
    await waitFor(() => bob.typing(id).includes(a));
    await sleep(100);
    expect(wire).toEqual([true]);
    alice.setTyping(id, false);
    await waitFor(() => bob.typing(id).length === 0);
    expect(wire).toEqual([true, false]);
    // A stop without a start sends nothing.
    alice.setTyping(id, false);
    alice.setTyping(id, true);
    await waitFor(() => bob.typing(id).includes(a));
    expect(alice.typing(id)).toEqual([]);
    // No more updates from alice: the indicator expires after about 6 s.
    await waitFor(() => bob.typing(id).length === 0, 9_000);
    expect(seen).toEqual([[a], [], [a], []]);
    expect(wire).toEqual([true, false, true]);
    controller.abort();
    await reading;
  }, 20_000);
});

describe("presence", () => {
  it("getPresence and watchPresence follow a user coming online and leaving", async () => {
    const a = uniqueUser("alice");
    const c = uniqueUser("carol");
    const alice = h.client(a).client;
    await live(alice);
    expect((await alice.getPresence([c])).map((p) => [p.userId, p.online])).toEqual([[c, false]]);
    const updates: boolean[] = [];
    const stop = alice.watchPresence([c], (p) => updates.push(p.online));
    await waitFor(() => updates.length === 1);
    const carol = h.client(c).client;
    await live(carol);
    await waitFor(() => updates.at(-1) === true);
    expect((await alice.getPresence([c]))[0]?.online).toBe(true);
    await carol.close();
    await waitFor(() => updates.at(-1) === false);
    stop();
    const count = updates.length;
    const carolAgain = h.client(c).client;
    await live(carolAgain);
    await sleep(100);
    expect(updates.length).toBe(count);
  });
});
