import { ErrorReason, parleyError, REASONS, reasonOf } from "@parley/protocol";
import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { isKafkaUnavailable, kafkaErrorType, toParleyError } from "./errors.js";

function protocolError(type: string, retriable: boolean): Error {
  return new kafkajs.KafkaJSProtocolError(
    Object.assign(new Error(`protocol error ${type}`), { type, code: 1, retriable }),
  );
}

describe("toParleyError", () => {
  it("turns unreachable or overloaded Kafka into DEPENDENCY_UNAVAILABLE (Connect unavailable)", () => {
    const unavailable: Error[] = [
      new kafkajs.KafkaJSConnectionError("Connection error: connect ECONNREFUSED 127.0.0.1:1"),
      new kafkajs.KafkaJSRequestTimeoutError("Request Metadata(key: 3, version: 6) timed out"),
      new kafkajs.KafkaJSNumberOfRetriesExceeded(new Error("Connection timeout"), {
        retryCount: 5,
        retryTime: 1000,
      }),
      // (its typings declare no constructor arguments)
      Object.assign(new Error("Timeout while acquiring lock"), { name: "KafkaJSLockTimeout" }),
      protocolError("NOT_ENOUGH_REPLICAS", true),
      protocolError("COORDINATOR_NOT_AVAILABLE", true),
      // kafkajs throws this plain Error after a connection handshake timed out.
      new Error("Broker not connected"),
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    ];
    for (const error of unavailable) {
      expect(isKafkaUnavailable(error), error.message).toBe(true);
      const translated = toParleyError('append to topic "t"', error);
      expect(reasonOf(translated)).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
      expect((translated as { code?: unknown }).code).toBe(REASONS[ErrorReason.DEPENDENCY_UNAVAILABLE].code);
      expect((translated as { rawMessage?: unknown }).rawMessage).toBe(
        `unable to append to topic "t"; Kafka is unavailable (${error.message})`,
      );
      expect(translated.cause).toBe(error);
    }
  });

  it("turns what Kafka refuses for good into INTERNAL", () => {
    for (const error of [
      protocolError("TOPIC_AUTHORIZATION_FAILED", false),
      protocolError("INVALID_REPLICATION_FACTOR", false),
      new kafkajs.KafkaJSNonRetriableError("Invalid topic"),
      new Error("something else"),
    ]) {
      expect(isKafkaUnavailable(error), error.message).toBe(false);
      const translated = toParleyError('ensure topic "t"', error);
      expect(reasonOf(translated)).toBe(ErrorReason.INTERNAL);
      expect((translated as { rawMessage?: unknown }).rawMessage).toMatch(
        /^unable to ensure topic "t"; Kafka failed/,
      );
    }
  });

  it("passes Parley errors and argument errors through unchanged", () => {
    const parley = parleyError(ErrorReason.SHUTTING_DOWN, "unable to append; the event log is closed");
    expect(toParleyError("append", parley)).toBe(parley);
    const argument = new RangeError("partitions must be a positive integer");
    expect(toParleyError("ensure topic", argument)).toBe(argument);
  });

  it("finds the protocol error type through wrapping errors", () => {
    const inner = protocolError("UNKNOWN_TOPIC_OR_PARTITION", true);
    const outer = new kafkajs.KafkaJSNumberOfRetriesExceeded(inner, { retryCount: 1, retryTime: 10 });
    expect(kafkaErrorType(outer)).toBe("UNKNOWN_TOPIC_OR_PARTITION");
    expect(kafkaErrorType(new Error("plain"))).toBeUndefined();
  });
});
