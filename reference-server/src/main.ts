import { createServer } from "node:http";
import pino from "pino";
import { composeCluster } from "./cluster.js";
import type { Composition } from "./composition.js";
import { ConfigError, DEV_JWT_SECRET, loadConfig } from "./config.js";
import { composeEmbedded } from "./embedded.js";
import { createRequestHandler } from "./http.js";
import { createPinoLogger } from "./logger.js";
import { createServerMetrics } from "./metrics.js";
import { createReadiness } from "./readiness.js";

/** Starts the reference server; resolves once it listens. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`parley: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const base = pino({ level: config.logLevel });
  const logger = createPinoLogger(config.logLevel, base);
  const shutdown = new AbortController();
  const startedAt = performance.now();
  let parley: Composition | undefined;
  const metrics = createServerMetrics({
    role: config.role,
    streams: () => parley?.deps?.hub.size ?? 0,
  });
  parley =
    config.role === "embedded"
      ? await composeEmbedded(config, logger, shutdown.signal)
      : await composeCluster(config, logger, shutdown.signal, metrics);
  const composed = parley;
  let ready = false;
  const server = createServer(
    createRequestHandler({
      deps: composed.deps,
      readiness: createReadiness({
        checks: composed.checks,
        started: () => ready,
        onResult: (name, up) => metrics.dependencyUp(name, up),
      }),
      metrics,
      staticDir: config.staticDir,
      stats: () => composed.stats(),
    }),
  );
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, resolve);
  });
  ready = true;
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  logger.info("parley listening", {
    role: config.role,
    processId: config.cluster?.processId,
    publicUrl: config.publicUrl || undefined,
    startupMs: Math.round(performance.now() - startedAt),
    url: `http://${config.host === "0.0.0.0" ? "localhost" : config.host}:${port}`,
    dataDir: config.role === "embedded" ? config.dataDir : undefined,
    devLogin: config.devLogin,
  });
  if ("secret" in config.jwt && config.jwt.secret === DEV_JWT_SECRET) {
    logger.warn(
      "using the built-in development JWT secret; set PARLEY_JWT_SECRET for anything but local use",
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ready = false;
    logger.info("shutting down", { signal });
    const force = setTimeout(() => {
      logger.warn("shutdown grace period over; closing connections");
      server.closeAllConnections();
    }, config.shutdownGraceMs);
    force.unref();
    // Stop taking new connections, end live streams (clients reconnect and resume
    // from their cursor), and let in-flight unary calls finish their acks.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    shutdown.abort();
    server.closeIdleConnections();
    await closed;
    await composed.close();
    clearTimeout(force);
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err) => {
  process.stderr.write(
    `parley: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
