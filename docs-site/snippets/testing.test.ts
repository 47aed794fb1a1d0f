// The SDK guide's "Testing your app" section shows this file: a unit test of app code
// against the real Parley pipeline in the test process, with no network.
// #region test
import { createNetworkSwitch, createParleyClient, type ParleyClient } from "@parley/client";
import { createTestServer, type TestServer, waitFor } from "@parley/testkit";
import { afterEach, beforeEach, expect, test } from "vitest";

let server: TestServer;
const clients: ParleyClient[] = [];

beforeEach(async () => {
  server = await createTestServer(); // in memory: nothing on disk, no port
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.close();
});

function signIn(userId: string, transport = server.transport): ParleyClient {
  const client = createParleyClient({ transport, userId, token: () => server.token(userId) });
  clients.push(client);
  return client;
}

test("bob sees what alice wrote offline once she is back", async () => {
  const net = createNetworkSwitch(server.transport); // cuts the connection on demand
  const alice = signIn("alice", net.transport);
  const bob = signIn("bob");
  const { conversationId } = await alice.createDirect("bob");

  net.setOnline(false);
  const sent = await alice.send(conversationId, { text: "written on the train" });
  expect(sent.status).toBe("pending");

  net.setOnline(true);
  const seen = await waitFor(() =>
    bob.messages(conversationId).find((m) => m.message.text === "written on the train"),
  );
  expect(seen.message.senderId).toBe("alice");
});
// #endregion test
