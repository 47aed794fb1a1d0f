import { createClient } from "@connectrpc/connect";
import {
  ErrorReason,
  PresenceService,
  parleyDetail,
  type SubscribeResponse,
  SyncService,
} from "@parley/protocol";
import { afterEach, describe, expect, it } from "vitest";
// Relative: @parley/testkit depends on this package.
import { StreamCollector, sleep, waitFor, withBearerToken } from "../../../testkit/src/index.js";
import { createTestServer, type TestServer } from "../../../testkit/src/test-server.js";

const TTL_MS = 300;

let server: TestServer | undefined;
const collectors: StreamCollector<SubscribeResponse>[] = [];
afterEach(async () => {
  for (const c of collectors.splice(0)) await c.close();
  await server?.close();
  server = undefined;
});

async function setup() {
  server = await createTestServer({ presenceTtlMs: TTL_MS, streamHeartbeatMs: 60_000 });
  const s = server;
  const subscribe = (userId: string) => {
    const collector = new StreamCollector<SubscribeResponse>((signal) =>
      createClient(
        SyncService,
        withBearerToken(s.transport, () => s.token(userId)),
      ).subscribe({ cursor: "" }, { signal }),
    );
    collectors.push(collector);
    return collector;
  };
  const online = async (userId: string) => {
    const { presence } = await createClient(
      PresenceService,
      withBearerToken(s.transport, () => s.token("observer")),
    ).getPresence({
      userIds: [userId],
    });
    return presence[0]?.online ?? false;
  };
  const heartbeats = (c: StreamCollector<SubscribeResponse>) =>
    c.items.filter((res) => res.kind.case === "heartbeat").length;
  return { server: s, subscribe, online, heartbeats };
}

describe("SyncService.Subscribe", () => {
  it("keeps each device's user online and sends heartbeats while the stream is open, offline once all close", async () => {
    const { subscribe, online, heartbeats } = await setup();
    const alice = subscribe("alice");
    const bob = subscribe("bob");
    await waitFor(() => alice.items.some((res) => res.kind.case === "caughtUp"), 5_000, "alice caught up");
    await waitFor(() => bob.items.some((res) => res.kind.case === "caughtUp"), 5_000, "bob caught up");
    // The stream heartbeat runs at least every TTL/3, so presence outlives many TTLs.
    await waitFor(() => heartbeats(alice) >= 4 && heartbeats(bob) >= 4, 10_000, "heartbeats on both streams");
    await sleep(2 * TTL_MS);
    expect(await online("alice")).toBe(true);
    expect(await online("bob")).toBe(true);
    await alice.close();
    await waitFor(async () => !(await online("alice")), 5_000, "alice offline after her stream closed");
    const bobBeats = heartbeats(bob);
    await waitFor(() => heartbeats(bob) > bobBeats, 5_000, "bob's stream still beats");
    expect(await online("bob")).toBe(true);
  });

  it("ends live streams with SHUTTING_DOWN when the server shuts down", async () => {
    const { server, subscribe } = await setup();
    const streams = [subscribe("alice"), subscribe("alice"), subscribe("bob")];
    await waitFor(
      () => streams.every((c) => c.items.some((res) => res.kind.case === "caughtUp")),
      5_000,
      "caught up",
    );
    await server.close();
    await waitFor(() => streams.every((c) => c.ended), 5_000, "streams ended");
    expect(streams.map((c) => parleyDetail(c.error)?.reason)).toEqual([
      ErrorReason.SHUTTING_DOWN,
      ErrorReason.SHUTTING_DOWN,
      ErrorReason.SHUTTING_DOWN,
    ]);
  });
});
