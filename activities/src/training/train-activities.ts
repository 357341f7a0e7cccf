/**
 * The training activities of DESIGN.md. Light ones (prepareRun, registerRunModel) run on the
 * orchestrator; heavy ones on trainers, one at a time per process, heartbeating between
 * micro-batches so that a dead trainer is noticed in seconds and cancellation lands within one.
 */
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import {
  BadInputError,
  runKeys,
  type ApplyGradientsInput,
  type ApplyGradientsResult,
  type ComputeGradientsInput,
  type ComputeGradientsResult,
  type EvaluateInput,
  type EvaluateResult,
  type ExportModelInput,
  type ExportModelResult,
  type InitCheckpointInput,
  type InitCheckpointResult,
  type PrepareRunInput,
  type RunPlan,
  type SequenceBatch,
} from '@seqtrain/contracts';
import { assertSignatureFitsTask, loadManifest, planShards } from '@seqtrain/dataset';
import {
  applyGradients,
  applyLocalUpdates,
  averageGradients,
  buildModel,
  computeGradients,
  decodeGradients,
  decodeLocalUpdate,
  encodeCheckpoint,
  encodeGradients,
  encodeLocalUpdate,
  evaluate,
  initCheckpoint,
  runLocalSteps,
  setFlatWeights,
  validateDefinition,
  type Checkpoint,
  type GradientPart,
} from '@seqtrain/model';
import type { BlobStore } from '@seqtrain/storage';
import { roundRows } from './data-order';
import { exportLayersModel } from './export-model';
import { regressionUnits } from './metrics';
import { chunks, selectRows } from './rows';
import { ComputeSlot, TrainerCache, weightsSha256 } from './trainer-cache';

export interface TrainingDeps {
  store: BlobStore;
  workerId: string;
  /** BackendInfo of this trainer, reported with every result */
  backend?: unknown;
}

function heartbeat(details?: unknown): void {
  try {
    const ctx = Context.current();
    ctx.heartbeat(details);
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('activity cancelled');
  } catch (err) {
    if (err instanceof CancelledFailure) throw err;
    // Outside an activity context (direct calls in tests): nothing to report to.
  }
}

/**
 * Heartbeats every few seconds while an activity waits for the compute slot or for S3, so that a
 * queued activity is not mistaken for a dead one. A dead process stops heartbeating, and so does
 * one stuck inside a synchronous kernel: both are still detected within the heartbeat timeout.
 */
async function keepAlive<T>(fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const ctx = Context.current();
    timer = setInterval(() => ctx.heartbeat(), 5_000);
  } catch {
    // not inside an activity
  }
  try {
    return await fn();
  } finally {
    if (timer) clearInterval(timer);
  }
}

function assertFinite(what: string, value: number, hint: string): void {
  if (!Number.isFinite(value)) throw new BadInputError(`${what} is ${value}: ${hint}`);
}

const DIVERGED = 'training diverged; lower training.optimizer.learningRate or set training.clipNorm';

/** Prepares a run: resolves the dataset, validates the spec against it, plans the shards. */
export function createLightTrainingActivities({ store }: Pick<TrainingDeps, 'store'>) {
  return {
    async prepareRun({ runId, spec }: PrepareRunInput): Promise<RunPlan> {
      const manifest = await loadManifest(store, spec.dataset);
      assertSignatureFitsTask(manifest.signature, spec.task);
      validateDefinition(spec.task, spec.model, manifest.signature);
      const t = spec.training;
      const plan = planShards(manifest, spec.workers, t.seed);
      const planKey = runKeys.plan(runId);
      await store.put(planKey, JSON.stringify(plan), { contentType: 'application/json' });
      const shardRows = plan.shards.map((s) => s.rows);
      const perRound = t.batchSize * t.microBatches * t.syncEvery;
      const smallest = Math.min(...shardRows);
      const roundsPerEpoch = Math.floor(smallest / perRound);
      if (roundsPerEpoch < 1) {
        throw new BadInputError(
          `training.batchSize=${t.batchSize} x microBatches=${t.microBatches} x syncEvery=${t.syncEvery} = ${perRound} rows per round exceeds the smallest shard (${smallest} rows of ${manifest.name} split over workers=${spec.workers}); lower the batch size or the number of workers`,
        );
      }
      if (plan.validation.rows === 0) {
        throw new BadInputError(
          `dataset ${manifest.name}@${manifest.digest.slice(0, 12)} has no validation rows; re-import it with --val-fraction > 0`,
        );
      }
      return {
        runId,
        datasetName: manifest.name,
        datasetDigest: manifest.digest,
        planKey,
        shards: plan.shards.length,
        shardRows,
        valRows: plan.validation.rows,
        roundsPerEpoch,
        examplesPerShardRound: perRound,
        paramCount: 0,
        specHash: '',
      };
    },
  };
}

