import { createServer } from "node:net";
import type { ParleyClient } from "@parley/client";
import { createStaticOwnership, createTestServer, type TestServer, waitFor } from "@parley/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { createParleyNodeClient } from "./node-client.js";

/** A TCP port free right now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

let server: TestServer | undefined;
const clients: ParleyClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

const texts = (client: ParleyClient, id: string) => client.messages(id).map((m) => m.message.text);

describe("createParleyNodeClient against two gateways over HTTP", () => {
  it("follows WRONG_GATEWAY to the gateway that serves the user, and back when the user moves", async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const urls = { a: `http://127.0.0.1:${portA}`, b: `http://127.0.0.1:${portB}` };
    const owners = createStaticOwnership({ gateways: urls, defaultGateway: "a" });
    owners.assign("alice", "b");
    server = await createTestServer({ gateway: owners.view("a"), gatewayId: "a" });
    const a = await server.listen({ port: portA });
    await server.listen({ port: portB, gateway: { gatewayId: "b", gateway: owners.view("b") } });
    const s = server;
    const start = (userId: string) => {
      // Both clients know gateway a only; the preset builds the transport to b itself.
      const client = createParleyNodeClient({
        baseUrl: a.baseUrl,
        userId,
        token: () => s.token(userId),
        reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      });
      clients.push(client);
      return client;
    };
    const alice = start("alice");
    const bob = start("bob");
    await waitFor(() => alice.state === "live" && bob.state === "live", 10_000, "both live");
    const id = (await bob.createDirect("alice")).conversationId;
    await bob.send(id, { text: "to alice on b" });
    await waitFor(() => texts(alice, id).length === 1, 10_000, "alice receives on b");

    owners.assign("alice", "a");
    await bob.send(id, { text: "to alice on a" });
    await alice.send(id, { text: "from alice" });
    await waitFor(() => texts(alice, id).length === 3 && alice.outbox().length === 0, 10_000, "moved");
    await waitFor(() => texts(bob, id).length === 3, 10_000, "bob has all");
    expect(texts(alice, id)).toEqual(["to alice on b", "to alice on a", "from alice"]);
    expect(texts(bob, id)).toEqual(texts(alice, id));
  });
});
