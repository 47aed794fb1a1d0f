import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@parley/router";
import { createEmbeddedParley, createTokenVerifier, type EmbeddedParley } from "@parley/server";
import type { Config } from "./config.js";

/**
 * Builds embedded mode from the config: the SQLite event log and history in
 * `config.dataDir`, the memory presence store, and the whole pipeline in this process.
 */
export async function composeEmbedded(
  config: Config,
  logger: Logger,
  shutdownSignal: AbortSignal,
): Promise<EmbeddedParley> {
  mkdirSync(config.dataDir, { recursive: true });
  return createEmbeddedParley({
    logPath: join(config.dataDir, "log.db"),
    historyPath: join(config.dataDir, "history.db"),
    userEventRetention: { maxEventsPerUser: config.userEventsMax },
    verifyToken: createTokenVerifier(config.jwt),
    devLogin: config.devLogin && "secret" in config.jwt ? config.jwt : undefined,
    discovery: { baseUrl: config.publicUrl, gatewayId: "embedded" },
    logger,
    shutdownSignal,
  });
}
