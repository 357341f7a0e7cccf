/**
 * The deterministic data order of a run. A round has `shards` micro-batch slots (ranks x
 * microBatches); slot j always reads shard j, visiting its rows in a fresh seeded permutation
 * each epoch, and round r, local step k takes the next `batchSize` rows of it. The order is a
 * function of (seed, epoch, slot, round, local step) only: not of how many ranks share the
 * slots, nor of which trainer computes them, nor of where a segment began.
 */
import { permutation } from '@seqtrain/contracts';
import { mixSeed } from '@seqtrain/model';

export class DataOrder {
  private perms = new Map<number, { epoch: number; perm: number[] }>();

  constructor(
    private readonly opts: {
      seed: number;
      shardRows: readonly number[];
      batchSize: number;
      /** local steps per round (syncEvery) */
      localSteps: number;
    },
  ) {}

  /** Row indices into shard `slot` for one micro-batch. */
  rows(slot: number, epoch: number, roundInEpoch: number, localStep: number): number[] {
    const n = this.opts.shardRows[slot];
    if (n === undefined) throw new Error(`the plan has no shard ${slot}`);
    let cached = this.perms.get(slot);
    if (!cached || cached.epoch !== epoch) {
      cached = { epoch, perm: permutation(n, mixSeed(this.opts.seed, 0x5eed, epoch, slot)) };
      this.perms.set(slot, cached);
    }
    const { batchSize, localSteps } = this.opts;
    const start = (roundInEpoch * localSteps + localStep) * batchSize;
    if (start + batchSize > n) {
      throw new Error(
        `round ${roundInEpoch} (local step ${localStep}) needs rows ${start}..${start + batchSize - 1} but shard ${slot} has ${n}`,
      );
    }
    return cached.perm.slice(start, start + batchSize);
  }
}
