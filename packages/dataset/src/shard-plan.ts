/**
 * The shard planner: a pure function of (manifest, shardCount, seed). Training record batches
 * are shuffled with the seed, then dealt largest first to the shard with the fewest rows (ties:
 * lowest index). Each batch goes to a shard that was the smallest when it was added, so the
 * largest shard exceeds the smallest by at most one record batch. Validation is every batch the
 * import marked 'val' (a time-ordered tail for time series, a seeded sample otherwise).
 */
import { BadInputError, type BatchRef, type DatasetManifest, type ShardPlan } from '@seqtrain/contracts';
import { permutation } from './examples';

export function planShards(
  manifest: Pick<DatasetManifest, 'name' | 'digest' | 'parts'>,
  shardCount: number,
  seed = 0,
): ShardPlan {
  if (!Number.isInteger(shardCount) || shardCount < 1)
    throw new BadInputError(`shard count must be a positive integer, got ${shardCount}`);
  if (!Number.isInteger(seed)) throw new BadInputError(`seed must be an integer, got ${seed}`);
  const train: (BatchRef & { rows: number })[] = [];
  const validation: BatchRef[] = [];
  let valRows = 0;
  manifest.parts.forEach((p, part) =>
    p.batches.forEach((b, batch) => {
      if (b.split === 'train') train.push({ part, batch, rows: b.rows });
      else {
        validation.push({ part, batch });
        valRows += b.rows;
      }
    }),
  );
  if (train.length < shardCount) {
    throw new BadInputError(
      `dataset ${manifest.name}@${manifest.digest.slice(0, 12)} has ${train.length} training record batches, fewer than the ${shardCount} shards asked for; use fewer workers or re-import with smaller --rows-per-batch`,
    );
  }
  const order = permutation(train.length, seed).map((i) => train[i]!);
  // Stable sort keeps the seeded order among batches of equal size.
  order.sort((a, b) => b.rows - a.rows);
  const shards = Array.from({ length: shardCount }, (_, index) => ({
    index,
    rows: 0,
    batches: [] as BatchRef[],
  }));
  for (const b of order) {
    let target = shards[0]!;
    for (const s of shards) if (s.rows < target.rows) target = s;
    target.batches.push({ part: b.part, batch: b.batch });
    target.rows += b.rows;
  }
  return {
    name: manifest.name,
    digest: manifest.digest,
    seed,
    shards,
    validation: { rows: valRows, batches: validation },
  };
}
