import { create, toBinary } from "@bufbuild/protobuf";
import { ErrorReason, reasonOf } from "@parley/protocol";
import {
  type CommandResult,
  CommandResultSchema,
  EmptySchema,
  ReceiptResultSchema,
} from "@parley/protocol/internal";
import type { LogFields, Logger } from "@parley/router";
import { waitFor } from "@parley/testkit";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createRedisReplyChannel, type RedisReplyChannel, type RedisReplyChannelOptions } from "./index.js";
import {
  deleteKeys,
  freePort,
  fresh,
  type PrivateRedis,
  REDIS_URL,
  rejection,
  startPrivateRedis,
  uniquePrefix,
} from "./test-redis.js";

const prefix = uniquePrefix("replies");
afterAll(() => deleteKeys(REDIS_URL, prefix));

function receipt(commandId: string, readSeq: number): CommandResult {
  return create(CommandResultSchema, {
    commandId,
    outcome: {
      case: "receipt",
      value: create(ReceiptResultSchema, { deliveredSeq: readSeq + 2, readSeq, unreadCount: 2 }),
    },
  });
}

const done = (commandId: string) =>
  create(CommandResultSchema, { commandId, outcome: { case: "done", value: create(EmptySchema) } });

/** What a user of the result sees: its bytes on the wire. */
const bytes = (result: CommandResult | undefined) =>
  result === undefined ? undefined : [...toBinary(CommandResultSchema, result)];

/** A logger that keeps its warnings. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger & { warnings: string[] } = {
    warnings,
    debug() {},
    info() {},
    warn(message: string, _fields?: LogFields) {
      warnings.push(message);
    },
    error() {},
    withContext: () => logger,
  };
  return logger;
}

describe("createRedisReplyChannel", () => {
  const open: RedisReplyChannel[] = [];
  /** A channel as one process has it: its own connections, the shared Redis and prefix. */
  const openChannel = (options: Partial<RedisReplyChannelOptions> = {}) => {
    const channel = createRedisReplyChannel({ url: REDIS_URL, keyPrefix: prefix, ...options });
    open.push(channel);
    return channel;
  };

  afterEach(async () => {
    for (const channel of open.splice(0)) await channel.close();
  });

  it("carries a worker's result to the gateway that submitted the command, and only to it", async () => {
    const gatewayA = openChannel();
    const gatewayB = openChannel();
    const worker = openChannel();
    const [idA, idB] = [fresh("gw-a"), fresh("gw-b")];
    const atA: CommandResult[] = [];
    const atB: CommandResult[] = [];
    gatewayA.listen(idA, (r) => atA.push(r));
    gatewayB.listen(idB, (r) => atB.push(r));
    await Promise.all([gatewayA.ready(), gatewayB.ready()]);

    const forA = receipt(fresh("cmd"), 7);
    const forB = done(fresh("cmd"));
    await worker.send(idA, forA);
    await worker.send(idB, forB);
    await waitFor(() => atA.length === 1 && atB.length === 1, 10_000, "both replies");
    expect(bytes(atA[0])).toEqual(bytes(forA));
    expect(atA[0]?.outcome).toEqual({
      case: "receipt",
      value: expect.objectContaining({ deliveredSeq: 9, readSeq: 7, unreadCount: 2 }),
    });
    expect(bytes(atB[0])).toEqual(bytes(forB));
  });

  it("resolves a send nobody listens for, and stops delivering to a handler once unsubscribed", async () => {
    const gateway = openChannel();
    const worker = openChannel();
    await expect(worker.send(fresh("gone-gateway"), done(fresh("cmd")))).resolves.toBeUndefined();

    const [stopped, live] = [fresh("gw-stopped"), fresh("gw-live")];
    const atStopped: string[] = [];
    const atLive: string[] = [];
    const stop = gateway.listen(stopped, (r) => atStopped.push(r.commandId));
    gateway.listen(live, (r) => atLive.push(r.commandId));
    await gateway.ready();
    await worker.send(stopped, done("first"));
    await waitFor(() => atStopped.length === 1, 10_000, "the reply before unsubscribing");

    stop();
    stop(); // a second call does nothing
    await expect(worker.send(stopped, done("after-stop"))).resolves.toBeUndefined();
    // Sent after it on the same connection, so it arrives after it: when this one is in, the other was dropped.
    await worker.send(live, done("marker"));
    await waitFor(() => atLive.length === 1, 10_000, "the marker");
    expect(atStopped).toEqual(["first"]);
  });

  it("delivers many replies in the order they were sent, to every handler of the process", async () => {
    const gateway = openChannel();
    const worker = openChannel();
    const id = fresh("gw-many");
    const first: string[] = [];
    const second: string[] = [];
    gateway.listen(id, (r) => first.push(r.commandId));
    gateway.listen(id, (r) => second.push(r.commandId));
    await gateway.ready();

    const ids = Array.from({ length: 500 }, (_, i) => `cmd-${i}`);
    await Promise.all(ids.map((commandId) => worker.send(id, done(commandId))));
    await waitFor(() => first.length === ids.length && second.length === ids.length, 15_000, "500 replies");
    expect(first).toEqual(ids);
    expect(second).toEqual(ids);
  });

  it("ready() resolves once a new process's subscriptions are in place, so the first reply is not lost", async () => {
    const worker = openChannel();
    await worker.send(fresh("warm-up"), done("warm-up")); // the worker's connection is up
    const gateway = openChannel();
    await gateway.ready(); // nothing to wait for yet

    const ids = [fresh("gw-1"), fresh("gw-2"), fresh("gw-3")];
    const received: string[] = [];
    for (const id of ids) gateway.listen(id, (r) => received.push(r.commandId));
    await gateway.ready();
    for (const id of ids) await worker.send(id, done(`to-${id}`));
    await waitFor(() => received.length === 3, 10_000, "the replies sent right after ready()");
    expect(received).toEqual(ids.map((id) => `to-${id}`));
  });

  it("logs and drops payloads that are not results, and keeps delivering", async () => {
    const logger = recordingLogger();
    const gateway = openChannel({ logger });
    const id = fresh("gw-garbage");
    const received: string[] = [];
    gateway.listen(id, (r) => received.push(r.commandId));
    await gateway.ready();

    const raw = new Redis(REDIS_URL);
    try {
      await raw.publish(`${prefix}replies:${id}`, Buffer.from([0xff, 0xff, 0xff, 0xff]));
      await raw.publish(`${prefix}replies:${id}`, Buffer.alloc(0));
      await raw.publish(`${prefix}replies:${id}`, Buffer.from(toBinary(CommandResultSchema, done("good"))));
    } finally {
      raw.disconnect();
    }
    await waitFor(() => received.length === 1, 10_000, "the good reply");
    expect(received).toEqual(["good"]);
    expect(logger.warnings).toHaveLength(2);
  });

  it("calls every handler when one throws, and reports the error", async () => {
    const errors: unknown[] = [];
    const gateway = openChannel({ onListenerError: (err) => errors.push(err) });
    const worker = openChannel();
    const id = fresh("gw-throws");
    const received: string[] = [];
    gateway.listen(id, () => {
      throw new Error("handler bug");
    });
    gateway.listen(id, (r) => received.push(r.commandId));
    await gateway.ready();
    await worker.send(id, done("c1"));
    await waitFor(() => received.length === 1, 10_000, "the reply");
    expect(errors).toEqual([new Error("handler bug")]);
  });

  it("close() stops delivery; afterwards send/ready reject with SHUTTING_DOWN and listen throws", async () => {
    const gateway = openChannel();
    const worker = openChannel();
    const id = fresh("gw-closing");
    const received: string[] = [];
    gateway.listen(id, (r) => received.push(r.commandId));
    await gateway.ready();
    await gateway.close();
    await gateway.close(); // twice is fine

    // The gateway is gone: the worker's reply is dropped, not an error.
    await expect(worker.send(id, done("late"))).resolves.toBeUndefined();
    expect(reasonOf(await rejection(gateway.send(id, done("x"))))).toBe(ErrorReason.SHUTTING_DOWN);
    expect(reasonOf(await rejection(gateway.ready()))).toBe(ErrorReason.SHUTTING_DOWN);
    expect(() => gateway.listen(id, () => {})).toThrow(/closed/);
    expect(received).toEqual([]);
  });

  it("works on an ioredis client of the caller's and leaves it open on close", async () => {
    const client = new Redis(REDIS_URL);
    try {
      const gateway = createRedisReplyChannel({ client, keyPrefix: prefix });
      const worker = openChannel();
      const id = fresh("gw-own-client");
      const received: string[] = [];
      gateway.listen(id, (r) => received.push(r.commandId));
      await gateway.ready();
      await worker.send(id, done("c1"));
      await waitFor(() => received.length === 1, 10_000, "the reply");
      await gateway.close();
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });

  it("refuses an empty process id", async () => {
    const channel = openChannel();
    expect(() => channel.listen("", () => {})).toThrow(RangeError);
    await expect(channel.send("", done("c"))).rejects.toThrow(RangeError);
  });

  it("fails with DEPENDENCY_UNAVAILABLE when Redis cannot be reached", async () => {
    const channel = openChannel({ url: `redis://127.0.0.1:${await freePort()}`, commandTimeoutMs: 1000 });
    channel.listen("gw", () => {});
    for (const err of [await rejection(channel.send("gw", done("c"))), await rejection(channel.ready())]) {
      expect(reasonOf(err)).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
      expect((err as Error).message).toMatch(/unable to .+; redis is unavailable/);
    }
  });
});