export function createTrainerActivities(deps: TrainingDeps) {
  const { store, workerId } = deps;
  const cache = new TrainerCache(store);
  const slot = new ComputeSlot();
  const backend = deps.backend ?? null;

  // The plan pins the dataset digest: a newer import under the same name never leaks into a run.
  async function dataset(planKey: string) {
    const plan = await cache.plan(planKey);
    const manifest = await cache.manifest(`${plan.name}@${plan.digest}`);
    return { manifest, plan };
  }

  async function context(planKey: string, spec: ComputeGradientsInput['spec']) {
    const { manifest, plan } = await dataset(planKey);
    return { manifest, plan, m: cache.model(spec, manifest) };
  }

  /** The gradient (or local update) of one shard for one round, encoded. */
  async function computeShard(
    input: ComputeGradientsInput,
  ): Promise<{ bytes: Uint8Array; sampleCount: number; loss: number; computeMs: number }> {
    const t = input.spec.training;
    const { manifest, plan, m } = await context(input.planKey, input.spec);
    const rows = await cache.rows(manifest, plan, input.planKey, input.shard, () =>
      heartbeat({ phase: 'loading shard' }),
    );
    const checkpoint = await cache.checkpoint(input.checkpointKey);
    const started = Date.now();
    const slice = roundRows({
      shardRows: rows.rows,
      seed: t.seed,
      epoch: input.epoch,
      shard: input.shard,
      roundInEpoch: input.roundInEpoch,
      batchSize: t.batchSize,
      microBatches: t.microBatches,
      localSteps: t.syncEvery,
    });
    let bytes: Uint8Array;
    let sampleCount = 0;
    let lossSum = 0;
    if (t.syncEvery === 1) {
      const parts: GradientPart[] = [];
      slice.steps[0]!.forEach((idx, j) => {
        heartbeat({ phase: 'computing', microBatch: j });
        parts.push(
          computeGradients(m, checkpoint, [selectRows(rows, idx)], {
            firstMicroBatch: input.firstMicroBatch + j,
          }),
        );
      });
      const joined = joinParts(parts);
      sampleCount = joined.sampleCounts.reduce((a, b) => a + b, 0);
      lossSum = joined.lossSums.reduce((a, b) => a + b, 0);
      bytes = encodeGradients(joined);
    } else {
      const steps: SequenceBatch[][] = slice.steps.map((micro) => micro.map((idx) => selectRows(rows, idx)));
      heartbeat({ phase: 'local steps', steps: steps.length });
      const update = runLocalSteps(m, checkpoint, steps, t);
      sampleCount = update.sampleCount;
      lossSum = update.lossSum;
      bytes = encodeLocalUpdate(update);
    }
    assertFinite(`training loss at step ${checkpoint.step} (shard ${input.shard})`, lossSum, DIVERGED);
    return {
      bytes,
      sampleCount,
      loss: sampleCount > 0 ? lossSum / sampleCount : 0,
      computeMs: Date.now() - started,
    };
  }

  /** A retry after the next checkpoint was written returns the recorded result (its inputs may be gone). */
  async function recorded(outputKey: string): Promise<ApplyGradientsResult | undefined> {
    const sidecar = `${outputKey}.json`;
    if (!(await store.head(sidecar))) return undefined;
    return JSON.parse(new TextDecoder().decode(await store.get(sidecar))) as ApplyGradientsResult;
  }

  /** Averages the parts in order, steps the optimizer, writes the next checkpoint, removes what is obsolete. */
  async function applyParts(
    input: ApplyGradientsInput,
    partBytes: Uint8Array[],
    started: number,
  ): Promise<ApplyGradientsResult> {
    const checkpoint = await cache.checkpoint(input.checkpointKey);
    let next: Checkpoint;
    let loss: number;
    let sampleCount: number;
    let gradNorm = 0;
    let learningRate = 0;
    if (input.mode === 'sync') {
      const avg = averageGradients(partBytes.map(decodeGradients));
      assertFinite(`mean training loss at step ${checkpoint.step}`, avg.loss, DIVERGED);
      const r = applyGradients(checkpoint, avg, input.spec.training);
      assertFinite(`gradient norm at step ${checkpoint.step}`, r.gradNorm, DIVERGED);
      next = r.checkpoint;
      loss = avg.loss;
      sampleCount = avg.sampleCount;
      gradNorm = r.gradNorm;
      learningRate = r.learningRate;
    } else {
      const updates = partBytes.map(decodeLocalUpdate);
      next = applyLocalUpdates(checkpoint, updates, input.spec.training);
      sampleCount = updates.reduce((a, u) => a + u.sampleCount, 0);
      loss = updates.reduce((a, u) => a + u.lossSum, 0) / Math.max(1, sampleCount);
    }
    for (let i = 0; i < next.weights.length; i++) {
      if (!Number.isFinite(next.weights[i]!))
        throw new BadInputError(`weights became non-finite at step ${next.step}: ${DIVERGED}`);
    }
    const result: ApplyGradientsResult = {
      checkpointKey: input.outputKey,
      step: next.step,
      loss,
      sampleCount,
      gradNorm,
      learningRate,
      computeMs: Date.now() - started,
      weightsSha256: weightsSha256(next.weights),
    };
    await store.put(input.outputKey, encodeCheckpoint(next));
    await store.put(`${input.outputKey}.json`, JSON.stringify(result), { contentType: 'application/json' });
    cache.remember(input.outputKey, next);
    // Applied gradients and superseded checkpoints are no longer needed.
    const obsolete = [...input.partKeys, ...input.deleteKeys.flatMap((k) => [k, `${k}.json`])];
    if (obsolete.length > 0) await store.deleteMany(obsolete);
    return result;
  }

  return {
    async initCheckpoint(input: InitCheckpointInput): Promise<InitCheckpointResult> {
      return keepAlive(() =>
        slot.run(async () => {
          const { manifest } = await dataset(input.planKey);
          // A freshly built model: the cached one holds whatever weights its last use left behind,
          // and checkpoint 0 must be the seeded initialisation.
          const fresh = buildModel(
            input.spec.model,
            input.spec.task,
            manifest.signature,
            input.spec.training.seed,
          );
          try {
            if (!(await store.head(input.outputKey))) {
              const c = initCheckpoint(fresh, input.spec.training);
              await store.put(input.outputKey, encodeCheckpoint(c));
              cache.remember(input.outputKey, c);
            }
            return {
              checkpointKey: input.outputKey,
              paramCount: fresh.size,
              specHash: fresh.specHash,
              backend,
            };
          } finally {
            fresh.dispose();
          }
        }),
      );
    },

    async computeGradients(input: ComputeGradientsInput): Promise<ComputeGradientsResult> {
      heartbeat({ phase: 'queued' });
      return keepAlive(() =>
        slot.run(async () => {
          const c = await computeShard(input);
          heartbeat({ phase: 'uploading' });
          await store.put(input.outputKey, c.bytes);
          return {
            key: input.outputKey,
            sampleCount: c.sampleCount,
            loss: c.loss,
            computeMs: c.computeMs,
            workerId,
            backend,
          };
        }),
      );
    },

    async applyGradients(input: ApplyGradientsInput): Promise<ApplyGradientsResult> {
      heartbeat();
      return keepAlive(() =>
        slot.run(async () => {
          const done = await recorded(input.outputKey);
          if (done) return done;
          const started = Date.now();
          const partBytes = await Promise.all(input.partKeys.map((k) => store.get(k)));
          return applyParts(input, partBytes, started);
        }),
      );
    },

    /**
     * One shard: averaging is the identity, so the trainer that computed the gradient applies it
     * in the same activity. Bit-identical to computeGradients + applyGradients, with one Temporal
     * dispatch and no gradient object per round instead of two and one.
     */
    async trainStep(
      input: ComputeGradientsInput & { apply: Omit<ApplyGradientsInput, 'partKeys'> },
    ): Promise<{ compute: ComputeGradientsResult; apply: ApplyGradientsResult }> {
      heartbeat({ phase: 'queued' });
      return keepAlive(() =>
        slot.run(async () => {
          const done = await recorded(input.apply.outputKey);
          const computeResult = (c: {
            sampleCount: number;
            loss: number;
            computeMs: number;
          }): ComputeGradientsResult => ({
            key: '',
            sampleCount: c.sampleCount,
            loss: c.loss,
            computeMs: c.computeMs,
            workerId,
            backend,
          });
          if (done)
            return {
              compute: computeResult({ sampleCount: done.sampleCount, loss: done.loss, computeMs: 0 }),
              apply: done,
            };
          const c = await computeShard(input);
          const applied = await applyParts({ ...input.apply, partKeys: [] }, [c.bytes], Date.now());
          return { compute: computeResult(c), apply: applied };
        }),
      );
    },

    async evaluate(input: EvaluateInput): Promise<EvaluateResult> {
      heartbeat();
      return keepAlive(() =>
        slot.run(async () => {
          const { manifest, plan, m } = await context(input.planKey, input.spec);
          const rows = await cache.rows(manifest, plan, input.planKey, -1, () =>
            heartbeat({ phase: 'loading validation rows' }),
          );
          const checkpoint = await cache.checkpoint(input.checkpointKey);
          const started = Date.now();
          setFlatWeights(m, checkpoint.weights);
          const r = evaluate(m, chunks(rows, 256));
          const metrics = {
            ...r.metrics,
            ...regressionUnits(manifest.signature, input.spec.task, rows, r.metrics),
          };
          return { loss: r.loss, count: r.count, metrics, computeMs: Date.now() - started };
        }),
      );
    },

    async exportModel(input: ExportModelInput): Promise<ExportModelResult> {
      heartbeat();
      return keepAlive(() =>
        slot.run(async () => {
          const { m } = await context(input.planKey, input.spec);
          const checkpoint = await cache.checkpoint(input.checkpointKey);
          setFlatWeights(m, checkpoint.weights);
          const prefix = `${runKeys.model(input.runId)}/`;
          const files = await exportLayersModel(store, prefix, m.model);
          return { modelPrefix: prefix, weightsSha256: weightsSha256(checkpoint.weights), files };
        }),
      );
    },
  };
}

function joinParts(parts: GradientPart[]): GradientPart {
  const first = parts[0]!;
  const grads = new Float32Array(parts.reduce((n, p) => n + p.grads.length, 0));
  let offset = 0;
  for (const p of parts) {
    grads.set(p.grads, offset);
    offset += p.grads.length;
  }
  return {
    specHash: first.specHash,
    step: first.step,
    size: first.size,
    sampleCounts: parts.flatMap((p) => p.sampleCounts),
    lossSums: parts.flatMap((p) => p.lossSums),
    grads,
  };
}

export type LightTrainingActivities = ReturnType<typeof createLightTrainingActivities>;
export type TrainerActivities = ReturnType<typeof createTrainerActivities>;
