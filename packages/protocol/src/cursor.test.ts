import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, InvalidCursorError } from "./cursor.js";

describe("cursor", () => {
  it("round-trips positions", () => {
    for (const n of [0, 1, 35, 36, 1_000_000, Number.MAX_SAFE_INTEGER]) {
      expect(decodeCursor(encodeCursor(n))).toBe(n);
    }
  });
  it("rejects strings that are not cursors", () => {
    for (const s of ["", "c1.", "c2.1", "c1.-1", "c1.ZZ", "hello", "c1.zzzzzzzzzzzz"]) {
      expect(() => decodeCursor(s)).toThrow(InvalidCursorError);
    }
  });
  it("rejects negative positions", () => {
    expect(() => encodeCursor(-1)).toThrow(RangeError);
  });
});
