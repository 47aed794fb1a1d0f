import { createReadStream, existsSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, resolve } from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createParleyRoutes, type ParleyDeps, parleyInterceptors } from "@parley/server";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".ico": "image/x-icon",
};

/** Options for {@link createRequestHandler}. */
export interface RequestHandlerOptions {
  deps: ParleyDeps;
  /** Whether the server is ready to take traffic (for /readyz). */
  ready: () => boolean;
  /** A folder of static files served at "/", or "". */
  staticDir: string;
  /** Extra counters for /healthz. */
  stats: () => Record<string, number>;
}

/** The HTTP handler: Connect routes, /healthz, /readyz and optional static files. */
export function createRequestHandler(options: RequestHandlerOptions) {
  const connect = connectNodeAdapter({
    routes: createParleyRoutes(options.deps),
    interceptors: parleyInterceptors(options.deps),
  });
  const root = options.staticDir ? resolve(options.staticDir) : "";
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "/";
    if (url === "/healthz") return json(res, 200, { status: "ok", ...options.stats() });
    if (url === "/readyz") {
      return options.ready() ? json(res, 200, { status: "ready" }) : json(res, 503, { status: "not ready" });
    }
    if (root && req.method === "GET" && !url.startsWith("/parley.")) {
      const path = normalize(decodeURIComponent(url.split("?")[0] ?? "/"));
      let file = join(root, path);
      if (!file.startsWith(root)) return json(res, 404, { error: "not found" });
      if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, "index.html");
      if (existsSync(file)) {
        res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
        createReadStream(file).pipe(res);
        return;
      }
    }
    connect(req, res);
  };
}
