/**
 * Seeded randomness shared by every package: splits, shuffles, data order, sweeps and weight
 * initialisation all draw from the same small PRNG, so a seed means the same thing everywhere.
 * Pure (no Node imports): workflows use it too.
 */

/** mulberry32: tiny, fast, identical on every platform; uniform in [0, 1). */
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

/** Fisher-Yates permutation of 0..n-1 for a seed. */
export function permutation(n: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}
