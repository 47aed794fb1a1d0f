import { describe, expect, it } from "vitest";
import { murmur2, partitionForKey } from "./partitioner.js";

describe("partitionForKey", () => {
  it("hashes like Kafka's murmur2 (vectors from Kafka's UtilsTest)", () => {
    const vectors: [string, number][] = [
      ["21", -973932308],
      ["foobar", -790332482],
      ["a-little-bit-long-string", -985981536],
      ["a-little-bit-longer-string", -1486304829],
      ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
      ["abc", 479470107],
    ];
    for (const [input, expected] of vectors) {
      expect(murmur2(new TextEncoder().encode(input))).toBe(expected);
      expect(partitionForKey(input, 2 ** 31 - 1)).toBe((expected & 0x7fffffff) % (2 ** 31 - 1));
    }
  });

  it("is in range, deterministic and spreads keys", () => {
    const counts = [0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 6000; i++) {
      const partition = partitionForKey(`conversation-${i}`, 6);
      expect(partitionForKey(`conversation-${i}`, 6)).toBe(partition);
      counts[partition] = (counts[partition] ?? 0) + 1;
    }
    for (const count of counts) expect(count).toBeGreaterThan(800);
    expect(partitionForKey("anything", 1)).toBe(0);
  });

  it("rejects a partition count that is not a positive integer", () => {
    expect(() => partitionForKey("k", 0)).toThrow(/^unable to choose a partition; partition count/);
    expect(() => partitionForKey("k", 1.5)).toThrow(RangeError);
  });
});
