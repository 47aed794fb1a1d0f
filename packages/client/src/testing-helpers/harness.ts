import type { Transport } from "@connectrpc/connect";
import { createTestServer, type TestServer, type TestServerOptions, waitFor } from "@parley/testkit";
import { createAuthTransport, createTokenCache } from "../auth.js";
import { createParleyClient, type ParleyClient, type ParleyClientOptions } from "../client.js";
import { createRpc, type Rpc } from "../core.js";
import { createNetworkSwitch, type NetworkSwitch } from "../network-switch.js";
import { createMemoryClientStore, createMemoryStorage, type MemoryStorage } from "../store/memory.js";

/** A client under test with the knobs tests turn. */
export interface TestClient {
  readonly client: ParleyClient;
  readonly net: NetworkSwitch;
  readonly storage: MemoryStorage;
  readonly userId: string;
}

/** Options for {@link Harness.client}. */
export type TestClientOptions = Partial<Omit<ParleyClientOptions, "transport" | "userId">> & {
  storage?: MemoryStorage;
  /** Reuse a network switch (e.g. to keep it offline across a restart). */
  net?: NetworkSwitch;
  /** Wraps the client's transport (around the network switch), e.g. to count calls. */
  wrap?: (transport: Transport) => Transport;
};

/** A test server plus clients that are all closed at the end. */
export interface Harness {
  readonly server: TestServer;
  client(userId: string, options?: TestClientOptions): TestClient;
  /** A raw Connect client for user `userId`, to act as another app or check the server's view. */
  raw(userId: string): Promise<Rpc>;
  close(): Promise<void>;
}

let counter = 0;

/** A user id unique within the test process. */
export function uniqueUser(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Starts an in-memory test server with fast reconnects for the clients it makes. */
export async function createHarness(options: TestServerOptions = {}): Promise<Harness> {
  const server = await createTestServer(options);
  const clients: ParleyClient[] = [];
  return {
    server,
    client(userId, options = {}) {
      const storage = options.storage ?? createMemoryStorage();
      const net = options.net ?? createNetworkSwitch(server.transport);
      const { wrap, ...rest } = options;
      const client = createParleyClient({
        transport: wrap ? wrap(net.transport) : net.transport,
        network: net.monitor,
        userId,
        token: () => server.token(userId),
        store: createMemoryClientStore({ storage }),
        reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
        deliveredDelayMs: 20,
        ...rest,
      });
      clients.push(client);
      return { client, net, storage, userId };
    },
    async raw(userId) {
      const transport = createAuthTransport(server.transport, createTokenCache(await server.token(userId)));
      return createRpc(transport);
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
    },
  };
}

/** Waits until the client is live. */
export async function live(client: ParleyClient, timeoutMs = 5_000): Promise<void> {
  await waitFor(() => client.state === "live", timeoutMs, `${client.userId} live`);
}

/** Two users with live clients and their direct conversation, created by alice. */
export interface TestPair {
  readonly a: string;
  readonly b: string;
  readonly alice: TestClient;
  readonly bob: TestClient;
  /** The direct conversation's id. */
  readonly id: string;
}

/** Starts alice and bob (bob with `bobOptions`), waits until both are live, and has alice create their direct conversation. */
export async function livePair(h: Harness, bobOptions: TestClientOptions = {}): Promise<TestPair> {
  const a = uniqueUser("alice");
  const b = uniqueUser("bob");
  const alice = h.client(a);
  const bob = h.client(b, bobOptions);
  await live(alice.client);
  await live(bob.client);
  const id = (await alice.client.createDirect(b)).conversationId;
  return { a, b, alice, bob, id };
}

/** Texts of a client's view of a conversation, with their status. */
export function texts(client: ParleyClient, conversationId: string): string[] {
  return client.messages(conversationId).map((m) => `${m.message.text}:${m.status}`);
}

export { waitFor };
