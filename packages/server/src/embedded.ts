import { createSqliteHistoryStore, type UserEventRetention } from "@parley/history";
import { createMemoryPresenceStore } from "@parley/presence";
import {
  createCommandBus,
  createHub,
  createInboxConsumer,
  createLocalReplyChannel,
  createSqliteEventLog,
  createWorker,
  DEFAULT_TOPICS,
  type Logger,
} from "@parley/router";
import type { TokenVerifier } from "./auth.js";
import type { DevLoginOptions, ParleyDeps } from "./deps.js";

/** Options for {@link createEmbeddedParley}. */
export interface EmbeddedParleyOptions {
  /** SQLite file of the event log, or ":memory:". */
  logPath: string;
  /** SQLite file of the history store, or ":memory:". */
  historyPath: string;
  /** How many stored user events to keep for resuming devices. */
  userEventRetention?: UserEventRetention;
  /**
   * Records the event log keeps per partition once every consumer has handled them
   * (older ones are deleted, so the log file stops growing); see
   * `SqliteEventLogOptions.retention`.
   * @defaultValue 10000
   */
  logRecordsPerPartition?: number;
  verifyToken: TokenVerifier;
  /** DEV ONLY: enables `AuthService.DevLogin`. */
  devLogin?: DevLoginOptions;
  /** What `DiscoveryService.GetEndpoint` answers. @defaultValue `{ baseUrl: "", gatewayId: "embedded" }` */
  discovery?: { baseUrl: string; gatewayId: string };
  logger: Logger;
  /** Aborted when the server shuts down: open streams end with `unavailable`. */
  shutdownSignal?: AbortSignal;
  /** See {@link ParleyDeps.presenceTtlMs}. */
  presenceTtlMs?: number;
  /** See {@link ParleyDeps.streamHeartbeatMs}. */
  streamHeartbeatMs?: number;
}

/** A composed embedded Parley: the handlers' dependencies and how to stop it all. */
export interface EmbeddedParley {
  deps: ParleyDeps;
  /** Stops consumers and closes stores, in dependency order. */
  close(): Promise<void>;
}

/**
 * Composes embedded mode: the SQLite event log and history store, the memory
 * presence store, and the same pipeline cluster mode runs (command bus → worker
 * → inbox consumer → hub), all in this process. Mount the result with
 * `createParleyRoutes(deps)` and `parleyInterceptors(deps)`.
 */
export async function createEmbeddedParley(options: EmbeddedParleyOptions): Promise<EmbeddedParley> {
  const { logger } = options;
  const log = createSqliteEventLog({
    path: options.logPath,
    retention: { maxRecordsPerPartition: options.logRecordsPerPartition ?? 10_000 },
  });
  const history = createSqliteHistoryStore({
    path: options.historyPath,
    userEventRetention: options.userEventRetention,
  });
  const presence = createMemoryPresenceStore();
  const replies = createLocalReplyChannel();
  const hub = createHub();
  const topics = DEFAULT_TOPICS;
  const discovery = options.discovery ?? { baseUrl: "", gatewayId: "embedded" };
  const worker = await createWorker({
    log,
    history,
    replies,
    topics,
    logger: logger.withContext({ part: "worker" }),
  });
  const inbox = await createInboxConsumer({
    log,
    history,
    hub,
    topics,
    logger: logger.withContext({ part: "inbox" }),
  });
  const commands = createCommandBus({ log, replies, topics, processId: discovery.gatewayId });
  const deps: ParleyDeps = {
    history,
    presence,
    hub,
    commands,
    verifyToken: options.verifyToken,
    discovery,
    logger,
    devLogin: options.devLogin,
    shutdownSignal: options.shutdownSignal,
    presenceTtlMs: options.presenceTtlMs,
    streamHeartbeatMs: options.streamHeartbeatMs,
  };
  return {
    deps,
    async close() {
      commands.close();
      await worker.stop();
      await inbox.stop();
      await log.close();
      await history.close();
      await presence.close();
    },
  };
}
