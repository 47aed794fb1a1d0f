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
  /** What `DiscoveryService.GetEndpoint` answers. */
  discovery: { baseUrl: string; gatewayId: string };
  logger: Logger;
  /** Presence heartbeat TTL of a live stream in ms. @defaultValue 30000 */
  presenceTtlMs?: number;
  /** Interval of heartbeat messages on idle streams in ms. @defaultValue 25000 */
  streamHeartbeatMs?: number;
  /** Aborted when the server shuts down: open streams end with `unavailable`. */
  shutdownSignal?: AbortSignal;
}
