import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { callListeners } from "@parley/presence";
import { ErrorReason, reasonOf } from "@parley/protocol";
import { type CommandResult, CommandResultSchema } from "@parley/protocol/internal";
import type { ReplyChannel } from "@parley/router";
import type { Redis } from "ioredis";
import { openConnections, type RedisConnectionOptions, silentLogger } from "./connection.js";
import { closedError, toParleyError } from "./errors.js";

/**
 * A {@link ReplyChannel} between processes over Redis pub/sub, with the lifecycle a
 * gateway needs: wait until its replies can arrive before taking traffic, and close.
 */
export interface RedisReplyChannel extends ReplyChannel {
  /**
   * Publishes `result` to the process `replyTo`. Best effort: resolves whether or
   * not any process listens (a gone gateway's replies are dropped; its clients
   * retry with the same client id and get the original result). Rejects with
   * `DEPENDENCY_UNAVAILABLE` when Redis cannot take it, `SHUTTING_DOWN` after
   * {@link RedisReplyChannel.close}.
   */
  send(replyTo: string, result: CommandResult): Promise<void>;
  /**
   * Calls `handler` with every result sent to `processId` (by any process) from
   * the moment Redis confirms the subscription; {@link RedisReplyChannel.ready}
   * tells when that is. Several handlers may listen for the same id; each gets
   * every result. Returns an unsubscribe handle. Throws `SHUTTING_DOWN` after
   * {@link RedisReplyChannel.close}.
   */
  listen(processId: string, handler: (result: CommandResult) => void): () => void;
  /**
   * Resolves once Redis has confirmed the subscription of every `listen` made so
   * far, so that replies to them are delivered: a gateway awaits it before taking
   * traffic. Rejects with `DEPENDENCY_UNAVAILABLE` when that cannot be done now
   * (Redis unreachable); the channel keeps resubscribing once Redis is back, so a
   * later call may resolve. Rejects with `SHUTTING_DOWN` after `close()`.
   */
  ready(): Promise<void>;
  /** Stops listening and closes the connections the channel opened. Later calls fail with `SHUTTING_DOWN`. */
  close(): Promise<void>;
}

/** Options for {@link createRedisReplyChannel}. */
export interface RedisReplyChannelOptions extends RedisConnectionOptions {
  /**
   * Called when a `listen` handler throws; the other handlers are called anyway.
   * @defaultValue reports the error to `logger` when one is given, else with `console.error`
   */
  onListenerError?: (error: unknown) => void;
}

type ReplyHandler = (result: CommandResult) => void;

/** A channel this process listens on. */
interface Listened {
  handlers: Set<ReplyHandler>;
  /** Redis confirmed the subscription on the current subscriber connection. */
  confirmed: boolean;
  /** The subscription under way (undefined when none is, e.g. after one failed). */
  attempt?: Promise<void>;
}

function checkProcessId(processId: string): void {
  if (typeof processId !== "string" || processId === "") {
    throw new RangeError("processId must be a non-empty string");
  }
}

/**
 * A {@link ReplyChannel} over Redis pub/sub, for cluster mode: a worker sends a
 * command's result to the channel `<keyPrefix>replies:<processId>` of the gateway
 * that submitted it (`Command.reply_to`), as the binary `CommandResult` record of
 * `@parley/protocol/internal`.
 *
 * Replies are best effort, like pub/sub itself: one sent while nobody listens (or
 * while the listener's connection is down) is dropped, and the command bus then
 * times out; clients retry with the same client id and get the original result.
 * `send` rejects only when Redis cannot take the reply (`DEPENDENCY_UNAVAILABLE`;
 * the worker then retries the command, which is idempotent). Payloads that do
 * not decode are logged and dropped. The subscriber connection is opened at the
 * first `listen` (a process that only sends needs one connection), and after a
 * lost connection the channel resubscribes by itself.
 *
 * @example
 * ```ts
 * const replies = createRedisReplyChannel({ url: "redis://127.0.0.1:6379" });
 * const stop = replies.listen("gateway-a", (result) => console.log(result.commandId));
 * await replies.ready(); // replies to gateway-a are delivered from now on
 * stop();
 * await replies.close();
 * ```
 */
