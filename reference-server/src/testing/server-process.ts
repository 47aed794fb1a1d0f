import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = join(REPO_ROOT, "reference-server", "src", "main.ts");
const MAX_OUTPUT = 1_000_000;

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
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

/** HS256 parameters a test deployment verifies tokens with. */
export interface TestJwt {
  secret: string;
  issuer: string;
  audience: string;
}

/**
 * The environment every test deployment's processes share: loopback only, a random
 * JWT secret (returned, so tests mint tokens), dev login on, quiet logs.
 */
export function testEnvironment(maxEventsPerUser: number): { jwt: TestJwt; env: NodeJS.ProcessEnv } {
  const jwt = { secret: randomBytes(32).toString("hex"), issuer: "parley", audience: "parley" };
  return {
    jwt,
    env: {
      ...process.env,
      PARLEY_HOST: "127.0.0.1",
      PARLEY_JWT_SECRET: jwt.secret,
      PARLEY_JWT_ISSUER: jwt.issuer,
      PARLEY_JWT_AUDIENCE: jwt.audience,
      PARLEY_DEV_LOGIN: "true",
      PARLEY_USER_EVENTS_MAX: String(maxEventsPerUser),
      PARLEY_LOG_LEVEL: "warn",
    },
  };
}

/** Keeps the last ~1 MB of several processes' output, in arrival order. */
export interface OutputLog {
  append(text: string): void;
  text(): string;
}

/** An {@link OutputLog}. */
export function createOutputLog(): OutputLog {
  let output = "";
  return {
    append(text) {
      output += text;
      if (output.length > MAX_OUTPUT) output = output.slice(output.length - MAX_OUTPUT);
    },
    text: () => output,
  };
}

/** Options for {@link createServerProcess}. */
export interface ServerProcessOptions {
  /** Shown in the output log's start/exit lines, e.g. "gateway-1". */
  name: string;
  port: number;
  env: NodeJS.ProcessEnv;
  output: OutputLog;
  /** Path polled until it answers 200 after a start. @defaultValue "/healthz" */
  readyPath?: string;
  /** @defaultValue 30000 */
  startupTimeoutMs?: number;
  /** How long SIGTERM may take before SIGKILL. @defaultValue 20000 */
  stopTimeoutMs?: number;
}

/** One reference-server child process that can be started, stopped and killed again and again. */
export interface ServerProcess {
  readonly name: string;
  readonly baseUrl: string;
  /** The running process's pid, or undefined when stopped. */
  readonly pid: number | undefined;
  /** Starts the process; resolves when `readyPath` answers 200, fails with its output otherwise. */
  start(): Promise<void>;
  /** SIGKILL when hard (returns once it is gone), else SIGTERM with a SIGKILL fallback. */
  stop(hard: boolean): Promise<void>;
}

/**
 * Runs `node --conditions=source --import tsx reference-server/src/main.ts` (from source,
 * no build) with the given environment.
 */
export function createServerProcess(options: ServerProcessOptions): ServerProcess {
  const { name, port, env, output } = options;
  const baseUrl = `http://127.0.0.1:${port}`;
  const readyPath = options.readyPath ?? "/healthz";
  const startupTimeoutMs = options.startupTimeoutMs ?? 30_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 20_000;
  let child: ChildProcess | undefined;
  let generation = 0;

  return {
    name,
    baseUrl,
    get pid() {
      return child?.pid;
    },
    async start() {
      generation += 1;
      output.append(`\n--- ${name} start #${generation} (port ${port}) ---\n`);
      const proc = spawn(process.execPath, ["--conditions=source", "--import", "tsx", MAIN], {
        cwd: REPO_ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = proc;
      proc.stdout?.setEncoding("utf8").on("data", output.append);
      proc.stderr?.setEncoding("utf8").on("data", output.append);
      proc.once("exit", (code, signal) =>
        output.append(`--- ${name} exited (code ${code}, signal ${signal}) ---\n`),
      );

      const deadline = Date.now() + startupTimeoutMs;
      for (;;) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`${name} exited during startup:\n${output.text().slice(-20_000)}`);
        }
        try {
          const res = await fetch(`${baseUrl}${readyPath}`, { signal: AbortSignal.timeout(3_000) });
          await res.body?.cancel();
          if (res.status === 200) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) {
          proc.kill("SIGKILL");
          await exited(proc);
          throw new Error(
            `${name} did not answer GET ${readyPath} within ${startupTimeoutMs} ms:\n${output.text().slice(-20_000)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(hard) {
      const proc = child;
      if (!proc) return;
      child = undefined;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = exited(proc);
      proc.kill(hard ? "SIGKILL" : "SIGTERM");
      if (hard) return done;
      const timer = setTimeout(() => {
        output.append(`--- ${name}: SIGTERM not honoured within ${stopTimeoutMs} ms; sending SIGKILL ---\n`);
        proc.kill("SIGKILL");
      }, stopTimeoutMs);
      await done;
      clearTimeout(timer);
    },
  };
}
