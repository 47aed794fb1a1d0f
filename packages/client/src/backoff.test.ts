import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.js";

describe("backoffDelay", () => {
  const options = { initialDelayMs: 500, maxDelayMs: 30_000 };

  it("grows exponentially up to the maximum", () => {
    const top = (attempt: number) => backoffDelay(options, attempt, () => 0.999999);
    expect([0, 1, 2, 3, 6, 7, 50].map(top)).toEqual([499, 999, 1999, 3999, 29999, 29999, 29999]);
  });

  it("uses full jitter: anywhere from zero to the ceiling", () => {
    expect(backoffDelay(options, 5, () => 0)).toBe(0);
    expect(backoffDelay(options, 5, () => 0.5)).toBe(8000);
  });
});