export function createRedisReplyChannel(options: RedisReplyChannelOptions): RedisReplyChannel {
  const prefix = options.keyPrefix ?? "parley:";
  const logger = (options.logger ?? silentLogger).withContext({ component: "replies-redis" });
  const onListenerError =
    options.onListenerError ??
    (options.logger
      ? (err: unknown) => logger.error("a reply handler threw", { err })
      : (err: unknown) => console.error("parley replies: a handler threw", err));
  const connections = openConnections(options, logger);
  const client = connections.client;
  const channelOf = (processId: string) => `${prefix}replies:${processId}`;

  const listened = new Map<string, Listened>();
  let subscriber: Redis | undefined;
  let closed = false;

  /** Subscribes to `channels`; marks them confirmed when Redis answers. */
  function subscribe(redis: Redis, channels: string[]): Promise<void> {
    const entries = channels.map((channel) => [channel, listened.get(channel)] as const);
    const attempt = redis.subscribe(...channels).then(
      () => {
        for (const [channel, entry] of entries) {
          // Not if the channel was dropped (or dropped and listened to again) meanwhile.
          if (entry && listened.get(channel) === entry && entry.attempt === attempt) {
            entry.confirmed = true;
            entry.attempt = undefined;
          }
        }
      },
      (err: unknown) => {
        for (const [, entry] of entries) if (entry?.attempt === attempt) entry.attempt = undefined;
        if (!closed) logger.debug("unable to subscribe to replies; retried on reconnection", { err });
        throw err;
      },
    );
    // Whoever needs the outcome (`ready`) awaits `attempt`; this only keeps it from being unhandled.
    attempt.catch(() => {});
    for (const [, entry] of entries) if (entry) entry.attempt = attempt;
    return attempt;
  }

  function deliver(channel: string, message: Buffer): void {
    const entry = listened.get(channel);
    if (!entry) return;
    let result: CommandResult;
    try {
      result = fromBinary(CommandResultSchema, message);
    } catch (err) {
      logger.warn("dropped a reply that does not decode", { channel, bytes: message.byteLength, err });
      return;
    }
    if (result.commandId === "") {
      logger.warn("dropped a reply without a command id", { channel, bytes: message.byteLength });
      return;
    }
    callListeners(entry.handlers, result, onListenerError);
  }

  function openSubscriber(): Redis {
    const redis = connections.open("replies-subscriber");
    redis.on("messageBuffer", (channel: Buffer, message: Buffer) => deliver(channel.toString(), message));
    // Subscriptions live and die with the connection (it is opened without ioredis's resubscription).
    redis.on("close", () => {
      for (const entry of listened.values()) {
        entry.confirmed = false;
        entry.attempt = undefined;
      }
    });
    redis.on("ready", () => {
      if (closed) return;
      const wanted = [...listened].filter(([, e]) => !e.confirmed && !e.attempt).map(([c]) => c);
      for (let i = 0; i < wanted.length; i += 1000) subscribe(redis, wanted.slice(i, i + 1000));
    });
    return redis;
  }

  return {
    async send(replyTo, result) {
      if (closed) throw closedError("send a reply", "reply channel");
      checkProcessId(replyTo);
      const payload = toBinary(CommandResultSchema, result);
      try {
        const receivers = await client.publish(
          channelOf(replyTo),
          Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        );
        if (receivers === 0) logger.debug("nobody listens for this reply", { replyTo });
      } catch (err) {
        const translated = toParleyError("send a reply", err);
        if (reasonOf(translated) === ErrorReason.INTERNAL) logger.error("unable to send a reply", { err });
        throw translated;
      }
    },

    listen(processId, handler) {
      if (closed) throw closedError("listen for replies", "reply channel");
      checkProcessId(processId);
      const channel = channelOf(processId);
      let entry = listened.get(channel);
      if (!entry) {
        const created: Listened = { handlers: new Set(), confirmed: false };
        entry = created;
        listened.set(channel, created);
        subscriber ??= openSubscriber();
        subscribe(subscriber, [channel]);
      }
      // A wrapper, so that the same function listening twice gets two independent handles.
      const wrapped: ReplyHandler = (result) => handler(result);
      entry.handlers.add(wrapped);
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        const current = listened.get(channel);
        if (!current?.handlers.delete(wrapped) || current.handlers.size > 0) return;
        listened.delete(channel);
        if (closed || !subscriber) return;
        subscriber.unsubscribe(channel).catch((err: unknown) => {
          // A lost connection drops the subscription anyway.
          logger.debug("unable to unsubscribe from replies", { err });
        });
      };
    },

    async ready() {
      if (closed) throw closedError("wait for reply subscriptions", "reply channel");
      const redis = subscriber;
      if (!redis) return;
      const unconfirmed = [...listened].filter(([, entry]) => !entry.confirmed);
      // Ones that failed (or were never made on this connection) are made again now.
      const retry = unconfirmed.filter(([, entry]) => !entry.attempt).map(([channel]) => channel);
      if (retry.length > 0) subscribe(redis, retry);
      const attempts = new Set(unconfirmed.map(([, entry]) => entry.attempt));
      try {
        await Promise.all(attempts);
      } catch (err) {
        if (closed) throw closedError("wait for reply subscriptions", "reply channel");
        throw toParleyError("wait for reply subscriptions", err);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      listened.clear();
      await connections.close();
    },
  };
}
