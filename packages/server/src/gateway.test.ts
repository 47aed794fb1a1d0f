import { Code, createClient, type Transport } from "@connectrpc/connect";
import {
  AuthService,
  ConversationService,
  DiscoveryService,
  ErrorReason,
  MessageService,
  parleyDetail,
  type SubscribeResponse,
  SyncService,
} from "@parley/protocol";
import { afterEach, describe, expect, it } from "vitest";
// Relative: @parley/testkit depends on this package.
import {
  expectParleyError,
  expectStreamError,
  StreamCollector,
  waitFor,
  withBearerToken,
} from "../../testkit/src/index.js";
import { createStaticOwnership, createTestServer, type TestServer } from "../../testkit/src/test-server.js";

const URLS = { a: "http://gateway-a.test", b: "http://gateway-b.test" };

/** Texts of the messages a collected stream brought. */
function texts(items: SubscribeResponse[]): string[] {
  return items.flatMap((res) =>
    res.kind.case === "event" && res.kind.value.payload.case === "messageCreated"
      ? [res.kind.value.payload.value.message?.text ?? ""]
      : [],
  );
}

let server: TestServer | undefined;
const collectors: StreamCollector<SubscribeResponse>[] = [];
afterEach(async () => {
  for (const c of collectors.splice(0)) await c.close();
  await server?.close();
  server = undefined;
});

/** Gateways a and b on one pipeline; alice is served by b, everyone else by a. */
async function twoGateways() {
  const owners = createStaticOwnership({ gateways: URLS, defaultGateway: "a" });
  owners.assign("alice", "b");
  server = await createTestServer({ gateway: owners.view("a"), gatewayId: "a" });
  const s = server;
  const a = server.transport;
  const b = server.addGateway({ gatewayId: "b", gateway: owners.view("b") });
  const subscribe = (transport: Transport, userId: string) => {
    const collector = new StreamCollector<SubscribeResponse>((signal) =>
      createClient(
        SyncService,
        withBearerToken(transport, () => s.token(userId)),
      ).subscribe({ cursor: "" }, { signal }),
    );
    collectors.push(collector);
    return collector;
  };
  const caughtUp = (c: StreamCollector<SubscribeResponse>) =>
    waitFor(() => c.items.some((res) => res.kind.case === "caughtUp"), 5_000, "caught up");
  return { owners, server: s, a, b, subscribe, caughtUp };
}

describe("gateway ownership (cluster mode)", () => {
  it("Subscribe on a gateway that does not serve the user fails with WRONG_GATEWAY naming the owner; unary calls work there", async () => {
    const { server, a } = await twoGateways();
    const alice = withBearerToken(a, () => server.token("alice"));
    const { error } = await expectStreamError(
      (signal) => createClient(SyncService, alice).subscribe({ cursor: "" }, { signal }),
      Code.Unavailable,
      ErrorReason.WRONG_GATEWAY,
    );
    expect(parleyDetail(error)?.metadata).toEqual({ endpoint: URLS.b });
    expect((await createClient(AuthService, alice).whoAmI({})).userId).toBe("alice");
    const { conversation } = await createClient(ConversationService, alice).createDirect({
      peerUserId: "bob",
    });
    const sent = await createClient(MessageService, alice).sendMessage({
      conversationId: conversation?.conversationId ?? "",
      clientMsgId: "m1",
      text: "from a",
    });
    expect(sent.message?.seq).toBe(1);
  });

  it("the owner serves the stream: messages sent through the other gateway arrive", async () => {
    const { server, a, b, subscribe, caughtUp } = await twoGateways();
    const onB = subscribe(b, "alice");
    await caughtUp(onB);
    const bob = withBearerToken(a, () => server.token("bob"));
    const { conversation } = await createClient(ConversationService, bob).createDirect({
      peerUserId: "alice",
    });
    await createClient(MessageService, bob).sendMessage({
      conversationId: conversation?.conversationId ?? "",
      clientMsgId: "m1",
      text: "hi alice",
    });
    await waitFor(() => texts(onB.items).includes("hi alice"), 5_000, "alice receives on b");
    expect(onB.error).toBeUndefined();
  });

  it("a user with no gateway (mid-rebalance) gets WRONG_GATEWAY without an endpoint, and GetEndpoint says retry", async () => {
    const { owners, server, a } = await twoGateways();
    owners.assign("carol", undefined);
    const carol = withBearerToken(a, () => server.token("carol"));
    const { error } = await expectStreamError(
      (signal) => createClient(SyncService, carol).subscribe({ cursor: "" }, { signal }),
      Code.Unavailable,
      ErrorReason.WRONG_GATEWAY,
    );
    expect(parleyDetail(error)?.metadata).toEqual({});
    const refused = await expectParleyError(
      createClient(DiscoveryService, carol).getEndpoint({}),
      Code.Unavailable,
      ErrorReason.DEPENDENCY_UNAVAILABLE,
    );
    expect(refused.rawMessage).toMatch(/no gateway serves user carol/);
  });

  it("a live stream whose user moves ends with WRONG_GATEWAY naming the new owner; other users' streams go on", async () => {
    const { owners, server, a, b, subscribe, caughtUp } = await twoGateways();
    owners.assign("dave", "b");
    const alice = subscribe(b, "alice");
    const dave = subscribe(b, "dave");
    await caughtUp(alice);
    await caughtUp(dave);
    owners.assign("alice", "a");
    await waitFor(() => alice.ended, 5_000, "alice's stream on b ends");
    expect(alice.error?.code).toBe(Code.Unavailable);
    expect(parleyDetail(alice.error)?.reason).toBe(ErrorReason.WRONG_GATEWAY);
    expect(parleyDetail(alice.error)?.metadata).toEqual({ endpoint: URLS.a });
    // The moved user now subscribes on a; dave stays live on b.
    const moved = subscribe(a, "alice");
    await caughtUp(moved);
    const bob = withBearerToken(a, () => server.token("bob"));
    const conversations = createClient(ConversationService, bob);
    const messages = createClient(MessageService, bob);
    for (const peer of ["alice", "dave"]) {
      const { conversation } = await conversations.createDirect({ peerUserId: peer });
      await messages.sendMessage({
        conversationId: conversation?.conversationId ?? "",
        clientMsgId: `to-${peer}`,
        text: `hi ${peer}`,
      });
    }
    await waitFor(() => texts(moved.items).includes("hi alice"), 5_000, "alice receives on a");
    await waitFor(() => texts(dave.items).includes("hi dave"), 5_000, "dave receives on b");
    expect(dave.ended).toBe(false);
  });

  it("GetEndpoint answers the gateway that serves the caller, from any gateway", async () => {
    const { server, a, b } = await twoGateways();
    const ask = (transport: Transport, userId: string) =>
      createClient(
        DiscoveryService,
        withBearerToken(transport, () => server.token(userId)),
      ).getEndpoint({});
    expect(await ask(a, "alice")).toMatchObject({ baseUrl: URLS.b, gatewayId: "b" });
    // The gateway that serves the caller answers itself ("" = the server you asked).
    expect(await ask(b, "alice")).toMatchObject({ baseUrl: "", gatewayId: "b" });
    expect(await ask(b, "bob")).toMatchObject({ baseUrl: URLS.a, gatewayId: "a" });
    expect(await ask(a, "bob")).toMatchObject({ baseUrl: "", gatewayId: "a" });
  });
});
