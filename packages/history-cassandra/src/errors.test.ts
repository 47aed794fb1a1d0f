import { ErrorReason, parleyError, reasonOf } from "@parley/protocol";
import cassandra from "cassandra-driver";
import { describe, expect, it } from "vitest";
import { isCassandraUnavailable, toParleyError } from "./errors.js";

const { errors, types } = cassandra;

function raw(err: Error): string | undefined {
  return (err as Error & { rawMessage?: string }).rawMessage;
}

describe("toParleyError", () => {
  it("turns unreachable and overloaded Cassandra into DEPENDENCY_UNAVAILABLE", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:9042"), { code: "ECONNREFUSED" });
    const cases = [
      new errors.NoHostAvailableError({ "10.0.0.1:9042": refused }),
      new errors.OperationTimedOutError("The host 10.0.0.1:9042 did not reply before timeout 12000 ms"),
      new errors.BusyConnectionError("10.0.0.1:9042", 2048, 1),
      new errors.ResponseError(types.responseErrorCodes.unavailableException, "Cannot achieve consistency"),
      new errors.ResponseError(types.responseErrorCodes.writeTimeout, "Operation timed out"),
      new errors.ResponseError(types.responseErrorCodes.readTimeout, "Operation timed out"),
      new errors.ResponseError(types.responseErrorCodes.overloaded, "Overloaded"),
      refused,
    ];
    for (const cause of cases) {
      expect(isCassandraUnavailable(cause)).toBe(true);
      const err = toParleyError("commit", cause);
      expect(reasonOf(err)).toBe(ErrorReason.DEPENDENCY_UNAVAILABLE);
      expect(raw(err)).toMatch(/^unable to commit; cassandra is unavailable \(/);
      expect(err.cause).toBe(cause);
    }
  });

  it("names each host's failure on one line", () => {
    const err = toParleyError(
      "read messages",
      new errors.NoHostAvailableError({ "10.0.0.1:9042": new Error("connect ECONNREFUSED") }),
    );
    expect(raw(err)).toBe(
      "unable to read messages; cassandra is unavailable (no host could serve the request; 10.0.0.1:9042: connect ECONNREFUSED)",
    );
  });

  it("turns other failures into INTERNAL", () => {
    for (const cause of [
      new errors.ResponseError(types.responseErrorCodes.invalid, "Undefined column name nope"),
      new errors.ResponseError(types.responseErrorCodes.syntaxError, "line 1:0 no viable alternative"),
      new errors.ArgumentError("Not a valid bigint"),
      new Error("limit must be a non-negative integer, got -1"),
    ]) {
      expect(isCassandraUnavailable(cause)).toBe(false);
      const err = toParleyError("read messages", cause);
      expect(reasonOf(err)).toBe(ErrorReason.INTERNAL);
      expect(raw(err)).toBe(`unable to read messages; ${cause.message}`);
    }
  });

  it("passes Parley errors through", () => {
    const err = parleyError(ErrorReason.SHUTTING_DOWN, "unable to commit; the history store is closed");
    expect(toParleyError("commit", err)).toBe(err);
  });
});
