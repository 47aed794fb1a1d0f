import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  compressionGzip,
  connectNodeAdapter,
  createConnectTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import {
  ConversationService,
  ErrorReason,
  MessageService,
  parleyDetail,
  type SubscribeResponse,
  SyncService,
} from "@parley/protocol";
import { silentLogger } from "@parley/router";
import { afterEach, describe, expect, it } from "vitest";
// Relative: @parley/testkit depends on this package.
import { StreamCollector, waitFor, withBearerToken } from "../../testkit/src/index.js";
import { createTokenVerifier, mintToken } from "./auth.js";
import { createLeanStreamHandler } from "./connect-stream.js";
import { createEmbeddedParley, type EmbeddedParley } from "./embedded.js";
import { createParleyRoutes, parleyInterceptors } from "./routes.js";

const SECRET = "connect-stream-test-secret-0123456789";

/** A fresh bearer token for `userId`. */
const token = async (userId: string) => (await mintToken({ secret: SECRET, userId })).token;

interface Rig {
  baseUrl: string;
  parley: EmbeddedParley;
  /** Requests the lean handler took. */
  lean: number;
  /** Stream calls that ended, as an outer interceptor saw them. */
  ended: string[];
}

let rig: { server: Server; parley: EmbeddedParley; shutdown: AbortController } | undefined;
const collectors: StreamCollector<SubscribeResponse>[] = [];
afterEach(async () => {
  for (const c of collectors.splice(0)) await c.close();
  if (rig) {
    rig.shutdown.abort();
    rig.server.closeAllConnections();
    await new Promise<void>((resolve) => rig?.server.close(() => resolve()));
    await rig.parley.close();
    rig = undefined;
  }
});

/** The embedded server behind the lean handler, connect-node serving the rest. */
async function start(): Promise<Rig> {
  const shutdown = new AbortController();
  const parley = await createEmbeddedParley({
    logPath: ":memory:",
    historyPath: ":memory:",
    verifyToken: createTokenVerifier({ secret: SECRET }),
    logger: silentLogger,
    shutdownSignal: shutdown.signal,
  });
  const state: Rig = { baseUrl: "", parley, lean: 0, ended: [] };
  const recordEnd: Interceptor = (next) => async (req) => {
    const res = await next(req);
    if (!res.stream) return res;
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
        } finally {
          state.ended.push(req.method.name);
        }
      })(),
    };
  };
  const interceptors = [recordEnd, ...parleyInterceptors(parley.deps)];
  const lean = createLeanStreamHandler(parley.deps, { interceptors });
  const connect = connectNodeAdapter({ routes: createParleyRoutes(parley.deps), interceptors });
  const server = createServer((req, res) => {
    if (lean(req, res)) state.lean++;
    else connect(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  rig = { server, parley, shutdown };
  return state;
}

function subscribe(transport: Transport, cursor = ""): StreamCollector<SubscribeResponse> {
  const collector = new StreamCollector<SubscribeResponse>((signal) =>
    createClient(SyncService, transport).subscribe({ cursor, deviceId: "d1" }, { signal }),
  );
  collectors.push(collector);
  return collector;
}

const caughtUp = (c: StreamCollector<SubscribeResponse>) =>
  waitFor(() => c.items.some((res) => res.kind.case === "caughtUp"), 5_000, "caught up");

const texts = (c: StreamCollector<SubscribeResponse>) =>
  c.items.flatMap((res) =>
    res.kind.case === "event" && res.kind.value.payload.case === "messageCreated"
      ? [res.kind.value.payload.value.message?.text ?? ""]
      : [],
  );

describe("createLeanStreamHandler (Connect protocol over HTTP/1.1)", () => {
  for (const useBinaryFormat of [true, false]) {
    it(`serves Subscribe in ${useBinaryFormat ? "binary" : "JSON"}: live events with cursors, resuming from one, interceptors around it`, async () => {
      const server = await start();
      const transport = createConnectTransport({
        baseUrl: server.baseUrl,
        httpVersion: "1.1",
        useBinaryFormat,
      });
      const bob = subscribe(withBearerToken(transport, () => token("bob")));
      await caughtUp(bob);
      const alice = withBearerToken(transport, () => token("alice"));
      const created = await createClient(ConversationService, alice).createDirect({ peerUserId: "bob" });
      const conversationId = created.conversation?.conversationId ?? "";
      for (const text of ["one", "two"]) {
        await createClient(MessageService, alice).sendMessage({ conversationId, clientMsgId: text, text });
      }
      await waitFor(() => texts(bob).length === 2, 5_000, "bob's messages");
      expect(texts(bob)).toEqual(["one", "two"]);
      const first = bob.items.find(
        (res) => res.kind.case === "event" && res.kind.value.payload.case === "messageCreated",
      );
      const cursor = first?.kind.case === "event" ? first.kind.value.cursor : "";
      expect(cursor).not.toBe("");
      await bob.close();
      await waitFor(() => server.ended.includes("Subscribe"), 5_000, "the interceptor saw the stream end");
      await waitFor(() => server.parley.deps.hub.size === 0, 5_000, "bob's stream gone from the hub");

      // Resuming from the first message's cursor replays the second only.
      const again = subscribe(
        withBearerToken(transport, () => token("bob")),
        cursor,
      );
      await caughtUp(again);
      expect(texts(again)).toEqual(["two"]);
      expect(server.lean).toBe(2);
    });
  }

  it("ends a stream with the Connect error and its Parley reason: no token, a bad cursor", async () => {
    const server = await start();
    const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" });
    const anonymous = subscribe(transport);
    const badCursor = subscribe(
      withBearerToken(transport, () => token("bob")),
      "not-a-cursor",
    );
    await waitFor(() => anonymous.ended && badCursor.ended, 5_000, "both streams ended");
    expect(anonymous.error?.code).toBe(Code.Unauthenticated);
    expect(parleyDetail(anonymous.error)?.reason).toBe(ErrorReason.TOKEN_MISSING);
    expect(badCursor.error?.code).toBe(Code.InvalidArgument);
    expect(parleyDetail(badCursor.error)?.reason).toBe(ErrorReason.CURSOR_INVALID);
    expect(server.lean).toBe(2);
  });

  it("leaves gRPC-web and compressed requests to connect-node, which serves them", async () => {
    const server = await start();
    const grpcWeb = createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" });
    const gzip = createConnectTransport({
      baseUrl: server.baseUrl,
      httpVersion: "1.1",
      sendCompression: compressionGzip,
      compressMinBytes: 0,
    });
    const streams = [
      subscribe(withBearerToken(grpcWeb, () => token("bob"))),
      subscribe(withBearerToken(gzip, () => token("carol"))),
    ];
    for (const s of streams) await caughtUp(s);
    expect(server.lean).toBe(0);
  });

  it("ends live streams with SHUTTING_DOWN on shutdown", async () => {
    const server = await start();
    const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" });
    const bob = subscribe(withBearerToken(transport, () => token("bob")));
    await caughtUp(bob);
    rig?.shutdown.abort();
    await waitFor(() => bob.ended, 5_000, "bob's stream ended");
    expect(ConnectError.from(bob.error).code).toBe(Code.Unavailable);
    expect(parleyDetail(bob.error)?.reason).toBe(ErrorReason.SHUTTING_DOWN);
    expect(server.lean).toBe(1);
  });
});
