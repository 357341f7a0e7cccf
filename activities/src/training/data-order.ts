/**
 * The deterministic data order of a run. Every shard visits its rows in a fresh seeded
 * permutation each epoch; round r takes the next `microBatches x batchSize` rows (times
 * `syncEvery` local steps). A retried or re-routed activity therefore computes exactly the same
 * thing, whichever trainer runs it.
 */
import { mixSeed } from '@seqtrain/model';

/** Fisher-Yates with a small seeded PRNG (mulberry32): fast and identical on every platform. */
export function seededPermutation(n: number, seed: number): Uint32Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

export interface RoundSlice {
  /** per local step, per micro-batch: row indices into the shard */
  steps: number[][][];
}

export function roundRows(opts: {
  shardRows: number;
  seed: number;
  epoch: number;
  shard: number;
  roundInEpoch: number;
  batchSize: number;
  microBatches: number;
  localSteps: number;
}): RoundSlice {
  const perm = seededPermutation(opts.shardRows, mixSeed(opts.seed, 0x5eed, opts.epoch, opts.shard));
  const perRound = opts.batchSize * opts.microBatches * opts.localSteps;
  let cursor = opts.roundInEpoch * perRound;
  if (cursor + perRound > opts.shardRows) {
    throw new Error(
      `round ${opts.roundInEpoch} needs rows ${cursor}..${cursor + perRound - 1} but shard ${opts.shard} has ${opts.shardRows}`,
    );
  }
  const steps: number[][][] = [];
  for (let k = 0; k < opts.localSteps; k++) {
    const micro: number[][] = [];
    for (let m = 0; m < opts.microBatches; m++) {
      micro.push(Array.from(perm.subarray(cursor, cursor + opts.batchSize)));
      cursor += opts.batchSize;
    }
    steps.push(micro);
  }
  return { steps };
}
