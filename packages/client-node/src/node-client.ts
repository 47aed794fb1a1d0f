import type { Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  type ClientStore,
  createMemoryClientStore,
  createParleyClient,
  type ParleyClient,
  type ParleyClientOptions,
} from "@parley/client";
import { createFileClientStore } from "./file-store.js";

/**
 * Options for {@link createParleyNodeClient}: those of `createParleyClient` with a
 * server URL in place of the transport, and an optional data folder for a
 * durable store.
 */
export interface ParleyNodeClientOptions extends Omit<ParleyClientOptions, "transport"> {
  /** The server's URL, e.g. `"https://chat.example.com"` or `"http://127.0.0.1:8080"`. */
  baseUrl: string;
  /**
   * A folder for a file store ({@link createFileClientStore}): the sync cursor,
   * cached conversations and messages, and the outbox survive restarts. Use one
   * folder per user and server; one process at a time may use it. Ignored when
   * `store` is given.
   * @defaultValue none: a memory store (nothing survives the process)
   */
  dataDir?: string;
  /**
   * The HTTP version of the connect-node transport. The reference server speaks
   * HTTP/1.1 (the sync stream then holds one socket and calls use others); use
   * `"2"` for a server or proxy that speaks HTTP/2 (TLS with ALPN, or h2c).
   * Ignored when `transport` is given.
   * @defaultValue "1.1"
   */
  httpVersion?: "1.1" | "2";
  /**
   * Whether the transport speaks the Connect protocol's binary (protobuf) format
   * rather than JSON. Ignored when `transport` is given.
   * @defaultValue true
   */
  useBinaryFormat?: boolean;
  /**
   * The Connect transport to use instead of the connect-node one on `baseUrl`.
   * @defaultValue `createConnectTransport({ baseUrl, httpVersion, useBinaryFormat })` from `@connectrpc/connect-node`
   */
  transport?: Transport;
  /**
   * Builds the transport to another gateway of a cluster, from its base URL: the
   * device stream follows a gateway's `WRONG_GATEWAY` redirect there (see
   * `ParleyClientOptions.transportFor`). Give your own when you give `transport`.
   * @defaultValue a connect-node transport on that URL with the same `httpVersion`
   * and `useBinaryFormat`; none (the stream never moves) when `transport` is given
   */
  transportFor?: (baseUrl: string) => Transport;
  /**
   * Where the client keeps its cursor, cache and outbox.
   * @defaultValue `createFileClientStore({ dir: dataDir })` with `dataDir`, else `createMemoryClientStore()`
   */
  store?: ClientStore;
}

/**
 * Creates a {@link ParleyClient} wired for Node (bots, services, scripts): a
 * connect-node transport on `baseUrl` (the device stream follows a cluster
 * gateway's redirect to another URL with the same kind of transport), and a file
 * store in `dataDir` when one is given. Every part can be replaced through its option.
 *
 * @example
 * ```ts
 * import { createParleyNodeClient } from "@parley/client-node";
 *
 * const bot = createParleyNodeClient({
 *   baseUrl: "http://127.0.0.1:8080",
 *   userId: "echo-bot",
 *   token: () => fetchToken("echo-bot"),
 *   dataDir: "./data/echo-bot",
 * });
 * const answered = new Map<string, number>(); // conversation → highest seq answered
 * bot.on("message", ({ conversationId, message: { message } }) => {
 *   // The event also fires for edits, reactions and my own sends: answer new messages of others once.
 *   if (message.senderId === bot.userId || message.seq <= (answered.get(conversationId) ?? 0)) return;
 *   answered.set(conversationId, message.seq);
 *   void bot.send(conversationId, { text: `echo: ${message.text}` });
 * });
 * await bot.ready();
 * ```
 */
export function createParleyNodeClient(options: ParleyNodeClientOptions): ParleyClient {
  const {
    baseUrl,
    dataDir,
    httpVersion = "1.1",
    useBinaryFormat = true,
    transport,
    transportFor,
    store,
    ...clientOptions
  } = options;
  const connectTo = (url: string) => createConnectTransport({ baseUrl: url, httpVersion, useBinaryFormat });
  return createParleyClient({
    ...clientOptions,
    transport: transport ?? connectTo(baseUrl),
    transportFor: transportFor ?? (transport ? undefined : connectTo),
    store:
      store ?? (dataDir === undefined ? createMemoryClientStore() : createFileClientStore({ dir: dataDir })),
  });
}
