/**
 * A seeded pseudo-random number generator (mulberry32): small and fast, so a randomized
 * test can print its seed and replay the exact run from it. Not for cryptography.
 *
 * @returns a function giving numbers in [0, 1), like `Math.random`.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
