import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRouterTransport, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type Logger, silentLogger } from "@parley/router";
import {
  createEmbeddedParley,
  createParleyRoutes,
  createTokenVerifier,
  type GatewayOwnership,
  mintToken,
  type ParleyDeps,
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
  /**
   * Makes {@link TestServer.transport} a cluster gateway that serves the device
   * streams of the users this ownership says it owns (see {@link createStaticOwnership}).
   * @defaultValue absent: it serves every user, as in embedded mode
   */
  gateway?: GatewayOwnership;
  /** The gateway id `GetEndpoint` answers for {@link TestServer.transport}. @defaultValue "embedded" */
  gatewayId?: string;
}

/** Options for {@link TestServer.addGateway}. */
export interface TestGatewayOptions {
  /** The id `GetEndpoint` answers for this gateway's own users. */
  gatewayId: string;
  /** Which users' device streams this gateway serves. */
  gateway: GatewayOwnership;
}

/** Options for {@link TestServer.listen}. */
export interface TestListenOptions {
  /** The TCP port on 127.0.0.1. @defaultValue 0: any free port */
  port?: number;
  /** Serve another gateway of the pipeline (as {@link TestServer.addGateway}). @defaultValue the server's own */
  gateway?: TestGatewayOptions;
}

/** A test server (or one of its gateways) served over HTTP/1.1. */
export interface TestHttpServer {
  /** E.g. "http://127.0.0.1:43123": pass it to `createConnectTransport({ baseUrl })`. */
  readonly baseUrl: string;
  /** Stops listening and drops open connections (the pipeline keeps running). */
  close(): Promise<void>;
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
  /**
   * Another gateway in front of the same pipeline (history, hub, command bus), as
   * in a cluster: its own transport, whose `Subscribe` serves only the users
   * `options.gateway` owns (others get `WRONG_GATEWAY`). Unary calls are served for
   * every user.
   */
  addGateway(options: TestGatewayOptions): Transport;
  /**
   * Serves the server over real HTTP/1.1 on 127.0.0.1, for code that builds its
   * own transport from a URL (e.g. `@parley/client-node`, a browser). Closed with
   * the server at the latest.
   */
  listen(options?: TestListenOptions): Promise<TestHttpServer>;
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
    discovery: { baseUrl: "", gatewayId: options.gatewayId ?? "embedded" },
    shutdownSignal: shutdown.signal,
    presenceTtlMs: options.presenceTtlMs,
    streamHeartbeatMs: options.streamHeartbeatMs,
  });
  const ownDeps: ParleyDeps = { ...parley.deps, gateway: options.gateway };
  const gatewayDeps = ({ gatewayId, gateway }: TestGatewayOptions): ParleyDeps => ({
    ...parley.deps,
    gateway,
    discovery: { baseUrl: "", gatewayId },
  });
  const gatewayTransport = (deps: ParleyDeps) =>
    createRouterTransport(createParleyRoutes(deps), { router: { interceptors: parleyInterceptors(deps) } });
  const listening = new Set<TestHttpServer>();
  return {
    transport: gatewayTransport(ownDeps),
    secret,
    addGateway(gateway) {
      return gatewayTransport(gatewayDeps(gateway));
    },
    async listen(listenOptions = {}) {
      const deps = listenOptions.gateway ? gatewayDeps(listenOptions.gateway) : ownDeps;
      const http = createServer(
        connectNodeAdapter({ routes: createParleyRoutes(deps), interceptors: parleyInterceptors(deps) }),
      );
      await new Promise<void>((resolve, reject) => {
        http.once("error", reject);
        http.listen(listenOptions.port ?? 0, "127.0.0.1", () => resolve());
      });
      const { port } = http.address() as AddressInfo;
      const served: TestHttpServer = {
        baseUrl: `http://127.0.0.1:${port}`,
        async close() {
          listening.delete(served);
          http.closeAllConnections();
          await new Promise<void>((resolve) => http.close(() => resolve()));
        },
      };
      listening.add(served);
      return served;
    },
    async token(userId, displayName) {
      return (await mintToken({ secret, userId, displayName })).token;
    },
    async close() {
      shutdown.abort();
      await Promise.all([...listening].map((served) => served.close()));
      await parley.close();
    },
  };
}

/** Options for {@link createStaticOwnership}. */
export interface StaticOwnershipOptions {
  /** The gateways: id → public base URL (what `WRONG_GATEWAY` and `GetEndpoint` name). */
  gateways: Record<string, string>;
  /** The gateway of users not placed with {@link StaticOwnership.assign}. @defaultValue none: they have no gateway */
  defaultGateway?: string;
}

/** Which gateway serves which user, changed by hand: a rebalance on demand. */
export interface StaticOwnership {
  /** Gateway `gatewayId`'s view, to pass as its `gateway` (e.g. {@link TestServer.addGateway}). */
  view(gatewayId: string): GatewayOwnership;
  /**
   * Moves `userId`'s device streams to `gatewayId` (`undefined`: to no gateway, as
   * in the middle of a rebalance), then tells the gateways that lost or gained it.
   */
  assign(userId: string, gatewayId: string | undefined): void;
  /** The gateway serving `userId` now, if any. */
  ownerOf(userId: string): string | undefined;
}

/**
 * A {@link GatewayOwnership} for several gateways from one table of users that
 * tests (or a fixed deployment) change by hand, where a cluster would follow the
 * inbox partitions' assignment.
 *
 * @example
 * ```ts
 * const owners = createStaticOwnership({ gateways: { a: "memory://a", b: "memory://b" }, defaultGateway: "a" });
 * const server = await createTestServer({ gateway: owners.view("a"), gatewayId: "a" });
 * const b = server.addGateway({ gatewayId: "b", gateway: owners.view("b") });
 * owners.assign("alice", "b"); // alice's streams on "a" end with WRONG_GATEWAY naming memory://b
 * ```
 */
export function createStaticOwnership(options: StaticOwnershipOptions): StaticOwnership {
  const gateways = new Map(Object.entries(options.gateways));
  const known = (gatewayId: string | undefined): void => {
    if (gatewayId !== undefined && !gateways.has(gatewayId)) {
      throw new Error(
        `unable to use gateway ${gatewayId}; it is not one of ${[...gateways.keys()].join(", ")}`,
      );
    }
  };
  known(options.defaultGateway);
  const assigned = new Map<string, string | undefined>();
  const listeners = new Map<string, Set<() => void>>();
  const ownerOf = (userId: string) => (assigned.has(userId) ? assigned.get(userId) : options.defaultGateway);
  const notify = (gatewayId: string | undefined) => {
    if (gatewayId === undefined) return;
    for (const listener of [...(listeners.get(gatewayId) ?? [])]) listener();
  };
  return {
    view(gatewayId) {
      known(gatewayId);
      return {
        owns: (userId) => ownerOf(userId) === gatewayId,
        async endpointFor(userId) {
          const owner = ownerOf(userId);
          const baseUrl = owner === undefined ? undefined : gateways.get(owner);
          return owner === undefined || baseUrl === undefined ? undefined : { baseUrl, gatewayId: owner };
        },
        onChange(listener) {
          const set = listeners.get(gatewayId) ?? new Set();
          listeners.set(gatewayId, set);
          const entry = () => listener();
          set.add(entry);
          return () => {
            set.delete(entry);
          };
        },
      };
    },
    assign(userId, gatewayId) {
      known(gatewayId);
      const before = ownerOf(userId);
      assigned.set(userId, gatewayId);
      if (before === gatewayId) return;
      notify(before);
      notify(gatewayId);
    },
    ownerOf,
  };
}
