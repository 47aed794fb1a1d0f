import { createReadStream, existsSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, resolve } from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  createLeanStreamHandler,
  createParleyRoutes,
  type ParleyDeps,
  parleyInterceptors,
} from "@parley/server";
import type { ServerMetrics } from "./metrics.js";
import type { ReadinessReport } from "./readiness.js";

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
  /** The Connect API's dependencies; absent on a worker, which serves only the probes and metrics. */
  deps?: ParleyDeps;
  /** Whether the process and its dependencies are ready to take traffic (for /readyz). */
  readiness: () => Promise<ReadinessReport>;
  /** Served at /metrics. */
  metrics: ServerMetrics;
  /** A folder of static files served at "/", or "". */
  staticDir: string;
  /** Extra counters for /healthz. */
  stats: () => Record<string, number | string>;
}

/** The HTTP handler: Connect routes, /healthz, /readyz, /metrics and optional static files. */
export function createRequestHandler(options: RequestHandlerOptions) {
  const { deps, metrics } = options;
  const interceptors = deps ? [metrics.interceptor, ...parleyInterceptors(deps)] : [];
  const connect = deps ? connectNodeAdapter({ routes: createParleyRoutes(deps), interceptors }) : undefined;
  // Device streams (Connect protocol over HTTP/1.1) skip connect-node's per-request
  // pipeline, which holds about 48 KB per open stream; the rest goes to connect-node.
  const lean = deps ? createLeanStreamHandler(deps, { interceptors }) : undefined;
  const root = options.staticDir ? resolve(options.staticDir) : "";
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "/";
    if (url === "/healthz") return json(res, 200, { status: "ok", ...options.stats() });
    if (url === "/readyz") {
      void options.readiness().then(
        ({ ready, checks }) =>
          json(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks }),
        (err) => json(res, 503, { status: "not ready", error: String(err) }),
      );
      return;
    }
    if (url === "/metrics") {
      void metrics.render().then(
        ({ contentType, body }) => {
          res.writeHead(200, { "content-type": contentType });
          res.end(body);
        },
        (err) => json(res, 500, { error: String(err) }),
      );
      return;
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
    if (!connect)
      return json(res, 404, { error: "not found (a worker serves /healthz, /readyz and /metrics)" });
    if (lean?.(req, res)) return;
    connect(req, res);
  };
}
