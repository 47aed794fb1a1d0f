import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { AuthService, SyncService } from "@parley/protocol";
import { createTestServer, type TestServer } from "@parley/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAuthTransport, createTokenCache } from "./auth.js";
import { createNetworkSwitch } from "./network-switch.js";

let server: TestServer;
beforeEach(async () => {
  server = await createTestServer();
});
afterEach(async () => {
  await server.close();
});

function unavailable(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unavailable && err.rawMessage === "network down";
}

describe("createNetworkSwitch", () => {
  it("fails new calls while offline, aborts open streams, and lets calls through again when online", async () => {
    const net = createNetworkSwitch(server.transport);
    const transport = createAuthTransport(net.transport, createTokenCache(await server.token("ann")));
    const auth = createClient(AuthService, transport);
    const sync = createClient(SyncService, transport);
    const changes: boolean[] = [];
    const unsubscribe = net.monitor.subscribe((online) => changes.push(online));
    expect((await auth.whoAmI({})).userId).toBe("ann");

    const received: string[] = [];
    const reading = (async () => {
      for await (const res of sync.subscribe({ cursor: "" })) received.push(String(res.kind.case));
    })();
    const outcome = reading.then(
      () => "ended",
      (err: unknown) => (unavailable(err) ? "network down" : String(err)),
    );
    for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received).toEqual(["caughtUp"]);

    net.setOnline(false);
    expect(await outcome).toBe("network down");
    expect(net.isOnline()).toBe(false);
    expect(net.monitor.isOnline()).toBe(false);
    await expect(auth.whoAmI({})).rejects.toSatisfy(unavailable);
    await expect(
      (async () => {
        for await (const _ of sync.subscribe({ cursor: "" })) break;
      })(),
    ).rejects.toSatisfy(unavailable);

    net.setOnline(true);
    expect((await auth.whoAmI({})).userId).toBe("ann");
    unsubscribe();
    net.setOnline(false);
    expect(changes).toEqual([false, true]);
  });

  it("can start offline", async () => {
    const net = createNetworkSwitch(server.transport, { online: false });
    const auth = createClient(AuthService, net.transport);
    await expect(auth.whoAmI({})).rejects.toSatisfy(unavailable);
  });

  it("passes the caller's own abort through as a cancellation, not as a network failure", async () => {
    const net = createNetworkSwitch(server.transport);
    const sync = createClient(
      SyncService,
      createAuthTransport(net.transport, createTokenCache(await server.token("ann"))),
    );
    const controller = new AbortController();
    const reading = (async () => {
      for await (const _ of sync.subscribe({ cursor: "" }, { signal: controller.signal })) controller.abort();
    })();
    const err = await reading.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err === undefined || (err instanceof ConnectError && err.code === Code.Canceled)).toBe(true);
  });
});
