import type { HistoryStore } from "@parley/history";
import type { PresenceStore } from "@parley/presence";
import type { CommandBus, Hub, Logger } from "@parley/router";
import type { TokenVerifier } from "./auth.js";

/** Dev login settings; when present, `AuthService.DevLogin` issues tokens for any user id. */
export interface DevLoginOptions {
  secret: string;
  /** @defaultValue "parley" */
  issuer?: string;
  /** @defaultValue "parley" */
  audience?: string;
  /** Token lifetime in seconds. @defaultValue 86400 */
  ttlSec?: number;
}

/**
 * Which users' device streams this gateway serves, in cluster mode: a gateway
 * pushes to the live streams of the users whose inbox partitions it owns.
 */
export interface GatewayOwnership {
  /** Whether this gateway serves the user's device streams now. */
  owns(userId: string): boolean;
  /** Where the user's devices should connect, when known (another gateway's public URL). */
  endpointFor(userId: string): Promise<{ baseUrl: string; gatewayId: string } | undefined>;
  /**
   * Calls `listener` after this gateway's set of owned users changed (a rebalance);
   * the listener re-checks `owns`. Returns an unsubscribe handle.
   */
  onChange(listener: () => void): () => void;
}

/** Everything the Parley handlers are composed from. */
export interface ParleyDeps {
  history: HistoryStore;
  presence: PresenceStore;
  /** Live streams of this gateway. */
  hub: Hub;
  /** Where conversation mutations go. */
  commands: CommandBus;
  /** Verifies bearer tokens. */
  verifyToken: TokenVerifier;
  /** DEV ONLY. Absent (the default) disables `DevLogin`. */
  devLogin?: DevLoginOptions;
  /**
   * This gateway's public endpoint: what `DiscoveryService.GetEndpoint` answers for
   * the users it serves. An empty `baseUrl` means "the server you asked".
   */
  discovery: { baseUrl: string; gatewayId: string };
  /**
   * Cluster mode: which users' device streams this gateway serves. `Subscribe` of
   * a user it does not own fails with `WRONG_GATEWAY` (naming the owner's endpoint
   * when known), live streams of users it stops owning end with the same error, and
   * `GetEndpoint` answers the owner. Unary calls are served for every user.
   * @defaultValue absent: embedded mode, this process serves every user
   */
  gateway?: GatewayOwnership;
  logger: Logger;
  /** Presence heartbeat TTL of a live stream in ms. @defaultValue 30000 */
  presenceTtlMs?: number;
  /** Interval of heartbeat messages on idle streams in ms. @defaultValue 25000 */
  streamHeartbeatMs?: number;
  /** Aborted when the server shuts down: open streams end with `unavailable`. */
  shutdownSignal?: AbortSignal;
}
