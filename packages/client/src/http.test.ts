import { createConnectTransport } from "@connectrpc/connect-node";
import { type SpawnedServer, spawnReferenceServer } from "@parley/reference-server/testing";
import { waitFor } from "@parley/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient, type ParleyClient } from "./client.js";
import { createMemoryClientStore, createMemoryStorage } from "./store/memory.js";

let server: SpawnedServer;
const clients: ParleyClient[] = [];

beforeAll(async () => {
  server = await spawnReferenceServer();
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.cleanup();
});

async function login(userId: string): Promise<string> {
  const res = await fetch(`${server.baseUrl}/parley.v1.AuthService/DevLogin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  return ((await res.json()) as { token: string }).token;
}

function client(userId: string, storage = createMemoryStorage()): ParleyClient {
  const c = createParleyClient({
    transport: createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }),
    userId,
    token: () => login(userId),
    store: createMemoryClientStore({ storage }),
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    deliveredDelayMs: 50,
  });
  clients.push(c);
  return c;
}

async function streams(): Promise<number> {
  const res = await fetch(`${server.baseUrl}/healthz`);
  return ((await res.json()) as { streams: number }).streams;
}

describe("over HTTP against the reference server", () => {
  it("syncs two users, survives a hard server restart and keeps one stream per client", async () => {
    const alice = client("int-alice");
    const bob = client("int-bob");
    await waitFor(() => alice.state === "live" && bob.state === "live", 10_000);
    expect(await streams()).toBe(2);
    const id = (await alice.createDirect("int-bob")).conversationId;
    await alice.send(id, { text: "over http" });
    await waitFor(() => bob.messages(id).length === 1, 10_000);
    await waitFor(() => alice.messages(id)[0]?.status === "delivered", 10_000);

    await server.restart({ hard: true });
    await alice.send(id, { text: "after restart" });
    await waitFor(() => bob.messages(id).at(-1)?.message.text === "after restart", 20_000);
    await waitFor(() => alice.state === "live" && bob.state === "live", 10_000);
    await waitFor(async () => (await streams()) === 2, 10_000);
    expect(bob.messages(id).map((m) => m.message.text)).toEqual(["over http", "after restart"]);
    await bob.close();
    await waitFor(async () => (await streams()) === 1, 10_000);
  }, 90_000);
});
