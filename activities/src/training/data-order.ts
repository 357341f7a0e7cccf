/**
 * The deterministic data order of a run. Every shard visits its rows in a fresh seeded
 * permutation each epoch; round r takes the next `microBatches x batchSize` rows (times
 * `syncEvery` local steps). A retried or re-routed activity therefore computes exactly the same
 * thing, whichever trainer runs it.
 */
import { permutation } from '@seqtrain/contracts';
import { mixSeed } from '@seqtrain/model';

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
  const perm = permutation(opts.shardRows, mixSeed(opts.seed, 0x5eed, opts.epoch, opts.shard));
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
      micro.push(perm.slice(cursor, cursor + opts.batchSize));
      cursor += opts.batchSize;
    }
    steps.push(micro);
  }
  return { steps };
}
