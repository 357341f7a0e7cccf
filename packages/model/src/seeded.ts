/**
 * Deterministic randomness for initial weights, dropout masks and sampling. Everything here is
 * plain JS over a 32-bit state so that the same seed gives the same numbers on every backend
 * (tfjs's own seeded initialisers differ between backends and are not all seedable).
 */
import { seededRandom } from '@seqtrain/contracts';

/** Mixes integers into one uint32 seed (splitmix32-style finaliser), so (seed, step, index) never collide trivially. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export interface Rng {
  /** uniform in [0, 1) */
  next(): number;
  normal(): number;
}

/** mulberry32 (shared with the other packages) plus Gaussian draws for initialisation and sampling. */
export function createRng(seed: number): Rng {
  const next = seededRandom(seed);
  let spare: number | undefined;
  const normal = (): number => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return { next, normal };
}

export function uniformArray(rng: Rng, n: number, limit: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * limit;
  return out;
}

/**
 * Keras-style orthogonal initialiser for a [rows, cols] matrix: rows (if rows <= cols) or columns
 * are orthonormal. Modified Gram-Schmidt on Gaussian vectors, in float64.
 */
export function orthogonalArray(rng: Rng, rows: number, cols: number): Float32Array {
  const count = Math.min(rows, cols);
  const len = Math.max(rows, cols);
  const vecs: Float64Array[] = [];
  for (let k = 0; k < count; k++) {
    const v = new Float64Array(len);
    for (let i = 0; i < len; i++) v[i] = rng.normal();
    for (const u of vecs) {
      let dot = 0;
      for (let i = 0; i < len; i++) dot += v[i]! * u[i]!;
      for (let i = 0; i < len; i++) v[i] = v[i]! - dot * u[i]!;
    }
    let norm = 0;
    for (let i = 0; i < len; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < len; i++) v[i] = v[i]! / norm;
    vecs.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      // rows <= cols: vector r is row r; otherwise vector c is column c.
      out[r * cols + c] = rows <= cols ? vecs[r]![c]! : vecs[c]![r]!;
    }
  }
  return out;
}
