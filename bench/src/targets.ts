/**
 * The servers under test, each in its own process: the Parley reference server
 * (embedded, or a one-gateway one-worker cluster) and the Socket.IO relay.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { spawnCluster, spawnReferenceServer } from "@parley/reference-server/testing";
import { childPids } from "./proc.js";

/** HS256 signing parameters the server accepts. */
export interface JwtParams {
  secret: string;
  issuer: string;
  audience: string;
}

/** A running server the bench measures. */
export interface Target {
  name: string;
  baseUrl: string;
  jwt: JwtParams;
  /** The process devices connect to (the gateway); its RSS and CPU are reported. */
  pid: number;
  /** Every server-side process (gateway first), for CPU totals. */
  pids: number[];
  /** Live streams/sockets the server says it holds. */
  connections(): Promise<number>;
  stop(): Promise<void>;
}

/** Which Parley deployment to start. */
export type ParleyMode = "embedded" | "cluster";

/** Options for {@link startParley}. */
export interface StartParleyOptions {
  /** Events kept per user (catch-up needs more than it replays). */
  maxEventsPerUser?: number;
  /** Extra environment for the server process(es), e.g. NODE_OPTIONS=--cpu-prof. */
  env?: Record<string, string>;
}

async function healthz(baseUrl: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
  return (await res.json()) as Record<string, unknown>;
}

/**
 * Starts Parley. Embedded: the reference server from source as a child process
 * (`spawnReferenceServer`). Cluster: one gateway and one worker process on the Kafka,
 * Cassandra and Redis of `scripts/services.sh` (`spawnCluster`; their addresses come
 * from `bash scripts/services.sh env`), all on this machine. One gateway owns every
 * user, so devices need no redirects; the gateway's RSS and CPU are reported, and the
 * worker's CPU counts in the totals.
 */
export async function startParley(mode: ParleyMode, options: StartParleyOptions = {}): Promise<Target> {
  if (mode === "cluster") {
    const cluster = await spawnCluster({
      gateways: 1,
      workers: 1,
      maxEventsPerUser: options.maxEventsPerUser ?? 20_000,
      env: { PARLEY_LOG_LEVEL: "warn", ...options.env },
    });
    const pids = cluster.processes.map((p) => p.pid).filter((p): p is number => p !== undefined);
    const gateway = cluster.gateways[0];
    if (!gateway?.pid) {
      await cluster.cleanup();
      throw new Error("unable to find the cluster gateway's pid");
    }
    return {
      name: "parley-cluster",
      baseUrl: cluster.baseUrl,
      jwt: cluster.jwt,
      pid: gateway.pid,
      pids,
      async connections() {
        const h = await healthz(cluster.baseUrl);
        return Number(h.streams ?? 0);
      },
      stop: () => cluster.cleanup(),
    };
  }
  const before = new Set(childPids("reference-server/src/main.ts"));
  const server = await spawnReferenceServer({
    maxEventsPerUser: options.maxEventsPerUser ?? 20_000,
    env: { PARLEY_LOG_LEVEL: "warn", ...options.env },
    startupTimeoutMs: 60_000,
    stopTimeoutMs: 30_000,
  });
  const pid = childPids("reference-server/src/main.ts").find((p) => !before.has(p));
  if (pid === undefined) {
    await server.cleanup();
    throw new Error("unable to find the reference server's pid among this process's children");
  }
  return {
    name: "parley",
    baseUrl: server.baseUrl,
    jwt: server.jwt,
    pid,
    pids: [pid],
    async connections() {
      const h = await healthz(server.baseUrl);
      return Number(h.streams ?? 0);
    },
    stop: () => server.cleanup(),
  };
}

const RELAY = fileURLToPath(new URL("./socketio-relay.ts", import.meta.url));

/** Starts the Socket.IO relay (`socketio-relay.ts`) as its own process. */
export async function startSocketIo(): Promise<Target> {
  const jwt: JwtParams = { secret: randomBytes(32).toString("hex"), issuer: "parley", audience: "parley" };
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", RELAY], {
    env: { ...process.env, PORT: "0", BENCH_JWT_SECRET: jwt.secret },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket.io relay did not start:\n${output}`)), 30_000);
    child.stdout?.setEncoding("utf8").on("data", (text: string) => {
      output += text;
      const m = /listening (\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr?.setEncoding("utf8").on("data", (text: string) => {
      output += text;
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`socket.io relay exited (${code}):\n${output}`));
    });
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const pid = child.pid as number;
  return {
    name: "socket.io",
    baseUrl,
    jwt,
    pid,
    pids: [pid],
    async connections() {
      const h = await healthz(baseUrl);
      return Number(h.sockets ?? 0);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
