/**
 * The script of the Chromium harness page (bundled by `browser-rig.ts`). It runs
 * in the browser and exposes `window.parley`, which the Node-side tests call
 * through `page.evaluate`. Internal: not exported from the package.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ClientStore, TabCoordinator } from "@parley/client";
import { runClientStoreCase } from "@parley/client/testing";
import { ConversationSchema, MessageSchema } from "@parley/protocol";
import { createIndexedDbClientStore, createWebLocksCoordinator } from "../index.js";

/** Protobuf helpers for building messages inside `page.evaluate`. */
const proto = { create, timestampFromMs, ConversationSchema, MessageSchema };

/** What a coordinator in the page has seen so far. */
export interface CoordinatorView {
  leader: boolean;
  messages: unknown[];
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

const api: HarnessApi = {
  proto,
  async runStoreCase(caseName, databaseName) {
    await runClientStoreCase(caseName, {
      open: async () => createIndexedDbClientStore({ name: databaseName, logger: console }),
    });
  },
  openStore(handle, databaseName) {
    stores.set(handle, createIndexedDbClientStore({ name: databaseName, logger: console }));
  },
  store(handle) {
    const store = stores.get(handle);
    if (!store) throw new Error(`unable to find the store "${handle}"; open it first`);
    return store;
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
