/**
 * The whole run in this process: every rank on one member, no Temporal, no data plane, no
 * checkpoint writes. It is the same TrainingLoop a segment runs, so it is both the reference a
 * distributed run must reproduce bit for bit and the ceiling bench:distributed measures.
 */
import { runKeys, startPosition, type SequenceBatch, type TrainSpec } from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import { soloExchange } from './exchange';
import { roundsPerEpoch } from './segment';
import { TrainerCache } from './trainer-cache';
import { TrainingLoop } from './training-loop';

export interface LocalRun {
  loop: TrainingLoop;
  /** the rows it trains on: each shard's, and the validation rows */
  data: { shards: ReadonlyMap<number, SequenceBatch>; validation: SequenceBatch };
  /** trains to the end (all epochs or early stopping); returns the time in the loop */
  run(): Promise<{ busyMs: number }>;
}

/** Loads the plan's shards, the validation rows and checkpoint 0; `run()` then trains. */
export async function prepareLocalRun(
  store: BlobStore,
  opts: { planKey: string; spec: TrainSpec; checkpointKey: string; runId: string; execution: string },
): Promise<LocalRun> {
  const cache = new TrainerCache(store);
  const plan = await cache.plan(opts.planKey);
  const manifest = await cache.manifest(`${plan.name}@${plan.digest}`);
  const m = cache.model(opts.spec, manifest);
  const slots = plan.shards.map((s) => s.index);
  const rows = await Promise.all(slots.map((s) => cache.rows(manifest, plan, opts.planKey, s)));
  const validation = await cache.rows(manifest, plan, opts.planKey, -1);
  const checkpoint = await cache.checkpoint(opts.checkpointKey);
  const shards = new Map(slots.map((s, i) => [s, rows[i]!]));
  const loop = new TrainingLoop({
    m,
    spec: opts.spec,
    plan: {
      shards: plan.shards.length,
      shardRows: plan.shards.map((s) => s.rows),
      roundsPerEpoch: roundsPerEpoch(plan, opts.spec),
    },
    signature: manifest.signature,
    member: { index: 0, firstRank: 0, ranks: opts.spec.workers },
    shards,
    validation,
    checkpoint,
    position: startPosition(opts.checkpointKey),
    checkpointKey: (step) => runKeys.checkpoint(opts.runId, opts.execution, step),
  });
  return {
    loop,
    data: { shards, validation },
    async run() {
      const started = Date.now();
      let lastYield = started;
      await loop.run(soloExchange(), {
        shouldEnd: () => undefined,
        // As a lone segment does: let the event loop turn now and then (V8 reclaims the
        // external memory of finished tensors' data sooner when it does).
        async yield() {
          if (Date.now() - lastYield > 25) {
            await new Promise((r) => setImmediate(r));
            lastYield = Date.now();
          }
        },
      });
      return { busyMs: Date.now() - started };
    },
  };
}
