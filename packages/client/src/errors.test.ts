import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorReason, parleyError } from "@parley/protocol";
import { describe, expect, it } from "vitest";
import { isParleyError, ParleyError, toParleyError } from "./errors.js";

describe("toParleyError", () => {
  it("keeps the server's reason, field, metadata and retryability", () => {
    const wire = parleyError(ErrorReason.WRONG_GATEWAY, "unable to subscribe; wrong gateway", {
      field: "cursor",
      metadata: { endpoint: "http://gw-2" },
    });
    const err = toParleyError(wire);
    expect(err).toBeInstanceOf(ParleyError);
    expect([err.reason, err.code, err.retryable, err.field, err.metadata]).toEqual([
      "WRONG_GATEWAY",
      Code.Unavailable,
      true,
      "cursor",
      { endpoint: "http://gw-2" },
    ]);
    expect(err.message).toBe("unable to subscribe; wrong gateway");
    expect(isParleyError(err, "WRONG_GATEWAY")).toBe(true);
    expect(isParleyError(err, "NOT_A_MEMBER")).toBe(false);
    expect(toParleyError(parleyError(ErrorReason.TEXT_TOO_LONG, "too long")).retryable).toBe(false);
  });

  it("turns transport failures without a Parley detail into a retryable NETWORK error", () => {
    for (const code of [Code.Unavailable, Code.DeadlineExceeded, Code.Unknown, Code.Canceled]) {
      const err = toParleyError(new ConnectError("fetch failed", code), "send message");
      expect([err.reason, err.retryable]).toEqual(["NETWORK", true]);
      expect(err.message).toBe("unable to send message; fetch failed");
    }
    const abort = toParleyError(new DOMException("aborted", "AbortError"));
    expect(abort.reason).toBe("NETWORK");
  });

  it("calls anything else UNKNOWN and not retryable, and passes ParleyErrors through", () => {
    const err = toParleyError(new Error("boom"), "load the store");
    expect([err.reason, err.retryable, err.message]).toEqual([
      "UNKNOWN",
      false,
      "unable to load the store; boom",
    ]);
    const own = new ParleyError("TARGET_FAILED", "unable to edit message; its send failed");
    expect(toParleyError(own)).toBe(own);
    expect([own.code, own.retryable]).toEqual([Code.FailedPrecondition, false]);
    expect(toParleyError(new ConnectError("nope", Code.PermissionDenied)).reason).toBe("UNKNOWN");
  });
});
