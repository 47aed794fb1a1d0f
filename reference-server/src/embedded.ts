import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "@parley/router";
import { createEmbeddedParley, createTokenVerifier } from "@parley/server";
import type { Composition } from "./composition.js";
import type { Config } from "./config.js";

/**
 * Builds embedded mode from the config: the SQLite event log and history in
 * `config.dataDir`, the memory presence store, and the whole pipeline in this process.
 */
export async function composeEmbedded(
  config: Config,
  logger: Logger,
  shutdownSignal: AbortSignal,
): Promise<Composition> {
  mkdirSync(config.dataDir, { recursive: true });
  const parley = await createEmbeddedParley({
    logPath: join(config.dataDir, "log.db"),
    historyPath: join(config.dataDir, "history.db"),
    userEventRetention: { maxEventsPerUser: config.userEventsMax },
    verifyToken: createTokenVerifier(config.jwt),
    devLogin: config.devLogin && "secret" in config.jwt ? config.jwt : undefined,
    discovery: { baseUrl: config.publicUrl, gatewayId: "embedded" },
    logger,
    shutdownSignal,
  });
  return {
    deps: parley.deps,
    // SQLite lives in this process: nothing outside it to check.
    checks: [],
    stats: () => ({ role: "embedded", streams: parley.deps.hub.size }),
    close: () => parley.close(),
  };
}
