import type { LogFields, Logger } from "@parley/router";
import { describe, expect, it } from "vitest";
import { kafkajsLogCreator } from "./logging.js";
import { resolveOptions } from "./options.js";

describe("resolveOptions", () => {
  it("applies production defaults", () => {
    const o = resolveOptions({ brokers: ["kafka:9092"] });
    expect(o).toMatchObject({
      clientId: "parley",
      replicationFactor: 1,
      topicConfig: {},
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: 60_000,
      heartbeatIntervalMs: 3000,
      maxWaitTimeMs: 500,
      kafkajsLogLevel: "warn",
      retry: { retries: 5, initialRetryTimeMs: 300, maxRetryTimeMs: 30_000 },
    });
  });

  it("rejects unusable options with a clear message", () => {
    expect(() => resolveOptions({ brokers: [] })).toThrow(/brokers must be a non-empty array/);
    expect(() => resolveOptions({ brokers: ["k:9092"], replicationFactor: 0 })).toThrow(
      /replicationFactor must be an integer >= 1, got 0/,
    );
    expect(() =>
      resolveOptions({ brokers: ["k:9092"], sessionTimeoutMs: 6000, heartbeatIntervalMs: 6000 }),
    ).toThrow(/heartbeatIntervalMs \(6000\) must be below sessionTimeoutMs \(6000\)/);
  });
});

describe("kafkajs logging", () => {
  it("passes kafkajs lines to the injected logger: errors and warnings at warn, the rest at debug", () => {
    const lines: [string, string, LogFields | undefined][] = [];
    const logger: Logger = {
      debug: (message, fields) => void lines.push(["debug", message, fields]),
      info: (message, fields) => void lines.push(["info", message, fields]),
      warn: (message, fields) => void lines.push(["warn", message, fields]),
      error: (message, fields) => void lines.push(["error", message, fields]),
      withContext: (context) => ({
        ...logger,
        warn: (message, fields) => void lines.push(["warn", message, { ...context, ...fields }]),
        debug: (message, fields) => void lines.push(["debug", message, { ...context, ...fields }]),
      }),
    };
    const log = kafkajsLogCreator(logger)(2);
    const entry = (level: number, message: string) => ({
      namespace: "Producer",
      level,
      label: "",
      log: { timestamp: "2026-01-01T00:00:00.000Z", logger: "kafkajs", message, broker: "k:9092" },
    });
    log(entry(1, "Failed to send messages: timed out"));
    log(entry(2, "Limiting retries for the idempotent producer may invalidate EoS guarantees"));
    log(entry(4, "Consumer has joined the group"));
    expect(lines).toEqual([
      [
        "warn",
        "Failed to send messages: timed out",
        { component: "kafkajs", namespace: "Producer", broker: "k:9092" },
      ],
      [
        "debug",
        "Limiting retries for the idempotent producer may invalidate EoS guarantees",
        { component: "kafkajs", namespace: "Producer", broker: "k:9092" },
      ],
      [
        "debug",
        "Consumer has joined the group",
        { component: "kafkajs", namespace: "Producer", broker: "k:9092" },
      ],
    ]);
  });
});
