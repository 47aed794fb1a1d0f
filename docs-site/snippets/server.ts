// Snippets of the server composition guide (docs-site/guide/server.md). startParley()
// is run by server.test.ts: a real HTTP server on 127.0.0.1 that SDK clients use.
import { createServer } from "node:http";
import { join } from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type Logger, silentLogger } from "@parley/router";
import {
  createEmbeddedParley,
  createParleyRoutes,
  createTokenVerifier,
  mintToken,
  parleyInterceptors,
} from "@parley/server";

/** Options of {@link startParley}. */
export interface StartOptions {
  /** Folder of the SQLite files, or ":memory:". */
  dataDir: string;
  /** HS256 secret shared with whatever signs your tokens. */
  secret: string;
  /** 0 picks a free port. */
  port: number;
  logger?: Logger;
  /** Who is signed in, from your own session (cookie, header, ...); undefined when nobody. */
  currentUser?: (req: import("node:http").IncomingMessage) => string | undefined;
}

/** Embedded Parley inside an HTTP server of your own. */
export async function startParley(
  options: StartOptions,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const { secret, logger = silentLogger, currentUser = () => undefined } = options;
  const path = (file: string) => (options.dataDir === ":memory:" ? ":memory:" : join(options.dataDir, file));

  // #region embedded
  const shutdown = new AbortController();
  const parley = await createEmbeddedParley({
    logPath: path("log.db"), // the event log (SQLite), or ":memory:"
    historyPath: path("history.db"), // conversations and messages (SQLite)
    verifyToken: createTokenVerifier({ secret }), // or { jwksUrl }, issuer, audience
    logger, // a Logger: levels + withContext (the reference server passes pino)
    shutdownSignal: shutdown.signal, // aborting it ends live streams
  });

  const handleParley = connectNodeAdapter({
    routes: createParleyRoutes(parley.deps),
    interceptors: parleyInterceptors(parley.deps), // auth on every call, error mapping
  });

  const server = createServer((req, res) => {
    if (req.url === "/api/parley-token") return sendToken(req, res); // your routes first
    handleParley(req, res); // then Parley's Connect services (/parley.v1.*)
  });
  server.listen(options.port, "127.0.0.1");
  // #endregion embedded

  // #region tokens
  // Your sign-in decides who the user is; Parley only verifies the token you mint.
  async function sendToken(
    req: import("node:http").IncomingMessage,
    res: import("node:http").ServerResponse,
  ) {
    const userId = currentUser(req);
    if (!userId) return void res.writeHead(401).end();
    const { token } = await mintToken({ secret, userId, ttlSec: 3600 });
    res.writeHead(200, { "content-type": "text/plain" }).end(token);
  }
  // #endregion tokens

  await new Promise<void>((resolve) => server.once("listening", resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : options.port}`;

  // #region shutdown
  async function stop() {
    shutdown.abort(); // live streams end; clients reconnect and resume from their cursor
    server.closeIdleConnections();
    await new Promise((resolve) => server.close(resolve)); // in-flight calls finish
    await parley.close(); // consumers, then the stores
  }
  // #endregion shutdown
  return { url, stop };
}
