import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createSqliteHistoryStore } from "@parley/history";
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
import { createTokenVerifier, type ParleyDeps } from "@parley/server";
import type { Config } from "./config.js";

/** A composed embedded Parley: the handlers' dependencies and how to stop it all. */
export interface EmbeddedParley {
  deps: ParleyDeps;
  /** Stops consumers and closes stores, in dependency order. */
  close(): Promise<void>;
}

/**
 * Builds embedded mode: the SQLite event log and history store, the memory
 * presence store, and the same pipeline cluster mode runs (command bus → worker
 * → inbox consumer → hub), all in this process.
 */
export async function composeEmbedded(
  config: Config,
  logger: Logger,
  shutdownSignal: AbortSignal,
): Promise<EmbeddedParley> {
  mkdirSync(config.dataDir, { recursive: true });
  const log = createSqliteEventLog({ path: join(config.dataDir, "log.db") });
  const history = createSqliteHistoryStore({
    path: join(config.dataDir, "history.db"),
    userEventRetention: { maxEventsPerUser: config.userEventsMax },
  });
  const presence = createMemoryPresenceStore();
  const replies = createLocalReplyChannel();
  const hub = createHub();
  const topics = DEFAULT_TOPICS;
  const processId = "embedded";
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
  const commands = createCommandBus({ log, replies, topics, processId });
  const deps: ParleyDeps = {
    history,
    presence,
    hub,
    commands,
    verifyToken: createTokenVerifier(config.jwt),
    devLogin: config.devLogin && "secret" in config.jwt ? config.jwt : undefined,
    discovery: { baseUrl: config.publicUrl, gatewayId: processId },
    logger,
    shutdownSignal,
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
