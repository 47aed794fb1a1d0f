/**
 * Test support (not exported by the package): where the shared Redis is, unique key
 * prefixes, cleanup, and a private redis-server to stop and restart.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/** The shared Redis (`bash scripts/services.sh start redis`); PARLEY_REDIS_URL overrides it. */
export const REDIS_URL = process.env.PARLEY_REDIS_URL ?? "redis://127.0.0.1:6379";

/** An id (user, gateway, process) no other test uses: `<label>-<8 hex>`. */
export const fresh = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

/** What `promise` rejects with; throws when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
}

/** A key prefix no other run uses. */
export function uniquePrefix(label: string): string {
  return `parley-test:${label}:${randomUUID().slice(0, 8)}:`;
}

/** Deletes every key under `prefix`. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}

/** A TCP port nothing listens on (at the time of the call). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** A redis-server of the test's own, on its own port, that it may stop and start again. */
export interface PrivateRedis {
  readonly url: string;
  start(): void;
  stop(): void;
  /** Stops it and deletes its folder. */
  dispose(): void;
}

/** Starts a private redis-server (keeps nothing on disk). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "parley-redis-"));
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "yes",
    "--dir",
    dir,
    "--pidfile",
    join(dir, "redis.pid"),
    "--logfile",
    join(dir, "redis.log"),
  ];
  const cli = (...command: string[]) =>
    execFileSync("redis-cli", ["-p", String(port), ...command], { encoding: "utf8", timeout: 10_000 });
  let running = false;
  const self: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    start() {
      execFileSync("redis-server", args, { timeout: 10_000 });
      running = true;
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          if (cli("ping").trim() === "PONG") return;
        } catch {
          // not up yet
        }
        if (Date.now() > deadline) throw new Error(`private redis on port ${port} did not start`);
        execFileSync("sleep", ["0.05"]);
      }
    },
    stop() {
      if (!running) return;
      running = false;
      try {
        cli("shutdown", "nosave");
      } catch {
        // redis-cli may report the connection the shutdown drops as an error
      }
    },
    dispose() {
      self.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  self.start();
  return self;
}
