import { type Client, createClient, type Transport } from "@connectrpc/connect";
import {
  AuthService,
  ConversationService,
  DiscoveryService,
  MessageService,
  PresenceService,
  SyncService,
} from "@parley/protocol";
import type { BackoffOptions } from "./backoff.js";
import type { ConnectionState } from "./connection-state.js";
import type { ParleyError } from "./errors.js";
import type { ClientLogger } from "./logger.js";
import type { NetworkMonitor } from "./network.js";
import type { ClientState } from "./state.js";
import type { ClientStore, StoreBatch } from "./store/port.js";

/** Typed Connect clients for every Parley service, on the authenticated transport. */
export interface Rpc {
  readonly auth: Client<typeof AuthService>;
  readonly conversations: Client<typeof ConversationService>;
  readonly messages: Client<typeof MessageService>;
  readonly sync: Client<typeof SyncService>;
  readonly presence: Client<typeof PresenceService>;
  readonly discovery: Client<typeof DiscoveryService>;
}

/** Creates the {@link Rpc} clients over `transport`. */
export function createRpc(transport: Transport): Rpc {
  return {
    auth: createClient(AuthService, transport),
    conversations: createClient(ConversationService, transport),
    messages: createClient(MessageService, transport),
    sync: createClient(SyncService, transport),
    presence: createClient(PresenceService, transport),
    discovery: createClient(DiscoveryService, transport),
  };
}

/** Options after defaults are applied. */
export interface ResolvedOptions {
  readonly reconnect: BackoffOptions;
  readonly deliveredDelayMs: number;
  readonly messagesPerConversation: number;
  readonly conversationLimit: number;
  readonly heartbeatTimeoutMs: number;
  /** The device stream may move to other gateways (`transportFor` is set). */
  readonly followRedirects: boolean;
  /** Ask `GetEndpoint` before subscribing (only when `followRedirects`). */
  readonly discovery: boolean;
}

/**
 * What the engines (sync, outbox, receipts) need from the client; internal.
 * Only the leader's engines run.
 */
export interface Core {
  readonly me: string;
  readonly data: ClientState;
  /** Every call on the base transport (the device stream may run elsewhere, see {@link Core.gatewaySync}). */
  readonly rpc: Rpc;
  readonly store: ClientStore;
  readonly logger: ClientLogger;
  readonly options: ResolvedOptions;
  readonly network: NetworkMonitor;
  /**
   * The SyncService client on the gateway at `baseUrl` (authenticated like
   * {@link Core.rpc}), or undefined when the client cannot move (no `transportFor`).
   */
  gatewaySync(baseUrl: string): Client<typeof SyncService> | undefined;
  /** The device id sent with Subscribe. */
  currentDeviceId(): string;
  /**
   * Builds a batch from the current state (after every earlier commit), writes it
   * to the store, applies it to memory, tells the other tabs and emits events.
   * `undefined` from `build` writes nothing.
   */
  commit(build: (state: ClientState) => StoreBatch | undefined): Promise<void>;
  connectionState(): ConnectionState;
  setConnectionState(state: ConnectionState, error?: ParleyError): void;
  /** Resolves once the connection is live; rejects when `signal` aborts. */
  whenLive(signal: AbortSignal): Promise<void>;
  /**
   * Remembers the current write counter before an online call whose answer will
   * be cached; see {@link Core.writtenSince}. Every mark must be released.
   */
  mark(): number;
  /** Forgets a mark taken with {@link Core.mark}. */
  release(mark: number): void;
  /** True when the message (`conversationId/seq`) or conversation (`conversationId`) was written after `mark`. */
  writtenSince(key: string, mark: number): boolean;
  /** Asks the token provider for a fresh token (before each connection attempt). */
  refreshToken(): Promise<void>;
  /** Stops connecting for good (bad token, wrong user): state closed with `error`. */
  fatal(error: ParleyError): void;
  /** Emits a non-fatal `error` event. */
  reportError(error: ParleyError): void;
  /** Called by the sync engine with every conversation an applied event touched. */
  eventsApplied(conversationIds: Iterable<string>): void;
  /** Called by the sync engine when the stream is live. */
  becameLive(): void;
  /** A typing indicator from the stream. */
  typingReceived(conversationId: string, userId: string, typing: boolean): void;
}

/** The key {@link Core.writtenSince} uses for a message. */
export function messageKey(conversationId: string, seq: number): string {
  return `${conversationId}/${seq}`;
}
