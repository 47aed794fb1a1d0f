import { createClient, type Transport } from "@connectrpc/connect";
import { AuthService, ConversationService, MessageService, SyncService } from "@parley/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { createTestServer, type TestServer } from "./test-server.js";

/** The server's transport with a bearer token added to every call. */
function withToken(transport: Transport, token: string): Transport {
  const auth = (header: HeadersInit | undefined) => {
    const h = new Headers(header);
    h.set("authorization", `Bearer ${token}`);
    return h;
  };
  return {
    unary: (method, signal, timeoutMs, header, input, ctx) =>
      transport.unary(method, signal, timeoutMs, auth(header), input, ctx),
    stream: (method, signal, timeoutMs, header, input, ctx) =>
      transport.stream(method, signal, timeoutMs, auth(header), input, ctx),
  };
}

describe("createTestServer", () => {
  let server: TestServer | undefined;
  afterAll(() => server?.close());

  it("serves the real pipeline over an in-memory transport: a sent message reaches the peer's stream", async () => {
    server = await createTestServer();
    const alice = withToken(server.transport, await server.token("alice"));
    const bob = withToken(server.transport, await server.token("bob"));
    expect((await createClient(AuthService, alice).whoAmI({})).userId).toBe("alice");
    const { conversation } = await createClient(ConversationService, alice).createDirect({
      peerUserId: "bob",
    });
    const abort = new AbortController();
    // "From now on": the stream starts when it is first read, so wait for its CaughtUp
    // marker before sending (or the message may be older than the stream).
    const stream = createClient(SyncService, bob)
      .subscribe({ cursor: "" }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    for (;;) {
      const { value, done } = await stream.next();
      if (done || value.kind.case === "caughtUp") break;
    }
    const sent = await createClient(MessageService, alice).sendMessage({
      conversationId: conversation?.conversationId ?? "",
      clientMsgId: "m1",
      text: "hi bob",
    });
    expect(sent.message?.seq).toBe(1);
    let received = "";
    for (;;) {
      const { value: res, done } = await stream.next();
      if (done) break;
      if (res.kind.case === "event" && res.kind.value.payload.case === "messageCreated") {
        received = res.kind.value.payload.value.message?.text ?? "";
        break;
      }
    }
    abort.abort();
    expect(received).toBe("hi bob");
  });

  it("rejects a token signed with another secret", async () => {
    server ??= await createTestServer();
    const other = await createTestServer({ secret: "another-secret-0123456789abcdef0123" });
    const mallory = withToken(server.transport, await other.token("mallory"));
    await other.close();
    await expect(createClient(AuthService, mallory).whoAmI({})).rejects.toThrow(/token/i);
  });
});
