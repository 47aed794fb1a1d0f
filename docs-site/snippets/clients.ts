// Snippets of the SDK guide: creating a client in a browser, in Node, and on any
// Connect transport. Typechecked only (they need a browser or a running server);
// sdk.test.ts runs the same calls on createTestServer()'s transport.
import { createConnectTransport } from "@connectrpc/connect-node";
import { createParleyClient, type ParleyClient } from "@parley/client";
import { createParleyNodeClient } from "@parley/client-node";
import { createParleyWebClient, deleteIndexedDbClientStore, parleyDatabaseName } from "@parley/client-web";

/** Your sign-in: returns a Parley access token (a JWT whose `sub` is the user id). */
declare function fetchParleyToken(): Promise<string>;

export function webClient(): ParleyClient {
  // #region web
  const client = createParleyWebClient({
    baseUrl: "https://chat.example.com", // or location.origin when the app and the API share it
    userId: "alice",
    // Called before connecting and again whenever the server says the token expired.
    token: () => fetchParleyToken(),
  });
  // #endregion web
  return client;
}

export async function signOut(client: ParleyClient): Promise<void> {
  // #region sign-out
  await client.close();
  await deleteIndexedDbClientStore(parleyDatabaseName("alice", "https://chat.example.com"));
  // #endregion sign-out
}

export function nodeClient(): ParleyClient {
  // #region node
  const bot = createParleyNodeClient({
    baseUrl: "http://127.0.0.1:8080",
    userId: "report-bot",
    token: () => process.env.PARLEY_TOKEN ?? "",
    dataDir: "./data/report-bot", // optional: cursor, cache and outbox survive restarts
  });
  process.once("SIGTERM", () => void bot.close()); // flushes the store, releases dataDir
  // #endregion node
  return bot;
}

export function coreClient(): ParleyClient {
  // #region core
  const client = createParleyClient({
    transport: createConnectTransport({ baseUrl: "http://127.0.0.1:8080", httpVersion: "1.1" }),
    userId: "alice",
    token: () => fetchParleyToken(),
    // store: a ClientStore (memory by default), coordinator, network, logger, ...
  });
  // #endregion core
  return client;
}

export function tabs(): ParleyClient {
  // #region tabs
  const client = createParleyWebClient({
    baseUrl: location.origin,
    userId: "alice",
    token: () => fetchParleyToken(),
    // The default: the tab holding a Web Lock keeps the one connection; the others
    // follow over a BroadcastChannel and send through it. When that tab closes,
    // another one takes over from the shared cursor and outbox.
    shareAcrossTabs: true,
  });
  client.on("state", ({ state }) => {
    // Every tab sees the leader's connection state.
    console.log(client.isLeader ? "this tab is connected" : "another tab is connected", state);
  });
  // #endregion tabs
  return client;
}
