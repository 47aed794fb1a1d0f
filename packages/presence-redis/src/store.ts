import type { PresenceRecord, PresenceStore, Unsubscribe } from "@parley/presence";
import { callListeners } from "@parley/presence";
import { ErrorReason, reasonOf } from "@parley/protocol";
import { openConnections, type RedisConnectionOptions, runScript, silentLogger } from "./connection.js";
import { closedError, toParleyError } from "./errors.js";
import { DISCONNECT, DUE, HEARTBEAT, HIT, PRESENCE, SETTLE } from "./scripts.js";

/** Options for {@link createRedisPresenceStore}. */
export interface RedisPresenceStoreOptions extends RedisConnectionOptions {
  /**
   * How often this process looks for connections whose TTL ran out without a
   * disconnect (a crashed gateway) and tells watchers, in every process, that
   * their users went offline. Every store sweeps; the sweeps are atomic scripts, so
   * several processes sweeping at once still publish each transition once.
   * Reads ({@link PresenceStore.getPresence}) are exact regardless.
   * @defaultValue 1000
   */
  sweepIntervalMs?: number;
  /**
   * Called when a `watch` or `subscribe` listener throws; the other listeners are
   * called anyway. @defaultValue reports the error to `logger` when one is given,
   * else with `console.error`
   */
  onListenerError?: (error: unknown) => void;
}

/** Most users settled per sweep round trip. */
const SWEEP_BATCH = 256;
/** Most watched users read per script call when re-reading them. */
const REREAD_BATCH = 500;

type PresenceListener = (presence: PresenceRecord) => void;
type PayloadListener = (payload: Uint8Array) => void;

/** A watched user: its listeners, and what they were last told. */
interface Watched {
  listeners: Set<PresenceListener>;
  /**
   * The state the watchers last had reason to believe (undefined until the first
   * read or event): repeats of it are dropped, and a read after reconnecting that
   * differs from it is reported.
   */
  online?: boolean;
  /** Events received so far; tells a read whether events overtook it. */
  events: number;
}

/**
 * A {@link PresenceStore} on Redis, for cluster mode: every gateway shares
 * presence, last seen, typing fan-out and rate limits through one Redis.
 *
 * - Presence: a sorted set per user of connection id → expiry, kept by atomic Lua
 *   scripts on Redis time; the user is online while any entry is in the future.
 *   Connections of a crashed gateway simply run out.
 * - Watches and ephemeral payloads travel over Redis pub/sub (one channel per user
 *   and kind) on a separate subscriber connection; transitions are published by
 *   the script that makes them, and a periodic sweep (`sweepIntervalMs`) turns
 *   TTL expiries into offline events. After a lost connection the store
 *   resubscribes and re-reads its watched users, reporting what changed meanwhile.
 * - `hit` is a fixed window counter (`SET PX` + `INCR` in one script).
 *
 * Failures are Parley errors: `DEPENDENCY_UNAVAILABLE` while Redis cannot be
 * reached (within `commandTimeoutMs`, twice that at worst), `SHUTTING_DOWN` after `close()`.
 * Works with a single Redis server (or a Sentinel-managed primary), not Redis Cluster.
 *
 * @example
 * ```ts
 * const presence = createRedisPresenceStore({ url: "redis://127.0.0.1:6379" });
 * await presence.heartbeat("alice", "tab-1", 30_000);
 * const [alice] = await presence.getPresence(["alice"]); // { userId: "alice", online: true, ... }
 * await presence.close();
 * ```
 */
