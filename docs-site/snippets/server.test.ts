// Runs the server guide's embedded composition (server.ts) over real HTTP on
// 127.0.0.1, with Node SDK clients and the token route.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createParleyNodeClient } from "@parley/client-node";
import { waitFor } from "@parley/testkit";
import { afterEach, expect, test } from "vitest";
import { startParley } from "./server.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

test("clients of the composed server talk to each other, with tokens from the app's own route", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "parley-docs-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const secret = "docs-snippet-secret-0123456789abcdef";
  const { url, stop } = await startParley({
    dataDir,
    secret,
    port: 0,
    currentUser: (req) => req.headers["x-demo-user"]?.toString(),
  });
  cleanups.push(stop);

  // The app's token route: 401 without a session, a token for the signed-in user otherwise.
  expect((await fetch(`${url}/api/parley-token`)).status).toBe(401);
  const token = (userId: string) => async () =>
    (await fetch(`${url}/api/parley-token`, { headers: { "x-demo-user": userId } })).text();

  const alice = createParleyNodeClient({ baseUrl: url, userId: "alice", token: token("alice") });
  const bob = createParleyNodeClient({ baseUrl: url, userId: "bob", token: token("bob") });
  cleanups.push(
    () => alice.close(),
    () => bob.close(),
  );

  const { conversationId } = await alice.createDirect("bob");
  await alice.send(conversationId, { text: "over real HTTP" });
  const seen = await waitFor(() =>
    bob.messages(conversationId).find((m) => m.message.text === "over real HTTP"),
  );
  expect(seen.message.senderId).toBe("alice");
});

test("what was acknowledged is still there after a restart on the same folder", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "parley-docs-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const secret = "docs-snippet-secret-0123456789abcdef";
  const currentUser = (req: { headers: Record<string, unknown> }) => String(req.headers["x-demo-user"] ?? "");
  const token = (url: string, userId: string) => async () =>
    (await fetch(`${url}/api/parley-token`, { headers: { "x-demo-user": userId } })).text();

  const first = await startParley({ dataDir, secret, port: 0, currentUser });
  const alice = createParleyNodeClient({
    baseUrl: first.url,
    userId: "alice",
    token: token(first.url, "alice"),
  });
  const { conversationId } = await alice.createDirect("bob");
  await alice.send(conversationId, { text: "kept" });
  await waitFor(() => alice.messages(conversationId).find((m) => m.message.seq > 0));
  await alice.close();
  await first.stop();

  const second = await startParley({ dataDir, secret, port: 0, currentUser });
  cleanups.push(second.stop);
  const bob = createParleyNodeClient({ baseUrl: second.url, userId: "bob", token: token(second.url, "bob") });
  cleanups.push(() => bob.close());
  const page = await bob.history(conversationId);
  expect(page.messages.map((m) => m.text)).toEqual(["kept"]);
});
