import { createRouterTransport, type Transport } from "@connectrpc/connect";
import { type Logger, silentLogger } from "@parley/router";
import {
  createEmbeddedParley,
  createParleyRoutes,
  createTokenVerifier,
  mintToken,
  parleyInterceptors,
} from "@parley/server";

/** Options for {@link createTestServer}. */
export interface TestServerOptions {
  /** HS256 secret the server verifies tokens with. @defaultValue a fixed test secret */
  secret?: string;
  /** Server logs. @defaultValue silent */
  logger?: Logger;
  /** Keep at most this many events per user for resuming devices. @defaultValue 10000 */
  maxEventsPerUser?: number;
  /** Presence heartbeat TTL of a live stream in ms. @defaultValue 30000 */
  presenceTtlMs?: number;
  /** Interval of heartbeat messages on idle streams in ms. @defaultValue 25000 */
  streamHeartbeatMs?: number;
}

/** A whole Parley server in this process, reached through an in-memory transport. */
export interface TestServer {
  /**
   * A Connect transport to the server that never touches the network. Pass it to
   * `createParleyClient({ transport })` or `createClient(Service, transport)`.
   */
  readonly transport: Transport;
  /** The HS256 secret the server verifies tokens with. */
  readonly secret: string;
  /** Signs a token for `userId`, valid for a day. */
  token(userId: string, displayName?: string): Promise<string>;
  /** Ends open streams and closes the server's stores. */
  close(): Promise<void>;
}

/**
 * Starts the real Parley pipeline (command bus, worker, inbox, hub, handlers) in
 * this process with in-memory SQLite stores, for unit tests of code built on Parley:
 * a chat UI, a bot, or the SDK itself. Nothing is written to disk.
 *
 * @example
 * ```ts
 * const server = await createTestServer();
 * const client = createParleyClient({ transport: server.transport, token: () => server.token("alice") });
 * ```
 */
export async function createTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const secret = options.secret ?? "parley-testkit-secret-0123456789abcdef";
  const shutdown = new AbortController();
  const parley = await createEmbeddedParley({
    logPath: ":memory:",
    historyPath: ":memory:",
    userEventRetention: { maxEventsPerUser: options.maxEventsPerUser ?? 10_000 },
    verifyToken: createTokenVerifier({ secret }),
    devLogin: { secret },
    logger: options.logger ?? silentLogger,
    shutdownSignal: shutdown.signal,
    presenceTtlMs: options.presenceTtlMs,
    streamHeartbeatMs: options.streamHeartbeatMs,
  });
  const transport = createRouterTransport(createParleyRoutes(parley.deps), {
    router: { interceptors: parleyInterceptors(parley.deps) },
  });
  return {
    transport,
    secret,
    async token(userId, displayName) {
      return (await mintToken({ secret, userId, displayName })).token;
    },
    async close() {
      shutdown.abort();
      await parley.close();
    },
  };
}
