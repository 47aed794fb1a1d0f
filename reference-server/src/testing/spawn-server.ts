import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServiceUnderTest } from "@parley/testkit";
import { createOutputLog, createServerProcess, freePort, testEnvironment } from "./server-process.js";

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
  const { jwt, env: common } = testEnvironment(maxEventsPerUser);
  const env: NodeJS.ProcessEnv = {
    ...common,
    PARLEY_PORT: String(port),
    PARLEY_DATA_DIR: dataDir,
    ...options.env,
  };
  const output = createOutputLog();
  const server = createServerProcess({
    name: "parley server",
    port,
    env,
    output,
    startupTimeoutMs: options.startupTimeoutMs,
    stopTimeoutMs: options.stopTimeoutMs,
  });
  const { baseUrl } = server;
  const start = () => server.start();
  const stop = (hard: boolean) => server.stop(hard);

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
    output: () => output.text(),
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
