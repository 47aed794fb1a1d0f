import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServiceUnderTest } from "@parley/testkit";

/** Options for {@link spawnReferenceServer}. */
export interface SpawnServerOptions {
  /** Extra or overriding environment variables for the server process. */
  env?: Record<string, string>;
  /** PARLEY_USER_EVENTS_MAX; 1,500 by default. */
  maxEventsPerUser?: number;
  /** How long to wait for `/healthz` after each start; 30 s by default. */
  startupTimeoutMs?: number;
  /** How long SIGTERM may take before the process is killed; 20 s by default. */
  stopTimeoutMs?: number;
}

/** A reference server running as a child process, usable with `describeParleyService`. */
export interface SpawnedServer extends ServiceUnderTest {
  /** Kills the server (SIGKILL when hard, SIGTERM otherwise) and starts it again on the same data and port. */
  restart: (options: { hard: boolean }) => Promise<void>;
  /** Everything the server process(es) wrote to stdout and stderr so far (the last ~1 MB). */
  output: () => string;
  /** The data folder (removed by `cleanup`). */
  dataDir: string;
}

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = join(REPO_ROOT, "reference-server", "src", "main.ts");
const MAX_OUTPUT = 1_000_000;

/** A TCP port that was free a moment ago on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("could not pick a free port"))));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/**
 * Starts the reference server (`node --conditions=source --import tsx
 * reference-server/src/main.ts`, from source) on a free port with a fresh data
 * folder and a random JWT secret, and resolves once `GET /healthz` answers 200.
 * Fails with the captured output if it does not come up within the timeout.
 */
export async function spawnReferenceServer(options: SpawnServerOptions = {}): Promise<SpawnedServer> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), "parley-service-"));
  const maxEventsPerUser = Number(options.env?.PARLEY_USER_EVENTS_MAX ?? options.maxEventsPerUser ?? 1500);
  const jwt = { secret: randomBytes(32).toString("hex"), issuer: "parley", audience: "parley" };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PARLEY_HOST: "127.0.0.1",
    PARLEY_PORT: String(port),
    PARLEY_DATA_DIR: dataDir,
    PARLEY_JWT_SECRET: jwt.secret,
    PARLEY_JWT_ISSUER: jwt.issuer,
    PARLEY_JWT_AUDIENCE: jwt.audience,
    PARLEY_DEV_LOGIN: "true",
    PARLEY_USER_EVENTS_MAX: String(maxEventsPerUser),
    PARLEY_LOG_LEVEL: "warn",
    ...options.env,
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  const startupTimeoutMs = options.startupTimeoutMs ?? 30_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 20_000;
  let output = "";
  let child: ChildProcess | undefined;
  let generation = 0;

  const append = (text: string) => {
    output += text;
    if (output.length > MAX_OUTPUT) output = output.slice(output.length - MAX_OUTPUT);
  };

  const start = async (): Promise<void> => {
    generation += 1;
    append(`\n--- parley server start #${generation} (port ${port}) ---\n`);
    const proc = spawn(process.execPath, ["--conditions=source", "--import", "tsx", MAIN], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    proc.stdout?.setEncoding("utf8").on("data", append);
    proc.stderr?.setEncoding("utf8").on("data", append);
    proc.once("exit", (code, signal) =>
      append(`--- parley server exited (code ${code}, signal ${signal}) ---\n`),
    );

    const deadline = Date.now() + startupTimeoutMs;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`parley server exited during startup:\n${output.slice(-20_000)}`);
      }
      try {
        const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        await exited(proc);
        throw new Error(
          `parley server did not answer GET /healthz within ${startupTimeoutMs} ms:\n${output.slice(-20_000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async (hard: boolean): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const done = exited(proc);
    proc.kill(hard ? "SIGKILL" : "SIGTERM");
    if (hard) return done;
    const timer = setTimeout(() => {
      append(`--- SIGTERM not honoured within ${stopTimeoutMs} ms; sending SIGKILL ---\n`);
      proc.kill("SIGKILL");
    }, stopTimeoutMs);
    await done;
    clearTimeout(timer);
  };

  await start().catch(async (err: unknown) => {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  });

  return {
    baseUrl,
    jwt,
    maxEventsPerUser,
    devLogin: /^(1|true|yes|on)$/i.test(env.PARLEY_DEV_LOGIN ?? ""),
    dataDir,
    output: () => output,
    restart: async ({ hard }) => {
      await stop(hard);
      await start();
    },
    cleanup: async () => {
      await stop(false);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