export function createRedisPresenceStore(options: RedisPresenceStoreOptions): PresenceStore {
  const prefix = options.keyPrefix ?? "parley:";
  const sweepIntervalMs = options.sweepIntervalMs ?? 1000;
  if (!(sweepIntervalMs > 0)) throw new RangeError("sweepIntervalMs must be a positive number");
  const logger = (options.logger ?? silentLogger).withContext({ component: "presence-redis" });
  const onListenerError =
    options.onListenerError ??
    (options.logger
      ? (err: unknown) => logger.error("a presence listener threw", { err })
      : (err: unknown) => console.error("parley presence: a listener threw", err));

  const connections = openConnections(options, logger);
  const client = connections.client;
  const subscriber = connections.open("subscriber");

  const dueKey = `${prefix}presence:due`;
  const connsKey = (userId: string) => `${prefix}presence:conns:${userId}`;
  const userKey = (userId: string) => `${prefix}presence:user:${userId}`;
  const eventsChannel = (userId: string) => `${prefix}presence:events:${userId}`;
  const ephemeralChannel = (userId: string) => `${prefix}ephemeral:${userId}`;
  const rateKey = (key: string) => `${prefix}rate:${key}`;

  const watched = new Map<string, Watched>();
  const subscribers = new Map<string, Set<PayloadListener>>();
  /** Subscribed channels and what handles their messages. */
  const channels = new Map<string, (message: Buffer) => void>();
  /** (Un)subscriptions and reads of watched users under way; commands wait for them (see `ready`). */
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;
  let sweeping = false;

  function ensureOpen(operation: string): void {
    if (closed) throw closedError(operation, "presence store");
  }

  /** Runs a Redis operation, with errors translated; rejects at once when closed. */
  async function command<T>(operation: string, body: () => Promise<T>): Promise<T> {
    ensureOpen(operation);
    await ready();
    ensureOpen(operation);
    try {
      return await body();
    } catch (err) {
      const translated = toParleyError(operation, err);
      // Unavailability is reported once per outage by the connection; anything else is a bug.
      if (reasonOf(translated) === ErrorReason.INTERNAL) logger.error(`unable to ${operation}`, { err });
      throw translated;
    }
  }

  /**
   * Waits until Redis has confirmed the (un)subscriptions made so far, so that a
   * `watch` or `subscribe` followed by a command on this store sees that command's
   * events. Failed ones are retried when the subscriber reconnects.
   */
  async function ready(): Promise<void> {
    if (inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    // Bounded: while Redis is down these fail, and the command itself should then fail fast.
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, connections.commandTimeoutMs);
    });
    await Promise.race([Promise.allSettled([...inFlight]), timeout]);
    clearTimeout(timer);
  }

  function track(promise: Promise<unknown>, what: string): void {
    const tracked = promise.catch((err: unknown) => {
      if (!closed) logger.debug(`unable to ${what}; retried when the subscriber reconnects`, { err });
    });
    inFlight.add(tracked);
    void tracked.finally(() => inFlight.delete(tracked));
  }

  /** Subscribes; resolves once Redis confirmed it (rejects when it could not be made now). */
  function openChannel(channel: string, handler: (message: Buffer) => void): Promise<unknown> {
    channels.set(channel, handler);
    const subscribed = subscriber.subscribe(channel);
    track(subscribed, "subscribe");
    return subscribed;
  }

  function closeChannel(channel: string): void {
    if (!channels.delete(channel) || closed) return;
    track(subscriber.unsubscribe(channel), "unsubscribe");
  }

  const callAll = <T>(listeners: Iterable<(value: T) => void> | undefined, value: T): void =>
    callListeners(listeners, value, onListenerError);

  /** Tells the user's watchers about a change, unless it repeats what they were last told. */
  function deliver(entry: Watched, record: PresenceRecord): void {
    if (entry.online === record.online) return;
    entry.online = record.online;
    callAll(entry.listeners, record);
  }

  function toRecord(userId: string, online: boolean, seen: string): PresenceRecord {
    const lastSeenMs = seen === "" ? Number.NaN : Number(seen);
    return Number.isFinite(lastSeenMs) ? { userId, online, lastSeenMs } : { userId, online };
  }

  subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => {
    channels.get(channel.toString())?.(message);
  });

  subscriber.on("ready", () => {
    if (closed) return;
    // Subscriptions made (or failed) while disconnected are (re)made here; the
    // subscriber is created without ioredis's own resubscription.
    const wanted = [...channels.keys()];
    const batches: Promise<unknown>[] = [];
    for (let i = 0; i < wanted.length; i += 1000) {
      const batch = subscriber.subscribe(...wanted.slice(i, i + 1000));
      track(batch, "resubscribe");
      batches.push(batch);
    }
    track(reread([...watched.keys()], batches), "re-read watched presence");
  });

  // A re-read that failed because the command connection was down is made again when it is back.
  const onClientReady = () => {
    if (!closed) track(reread([...watched.keys()], []), "re-read watched presence");
  };
  client.on("ready", onClientReady);

  /**
   * Once `subscribed` are confirmed, reads the users' presence: learns the state of
   * users just watched, and tells watchers of the others about a change they missed
   * while events could not arrive (after a reconnection).
   *
   * Events and read replies come on different connections, in no common order, so
   * a read is used only for users no event arrived for while it was under way: such
   * an event comes from a transition made after the subscription, and the events
   * (all of which arrive from then on) are at least as new as the read.
   */
  async function reread(userIds: string[], subscribed: Promise<unknown>[]): Promise<void> {
    await Promise.all(subscribed);
    // In slices, so that a gateway watching many users does not hold Redis up with one long script.
    for (let i = 0; i < userIds.length && !closed; i += REREAD_BATCH) {
      const slice = userIds.slice(i, i + REREAD_BATCH);
      const before = new Map(
        slice.map((userId) => [userId, { entry: watched.get(userId), events: watched.get(userId)?.events }]),
      );
      for (const record of await readPresence(slice)) {
        const { entry, events } = before.get(record.userId) ?? {};
        if (!entry || watched.get(record.userId) !== entry || entry.events !== events) continue;
        if (entry.online === undefined) entry.online = record.online;
        else deliver(entry, record);
      }
    }
  }

  async function readPresence(userIds: string[]): Promise<PresenceRecord[]> {
    const unique = [...new Set(userIds)];
    const keys = unique.flatMap((userId) => [connsKey(userId), userKey(userId)]);
    const reply = (await runScript(client, PRESENCE, keys, [])) as string[];
    const byUser = new Map(
      unique.map((userId, i) => [userId, toRecord(userId, reply[2 * i] === "1", reply[2 * i + 1] ?? "")]),
    );
    return userIds.map((userId) => ({ ...(byUser.get(userId) ?? { userId, online: false }) }));
  }

  async function sweep(): Promise<void> {
    if (closed || sweeping) return;
    sweeping = true;
    try {
      for (;;) {
        const due = (await runScript(client, DUE, [dueKey], [SWEEP_BATCH])) as string[];
        await Promise.all(
          due.map((userId) =>
            runScript(
              client,
              SETTLE,
              [connsKey(userId), userKey(userId), dueKey],
              [userId, eventsChannel(userId)],
            ),
          ),
        );
        if (due.length < SWEEP_BATCH || closed) return;
      }
    } catch (err) {
      if (!closed) logger.debug("presence sweep failed; retried at the next interval", { err });
    } finally {
      sweeping = false;
    }
  }

  const sweepTimer = setInterval(() => void sweep(), sweepIntervalMs);
  sweepTimer.unref?.();

  return {
    async heartbeat(userId, connectionId, ttlMs) {
      ensureOpen("heartbeat");
      if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be a positive number, got ${ttlMs}`);
      await command("heartbeat", async () => {
        await runScript(
          client,
          HEARTBEAT,
          [connsKey(userId), userKey(userId), dueKey],
          [userId, connectionId, Math.ceil(ttlMs), eventsChannel(userId)],
        );
      });
    },

    disconnect(userId, connectionId) {
      return command("disconnect", async () => {
        await runScript(
          client,
          DISCONNECT,
          [connsKey(userId), userKey(userId), dueKey],
          [userId, connectionId, eventsChannel(userId)],
        );
      });
    },

    getPresence(userIds) {
      return command("get presence", async () => (userIds.length === 0 ? [] : readPresence(userIds)));
    },

    watch(userIds, listener): Unsubscribe {
      ensureOpen("watch");
      const users = [...new Set(userIds)];
      const added: string[] = [];
      const subscribed: Promise<unknown>[] = [];
      for (const userId of users) {
        let entry = watched.get(userId);
        if (!entry) {
          const created: Watched = { listeners: new Set(), events: 0 };
          entry = created;
          watched.set(userId, created);
          added.push(userId);
          subscribed.push(
            openChannel(eventsChannel(userId), (message) => {
              const text = message.toString();
              created.events += 1;
              deliver(created, toRecord(userId, text.startsWith("1:"), text.slice(2)));
            }),
          );
        }
        entry.listeners.add(listener);
      }
      // Commands of this store wait for this (see `ready`), so their events are seen as changes.
      if (added.length > 0) track(reread(added, subscribed), "read watched presence");
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        for (const userId of users) {
          const entry = watched.get(userId);
          if (!entry?.listeners.delete(listener) || entry.listeners.size > 0) continue;
          watched.delete(userId);
          closeChannel(eventsChannel(userId));
        }
      };
    },

    publish(userId, payload) {
      return command("publish", async () => {
        await client.publish(
          ephemeralChannel(userId),
          Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        );
      });
    },

    subscribe(userId, listener): Unsubscribe {
      ensureOpen("subscribe");
      let set = subscribers.get(userId);
      if (!set) {
        set = new Set();
        subscribers.set(userId, set);
        openChannel(ephemeralChannel(userId), (message) =>
          callAll(subscribers.get(userId), new Uint8Array(message)),
        );
      }
      set.add(listener);
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        const current = subscribers.get(userId);
        if (!current?.delete(listener) || current.size > 0) return;
        subscribers.delete(userId);
        closeChannel(ephemeralChannel(userId));
      };
    },

    async hit(key, limit, windowMs) {
      ensureOpen("count a hit");
      if (!(windowMs > 0)) throw new RangeError(`windowMs must be a positive number, got ${windowMs}`);
      return command("count a hit", async () => {
        const allowed = await runScript(client, HIT, [rateKey(key)], [limit, Math.ceil(windowMs)]);
        return allowed === 1;
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweepTimer);
      client.off("ready", onClientReady);
      watched.clear();
      subscribers.clear();
      channels.clear();
      await connections.close();
    },
  };
}
