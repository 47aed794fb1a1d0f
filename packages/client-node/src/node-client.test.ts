import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ParleyClient } from "@parley/client";
import { type SpawnedServer, spawnReferenceServer } from "@parley/reference-server/testing";
import { waitFor } from "@parley/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyNodeClient, type ParleyNodeClientOptions } from "./node-client.js";

let server: SpawnedServer;
let root: string;
const running = new Set<ParleyClient>();

beforeAll(async () => {
  [server, root] = await Promise.all([
    spawnReferenceServer(),
    mkdtemp(join(tmpdir(), "parley-node-client-")),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([...running].map((c) => c.close()));
  await server?.cleanup();
  if (root) await rm(root, { recursive: true, force: true });
});

async function login(userId: string): Promise<string> {
  const res = await fetch(`${server.baseUrl}/parley.v1.AuthService/DevLogin`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  if (!res.ok) throw new Error(`unable to log in as ${userId}; HTTP ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

function start(userId: string, extra: Partial<ParleyNodeClientOptions> = {}): ParleyClient {
  const client = createParleyNodeClient({
    baseUrl: server.baseUrl,
    userId,
    token: () => login(userId),
    dataDir: join(root, userId),
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    deliveredDelayMs: 50,
    ...extra,
  });
  running.add(client);
  return client;
}

async function stop(client: ParleyClient): Promise<void> {
  running.delete(client);
  await client.close();
}

async function streams(): Promise<number> {
  const res = await fetch(`${server.baseUrl}/healthz`);
  return ((await res.json()) as { streams: number }).streams;
}

const texts = (client: ParleyClient, id: string) => client.messages(id).map((m) => m.message.text);

describe("createParleyNodeClient against the reference server over HTTP", () => {
  it("chats, and a client restarted on its data folder resumes from its cursor and sends its queued outbox once", async () => {
    const alice = start("node-alice");
    let bob = start("node-bob");
    await waitFor(() => alice.state === "live" && bob.state === "live", 15_000, "both clients live");
    expect(await streams()).toBe(2);

    // Bob receives alice's message once.
    const id = (await alice.createDirect("node-bob")).conversationId;
    await alice.send(id, { text: "hello bob" });
    await waitFor(() => bob.messages(id).length === 1, 10_000, "bob receives the message");
    await waitFor(() => alice.outbox().length === 0, 10_000, "alice's send answered");
    expect(texts(bob, id)).toEqual(["hello bob"]);
    expect(bob.messages(id)[0]?.message.seq).toBe(1);

    // Bob goes away; alice writes meanwhile.
    await stop(bob);
    await waitFor(async () => (await streams()) === 1, 10_000, "bob's stream closed");
    await alice.send(id, { text: "are you there?" });
    await alice.send(id, { text: "ping" });
    await waitFor(() => alice.outbox().length === 0, 10_000, "alice's sends answered");

    // Bob comes back without connecting: the cache is on disk, and what he sends is queued durably.
    bob = start("node-bob", { autoConnect: false });
    await bob.ready();
    expect(texts(bob, id)).toEqual(["hello bob"]);
    await bob.send(id, { text: "sent while offline" });
    expect(bob.outbox()).toHaveLength(1);
    await stop(bob);

    // Bob restarts online: he resumes from his cursor (no snapshot rebuild), gets what he
    // missed once, and his queued send goes out once.
    bob = start("node-bob");
    let resyncs = 0;
    bob.on("resync", () => resyncs++);
    await bob.ready();
    expect(bob.messages(id).map((m) => `${m.message.text}:${m.status}`)).toEqual([
      "hello bob:sent",
      "sent while offline:pending",
    ]);
    await waitFor(() => bob.outbox().length === 0 && bob.messages(id).length === 4, 15_000, "bob caught up");
    expect(texts(bob, id)).toEqual(["hello bob", "are you there?", "ping", "sent while offline"]);
    expect(bob.messages(id).map((m) => m.message.seq)).toEqual([1, 2, 3, 4]);
    expect(resyncs).toBe(0);
    await waitFor(
      () => texts(alice, id).includes("sent while offline"),
      10_000,
      "alice receives bob's reply",
    );
    expect(texts(alice, id)).toEqual(["hello bob", "are you there?", "ping", "sent while offline"]);
    expect(await streams()).toBe(2);

    await stop(alice);
    await stop(bob);
    await waitFor(async () => (await streams()) === 0, 10_000, "every stream closed");
  }, 90_000);

  it("refuses to share a data folder with a running client", async () => {
    const first = start("node-carol");
    await first.ready();
    const second = start("node-carol");
    await expect(second.ready()).rejects.toThrow(/in use|already open/);
    await stop(second);
    await stop(first);
  }, 30_000);
});
