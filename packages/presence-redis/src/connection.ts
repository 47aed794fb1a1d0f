import { createHash } from "node:crypto";
import type { Logger } from "@parley/router";
import { Redis, type RedisOptions } from "ioredis";

/**
 * Options shared by {@link createRedisPresenceStore}, {@link createRedisRoutingMap} and
 * {@link createRedisReplyChannel}.
 */
export interface RedisConnectionOptions {
  /**
   * Redis to connect to, e.g. `"redis://127.0.0.1:6379"`. The store opens its own
   * connections, configured to fail fast: a command waits at most
   * {@link RedisConnectionOptions.commandTimeoutMs} (and no more than one reconnection
   * attempt) while Redis is down, then fails with `DEPENDENCY_UNAVAILABLE`; the
   * connection keeps reconnecting (every second at most) and recovers by itself.
   * Give either `url` or `client`.
   */
  url?: string;
  /**
   * An ioredis client to use instead of `url`; it stays yours (not closed by
   * `close()`), and its own retry and timeout settings apply. Connections the
   * store needs besides it (the pub/sub subscriber) are made with `client.duplicate()`.
   */
  client?: Redis;
  /**
   * Prepended to every key and pub/sub channel, so several deployments or test
   * runs can share one Redis. @defaultValue `"parley:"`
   */
  keyPrefix?: string;
  /**
   * Longest a command (or a connection attempt) may take before it fails with
   * `DEPENDENCY_UNAVAILABLE`. Applies to connections made from `url`.
   * @defaultValue 2000
   */
  commandTimeoutMs?: number;
  /** Where connection losses and recoveries are reported. @defaultValue a logger that drops everything */
  logger?: Logger;
}

const noop = () => {};

/** A logger that drops everything (`@parley/router`'s `silentLogger`, without loading the router). */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  withContext: () => silentLogger,
};

/** The options every connection the package opens from a URL gets: bounded waits, endless reconnects. */
function failFastOptions(commandTimeoutMs: number): RedisOptions {
  return {
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    // Queued commands fail after one failed reconnection attempt instead of twenty.
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  };
}

/** Connections of one store or map; closes only what it opened. */
export interface Connections {
  /** Runs commands and scripts. */
  readonly client: Redis;
  /** The normalised {@link RedisConnectionOptions.commandTimeoutMs}. */
  readonly commandTimeoutMs: number;
  /** Opens a further connection (for pub/sub), owned by this object and closed with it. */
  open(name: string): Redis;
  close(): Promise<void>;
}

/** Normalises the connection options; throws on missing or conflicting ones. */
export function openConnections(options: RedisConnectionOptions, logger: Logger): Connections {
  if ((options.url === undefined) === (options.client === undefined)) {
    throw new TypeError("give exactly one of `url` and `client`");
  }
  const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
  if (!(commandTimeoutMs > 0)) throw new RangeError("commandTimeoutMs must be a positive number");
  const base = options.client;
  const url = options.url;
  const owned: Redis[] = [];
  const detach: (() => void)[] = [];

  function watchHealth(client: Redis, name: string): void {
    let healthy = true;
    const onError = (err: Error) => {
      if (!healthy) return;
      healthy = false;
      logger.warn("redis connection lost; retrying", { connection: name, err });
    };
    const onReady = () => {
      if (healthy) return;
      healthy = true;
      logger.info("redis connection restored", { connection: name });
    };
    client.on("error", onError);
    client.on("ready", onReady);
    detach.push(() => {
      client.off("error", onError);
      client.off("ready", onReady);
    });
  }

  function open(name: string, extra: RedisOptions = {}): Redis {
    const client =
      base !== undefined
        ? base.duplicate(extra)
        : new Redis(url as string, { ...failFastOptions(commandTimeoutMs), ...extra });
    owned.push(client);
    watchHealth(client, name);
    return client;
  }

  const client = base ?? open("commands");
  if (base) watchHealth(base, "commands");

  return {
    client,
    commandTimeoutMs,
    open: (name) => open(name, { autoResubscribe: false }),
    async close() {
      for (const undo of detach.splice(0)) undo();
      await Promise.all(
        owned.splice(0).map(async (c) => {
          // A clean QUIT when connected; otherwise just drop the socket and stop reconnecting.
          if (c.status === "ready") await c.quit().catch(noop);
          c.disconnect();
        }),
      );
    },
  };
}

/** A Lua script run with EVALSHA, falling back to EVAL when Redis does not have it (e.g. after a restart). */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

/** Prepares a Lua script. */
export function lua(source: string): LuaScript {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

/** Runs `script` with its keys and arguments. */
export async function runScript(
  client: Redis,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith("NOSCRIPT"))) throw err;
    return client.eval(script.source, keys.length, ...keys, ...args);
  }
}