describe("createRedisReplyChannel across a Redis restart", () => {
  let redis: PrivateRedis | undefined;
  const channels: RedisReplyChannel[] = [];

  afterEach(async () => {
    for (const channel of channels.splice(0)) await channel.close();
    redis?.dispose();
    redis = undefined;
  });

  it("fails while Redis is down, then resubscribes by itself and delivers again", async () => {
    redis = await startPrivateRedis();
    const gateway = createRedisReplyChannel({ url: redis.url, commandTimeoutMs: 1000 });
    const worker = createRedisReplyChannel({ url: redis.url, commandTimeoutMs: 1000 });
    channels.push(gateway, worker);
    const received: string[] = [];
    gateway.listen("gw", (r) => received.push(r.commandId));
    await gateway.ready();
    await worker.send("gw", done("before"));
    await waitFor(() => received.length === 1, 10_000, "the reply before the restart");

    redis.stop();
    expect(reasonOf(await rejection(worker.send("gw", done("during"))))).toBe(
      ErrorReason.DEPENDENCY_UNAVAILABLE,
    );

    redis.start();
    // Nobody calls ready() again (a running gateway would not): the channel resubscribes by itself.
    await waitFor(
      async () => {
        await worker.send("gw", done("after"));
        return received.includes("after");
      },
      15_000,
      "a reply after the restart",
    );
    expect(received[0]).toBe("before");
    expect(new Set(received.slice(1))).toEqual(new Set(["after"]));
    await expect(gateway.ready()).resolves.toBeUndefined();
  });
});
