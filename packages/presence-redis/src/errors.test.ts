import { ErrorReason, parleyError, reasonOf } from "@parley/protocol";
import { Redis, ReplyError } from "ioredis";
import { describe, expect, it } from "vitest";
import { toParleyError } from "./errors.js";
import { freePort } from "./test-redis.js";

function reply(message: string): Error {
  return new ReplyError(message) as Error;
}

describe("toParleyError", () => {
  it.each([
    ["a refused connection", Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })],
    ["a reset connection", Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })],
    ["a command timeout", new Error("Command timed out")],
    ["a closed connection", new Error("Connection is closed.")],
    ["a disabled offline queue", new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ["Redis loading its data", reply("LOADING Redis is loading the dataset in memory")],
    ["a replica after failover", reply("READONLY You can't write against a read only replica.")],
    ["Redis out of memory", reply("OOM command not allowed when used memory > 'maxmemory'.")],
  ])("maps %s to DEPENDENCY_UNAVAILABLE", (_, err) => {
    const mapped = toParleyError("heartbeat", err);
    expect(reasonOf(mapped)).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
    expect(mapped.message).toContain("unable to heartbeat; redis is unavailable");
    expect(mapped.cause).toBe(err);
  });

  it("maps other failures (a wrong key type, a script error) to INTERNAL", () => {
    expect(reasonOf(toParleyError("heartbeat", reply("WRONGTYPE Operation against a key")))).toBe(
      ErrorReason.INTERNAL,
    );
    expect(reasonOf(toParleyError("heartbeat", new TypeError("boom")))).toBe(ErrorReason.INTERNAL);
    expect(reasonOf(toParleyError("heartbeat", "not an error"))).toBe(ErrorReason.INTERNAL);
  });

  it("passes Parley errors through", () => {
    const err = parleyError(ErrorReason.SHUTTING_DOWN, "unable to heartbeat; presence store is closed");
    expect(toParleyError("heartbeat", err)).toBe(err);
  });

  it("maps what ioredis rejects with when Redis cannot be reached", async () => {
    const port = await freePort();
    const client = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on("error", () => {});
    try {
      const err = await client.get("k").catch((e: unknown) => e);
      expect(reasonOf(toParleyError("read", err))).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
    } finally {
      client.disconnect();
    }
  });
});
