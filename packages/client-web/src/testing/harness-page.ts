/**
 * The script of the Chromium harness page (bundled by `browser-rig.ts`). It runs
 * in the browser and exposes `window.parley`, which the Node-side tests call
 * through `page.evaluate`. Internal: not exported from the package.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ClientLogger, ClientStore, ParleyClient, TabCoordinator } from "@parley/client";
import { runClientStoreCase } from "@parley/client/testing";
import { ConversationSchema, MessageSchema } from "@parley/protocol";
import {
  createIndexedDbClientStore,
  createParleyWebClient,
  createWebLocksCoordinator,
  deleteIndexedDbClientStore,
} from "../index.js";

/** Protobuf helpers for building messages inside `page.evaluate`. */
const proto = { create, timestampFromMs, ConversationSchema, MessageSchema };

/** What a coordinator in the page has seen so far. */
export interface CoordinatorView {
  leader: boolean;
  messages: unknown[];
}

/** A message as a test compares it. */
export interface ShownMessage {
  text: string;
  seq: number;
  status: string;
  senderId: string;
  clientMsgId: string;
}

/** Options of {@link HarnessApi.startClient}. */
export interface StartClientOptions {
  userId: string;
  token: string;
  /** @defaultValue the client's default, `parley:<userId>@<origin>` */
  databaseName?: string;
}

/** The API of the harness page, at `window.parley`. */
export interface HarnessApi {
  proto: typeof proto;
  /**
   * Runs one `clientStoreCases` case against IndexedDB stores on a database
   * named `databaseName` (which should be new); rejects with the case's error.
   */
  runStoreCase(caseName: string, databaseName: string): Promise<void>;
  /** Opens an IndexedDB store on `databaseName` and keeps it under `handle` for the calls below. */
  openStore(handle: string, databaseName: string): void;
  /** The store opened under `handle`. */
  store(handle: string): ClientStore;
  /** `deleteIndexedDbClientStore(databaseName)`. */
  deleteStore(databaseName: string): Promise<void>;
  /**
   * Creates `createParleyWebClient` for this page's origin under `handle` and waits
   * until its store is loaded. Fast reconnects, console logging.
   */
  startClient(handle: string, options: StartClientOptions): Promise<void>;
  /** The client started under `handle`. */
  client(handle: string): ParleyClient;
  /** What the client shows for a conversation, in order. */
  shown(handle: string, conversationId: string): ShownMessage[];
  /** Sends a message; resolves with its client id once it is queued. */
  send(handle: string, conversationId: string, text: string): Promise<string>;
  coordinator: {
    /** Creates and starts a Web Locks coordinator named `name` (one per page). */
    start(name: string): void;
    broadcast(message: unknown): void;
    close(): Promise<void>;
    view(): CoordinatorView;
  };
}

declare global {
  interface Window {
    /** Set by the harness page once its script has run. */
    parley: HarnessApi;
  }
}

let coordinator: TabCoordinator | undefined;
const coordinatorView: CoordinatorView = { leader: false, messages: [] };

const stores = new Map<string, ClientStore>();
const clients = new Map<string, ParleyClient>();

/** A ClientLogger on the console (the rig saves page consoles of failed tests). */
function consoleLogger(context: Record<string, unknown> = {}): ClientLogger {
  const line =
    (level: "debug" | "info" | "warn" | "error") => (message: string, fields?: Record<string, unknown>) =>
      console[level](`[parley ${level}] ${message}`, JSON.stringify({ ...context, ...fields }, jsonSafe));
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    withContext: (fields) => consoleLogger({ ...context, ...fields }),
  };
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return value;
}

function clientOf(handle: string): ParleyClient {
  const client = clients.get(handle);
  if (!client) throw new Error(`unable to find the client "${handle}"; start it first`);
  return client;
}

const api: HarnessApi = {
  proto,
  async runStoreCase(caseName, databaseName) {
    await runClientStoreCase(caseName, {
      open: async () => createIndexedDbClientStore({ name: databaseName, logger: console }),
    });
  },
  deleteStore: (databaseName) => deleteIndexedDbClientStore(databaseName),
  openStore(handle, databaseName) {
    stores.set(handle, createIndexedDbClientStore({ name: databaseName, logger: console }));
  },
  store(handle) {
    const store = stores.get(handle);
    if (!store) throw new Error(`unable to find the store "${handle}"; open it first`);
    return store;
  },
  async startClient(handle, options) {
    if (clients.has(handle)) throw new Error(`unable to start the client "${handle}"; it exists`);
    const client = createParleyWebClient({
      baseUrl: location.origin,
      userId: options.userId,
      token: options.token,
      databaseName: options.databaseName,
      logger: consoleLogger({ tab: handle }),
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
      deliveredDelayMs: 50,
    });
    clients.set(handle, client);
    await client.ready();
  },
  client: clientOf,
  shown(handle, conversationId) {
    return clientOf(handle)
      .messages(conversationId)
      .map(({ message, status }) => ({
        text: message.text,
        seq: message.seq,
        status,
        senderId: message.senderId,
        clientMsgId: message.clientMsgId,
      }));
  },
  async send(handle, conversationId, text) {
    const sent = await clientOf(handle).send(conversationId, { text });
    return sent.message.clientMsgId;
  },
  coordinator: {
    start(name) {
      if (coordinator) throw new Error("unable to start a coordinator; this page has one");
      coordinator = createWebLocksCoordinator({ name, logger: console });
      coordinator.start({
        onLeader: () => {
          coordinatorView.leader = true;
        },
        onMessage: (message) => {
          coordinatorView.messages.push(message);
        },
      });
    },
    broadcast(message) {
      coordinator?.broadcast(message);
    },
    async close() {
      await coordinator?.close();
      coordinatorView.leader = false;
    },
    view: () => coordinatorView,
  },
};

window.parley = api;
