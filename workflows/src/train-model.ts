/**
 * trainModel: data-parallel training of one spec (DESIGN.md, "Data flow of one training run").
 * prepare -> init checkpoint -> rounds (N computeGradients in parallel + one applyGradients) ->
 * evaluation each epoch, early stopping, best checkpoint -> export -> register.
 * Tensors travel only through S3; this code sees keys and small numbers. The loop state is
 * small and continues-as-new whenever Temporal suggests it, so history stays bounded.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  NON_RETRYABLE_ERROR_TYPES,
  ORCHESTRATOR_QUEUE,
  PAUSE_SIGNAL,
  PROGRESS_QUERY,
  RESUME_SIGNAL,
  runKeys,
  STOP_SIGNAL,
  TRAINER_QUEUE,
  trainerQueueFor,
  type ApplyGradientsResult,
  type ComputeGradientsInput,
  type ComputeGradientsResult,
  type RunStatus,
  type TrainLoopState,
  type TrainProgress,
  type TrainResult,
  type TrainRunInput,
} from '@seqtrain/contracts';
import type { LightTrainingActivities, RegisterActivities, TrainerActivities } from '@seqtrain/activities';

export const progressQuery = defineQuery<TrainProgress>(PROGRESS_QUERY);
export const stopSignal = defineSignal<[{ reason?: string }?]>(STOP_SIGNAL);
export const pauseSignal = defineSignal(PAUSE_SIGNAL);
export const resumeSignal = defineSignal(RESUME_SIGNAL);

const retry = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '15s',
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
};

const light = proxyActivities<LightTrainingActivities & RegisterActivities>({
  taskQueue: ORCHESTRATOR_QUEUE,
  startToCloseTimeout: '5 minutes',
  retry,
});

// Trainers heartbeat between micro-batches: a dead one is noticed within the heartbeat timeout.
const trainerOptions = { startToCloseTimeout: '2 hours', heartbeatTimeout: '20 seconds', retry } as const;
const shared = proxyActivities<TrainerActivities>({ taskQueue: TRAINER_QUEUE, ...trainerOptions });

/** A trainer's own queue: fails fast (schedule-to-start) when that trainer is gone. */
function onWorker(workerId: string): TrainerActivities {
  return proxyActivities<TrainerActivities>({
    taskQueue: trainerQueueFor(workerId),
    scheduleToStartTimeout: '10 seconds',
    ...trainerOptions,
  });
}

function isScheduleToStartTimeout(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

/** Throughput and orchestration overhead so far, from the run's totals. */
function rates(s: TrainLoopState | undefined): { samplesPerSec: number; overheadFraction: number } {
  if (!s || s.totals.wallMs <= 0) return { samplesPerSec: 0, overheadFraction: 0 };
  return {
    samplesPerSec: (s.totals.samples / s.totals.wallMs) * 1000,
    overheadFraction: s.totals.overheadMs / s.totals.wallMs,
  };
}

/** Lower is better except for accuracy-like metrics. */
function higherIsBetter(metric: string): boolean {
  return /accuracy/i.test(metric);
}

export async function trainModel(input: TrainRunInput): Promise<TrainResult> {
  const info = workflowInfo();
  const runId = info.workflowId;
  const spec = input.spec;
  const t = spec.training;
  const mode: 'sync' | 'local' = t.syncEvery === 1 ? 'sync' : 'local';
  const keep = Math.max(1, input.keepCheckpoints ?? 2);
  let status: RunStatus = input.resume ? 'running' : 'starting';
  let state: TrainLoopState | undefined = input.resume;
  let paused = false;
  let stopRequested = input.resume?.stopRequested ?? false;
  let lastLoss: number | undefined;
  let error: string | undefined;

  setHandler(progressQuery, () => progress());
  setHandler(stopSignal, (arg) => {
    stopRequested = true;
    if (status === 'running' || status === 'paused') status = 'stopping';
    log.info('stop requested', { reason: arg?.reason });
  });
  setHandler(pauseSignal, () => {
    paused = true;
    if (status === 'running') status = 'paused';
  });
  setHandler(resumeSignal, () => {
    paused = false;
    if (status === 'paused') status = 'running';
  });

  function progress(): TrainProgress {
    const s = state;
    const { samplesPerSec, overheadFraction } = rates(s);
    const last = s?.history.at(-1);
    const totalRounds = s ? s.plan.roundsPerEpoch * t.epochs : 0;
    const avgRoundMs = s && s.rounds > 0 ? s.totals.wallMs / s.rounds : undefined;
    return {
      status,
      workflowId: runId,
      model: spec.name,
      ...(s ? { dataset: `${s.plan.datasetName}@${s.plan.datasetDigest}` } : {}),
      step: s?.step ?? 0,
      rounds: s?.rounds ?? 0,
      epoch: s?.epoch ?? 0,
      epochs: t.epochs,
      roundInEpoch: s?.roundInEpoch ?? 0,
      roundsPerEpoch: s?.plan.roundsPerEpoch ?? 0,
      ...(lastLoss !== undefined ? { trainLoss: lastLoss } : {}),
      ...(last ? { valLoss: last.valLoss, metrics: last.metrics } : {}),
      ...(s?.best ? { best: { epoch: s.best.epoch, value: s.best.value } } : {}),
      samplesPerSec,
      overheadFraction,
      ...(avgRoundMs !== undefined && s
        ? { etaSeconds: ((totalRounds - s.rounds) * avgRoundMs) / 1000 }
        : {}),
      trainers: s?.trainers ?? {},
      history: s?.history ?? [],
      ...(error ? { error } : {}),
    };
  }

  const setStatus = (value: string): void => upsertSearchAttributes({ SeqtrainStatus: [value] });

  try {
    if (!state) {
      upsertSearchAttributes({
        SeqtrainModel: [spec.name],
        SeqtrainKind: ['train'],
        SeqtrainStatus: ['running'],
      });
      const plan = await light.prepareRun({ runId, spec });
      upsertSearchAttributes({ SeqtrainDataset: [`${plan.datasetName}@${plan.datasetDigest}`] });
      const init = await shared.initCheckpoint({
        runId,
        planKey: plan.planKey,
        spec,
        outputKey: runKeys.checkpoint(runId, 0),
      });
      state = {
        plan: { ...plan, paramCount: init.paramCount, specHash: init.specHash },
        checkpointKey: init.checkpointKey,
        step: 0,
        epoch: 0,
        roundInEpoch: 0,
        rounds: 0,
        epochsWithoutImprovement: 0,
        history: [],
        recentCheckpoints: [init.checkpointKey],
        affinity: {},
        trainers: {},
        totals: { samples: 0, computeMs: 0, wallMs: 0, overheadMs: 0, trainLossSum: 0, trainLossCount: 0 },
        backend: init.backend,
        startedAt: Date.now(),
        stopRequested: false,
        paused: false,
        pendingDeletes: [],
        continuedAsNew: 0,
      };
      status = 'running';
    }
    const s = state;
    paused = s.paused;

    while (s.epoch < t.epochs && !stopRequested) {
      if (paused) await condition(() => !paused || stopRequested);
      if (stopRequested) break;
      await runRound(s);
      if (s.roundInEpoch >= s.plan.roundsPerEpoch) {
        const stop = await endEpoch(s);
        if (stop) break;
      }
      if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 8_000) {
        await continueAsNew<typeof trainModel>({
          ...input,
          resume: { ...s, stopRequested, paused, continuedAsNew: s.continuedAsNew + 1 },
        });
      }
    }
    // A run stopped mid-epoch (or with no evaluation yet) still has a best checkpoint.
    if (!s.best) await endEpoch(s, true);

    status = 'finalizing';
    const best = s.best!;
    const exported = await shared.exportModel({
      runId,
      planKey: s.plan.planKey,
      spec,
      checkpointKey: best.checkpointKey,
    });
    const { samplesPerSec, overheadFraction } = rates(s);
    const epochs = s.history.length;
    let model: TrainResult['model'] = null;
    if (input.register !== false) {
      model = await light.registerRunModel({
        workflowId: runId,
        runId: info.runId,
        spec,
        plan: s.plan,
        modelPrefix: exported.modelPrefix,
        metrics: best.metrics,
        ...(input.codeVersion ? { codeVersion: input.codeVersion } : {}),
        backend: s.backend,
        stats: {
          rounds: s.rounds,
          epochs,
          samplesPerSec,
          overheadFraction,
          weightsSha256: exported.weightsSha256,
        },
      });
    }
    const finalStatus = stopRequested ? 'stopped' : 'completed';
    status = finalStatus;
    setStatus(finalStatus);
    return {
      workflowId: runId,
      runId: info.runId,
      status: finalStatus,
      model,
      metrics: best.metrics,
      weightsSha256: exported.weightsSha256,
      backend: s.backend,
      rounds: s.rounds,
      epochs,
      samplesPerSec,
      overheadFraction,
      history: s.history,
      dataset: { name: s.plan.datasetName, digest: s.plan.datasetDigest },
      trainers: s.trainers,
      continuedAsNew: s.continuedAsNew,
    };
  } catch (err) {
    status = 'failed';
    error =
      err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    setStatus('failed');
    throw err;
  }

  /** Runs a shard's activity on the trainer that caches the shard, or on any trainer. */
  async function onShard<R>(
    s: TrainLoopState,
    shard: number,
    call: (a: TrainerActivities, args: ComputeGradientsInput) => Promise<R>,
  ): Promise<R> {
    const args = {
      runId,
      planKey: s.plan.planKey,
      spec,
      checkpointKey: s.checkpointKey,
      step: s.step,
      epoch: s.epoch,
      roundInEpoch: s.roundInEpoch,
      shard,
      firstMicroBatch: shard * t.microBatches,
      outputKey: runKeys.gradient(runId, s.step, shard),
    };
    const holder = s.affinity[shard];
    if (holder) {
      try {
        return await call(onWorker(holder), args);
      } catch (err) {
        if (!isScheduleToStartTimeout(err)) throw err;
        log.warn('trainer holding the shard is gone; falling back to the shared queue', { shard, holder });
        delete s.affinity[shard];
      }
    }
    return call(shared, args);
  }

  async function runRound(s: TrainLoopState): Promise<void> {
    const started = Date.now();
    const kept = [...s.recentCheckpoints];
    const nextKey = runKeys.checkpoint(runId, s.step + (mode === 'sync' ? 1 : t.syncEvery));
    kept.push(nextKey);
    const deleteKeys: string[] = s.pendingDeletes.splice(0);
    while (kept.length > keep) {
      const old = kept.shift()!;
      if (old !== s.best?.checkpointKey) deleteKeys.push(old);
    }
    let results: ComputeGradientsResult[];
    let applied: ApplyGradientsResult;
    const apply = { runId, spec, checkpointKey: s.checkpointKey, outputKey: nextKey, mode, deleteKeys };
    if (s.plan.shards === 1) {
      // One shard: compute and apply in one activity (averaging one part is the identity).
      const r = await onShard(s, 0, (a, args) => a.trainStep({ ...args, apply }));
      results = [r.compute];
      applied = r.apply;
    } else {
      results = await Promise.all(
        Array.from({ length: s.plan.shards }, (_, shard) =>
          onShard(s, shard, (a, args) => a.computeGradients(args)),
        ),
      );
      applied = await shared.applyGradients({ ...apply, partKeys: results.map((r) => r.key) });
    }
    const wallMs = Date.now() - started;
    const computeMs = Math.max(...results.map((r) => r.computeMs)) + applied.computeMs;
    results.forEach((r, shard) => {
      s.affinity[shard] = r.workerId;
      const ts = (s.trainers[r.workerId] ??= { rounds: 0, computeMs: 0, samples: 0, lastSeen: '' });
      ts.rounds++;
      ts.computeMs += r.computeMs;
      ts.samples += r.sampleCount;
      ts.lastSeen = new Date().toISOString();
      s.backend ??= r.backend;
    });
    s.checkpointKey = applied.checkpointKey;
    s.step = applied.step;
    s.recentCheckpoints = kept;
    s.rounds++;
    s.roundInEpoch++;
    s.totals.samples += s.plan.examplesPerShardRound * s.plan.shards;
    s.totals.wallMs += wallMs;
    s.totals.computeMs += computeMs;
    s.totals.overheadMs += Math.max(0, wallMs - computeMs);
    s.totals.trainLossSum += applied.loss;
    s.totals.trainLossCount++;
    lastLoss = applied.loss;
  }

  /** Evaluates, tracks the best checkpoint, applies early stopping. Returns true to stop. */
  async function endEpoch(s: TrainLoopState, partial = false): Promise<boolean> {
    const ev = await shared.evaluate({
      runId,
      planKey: s.plan.planKey,
      spec,
      checkpointKey: s.checkpointKey,
    });
    const trainLoss = s.totals.trainLossCount > 0 ? s.totals.trainLossSum / s.totals.trainLossCount : NaN;
    const metrics: Record<string, number> = { val_loss: ev.loss, train_loss: trainLoss };
    for (const [k, v] of Object.entries(ev.metrics)) metrics[`val_${k}`] = v;
    s.history.push({ epoch: s.epoch, step: s.step, trainLoss, valLoss: ev.loss, metrics });
    if (s.history.length > 200) s.history.splice(0, s.history.length - 200);
    s.totals.trainLossSum = 0;
    s.totals.trainLossCount = 0;
    const es = t.earlyStopping;
    const metric = es?.metric ?? 'val_loss';
    const value = metrics[metric];
    if (value === undefined) {
      throw ApplicationFailure.nonRetryable(
        `training.earlyStopping.metric=${JSON.stringify(metric)}: not a metric of this task; available: ${Object.keys(metrics).join(', ')}`,
        'BadInputError',
      );
    }
    const better =
      !s.best ||
      (higherIsBetter(metric)
        ? value > s.best.value + (es?.minDelta ?? 0)
        : value < s.best.value - (es?.minDelta ?? 0));
    if (better) {
      const old = s.best?.checkpointKey;
      if (old && old !== s.checkpointKey && !s.recentCheckpoints.includes(old)) s.pendingDeletes.push(old);
      s.best = { checkpointKey: s.checkpointKey, epoch: s.epoch, step: s.step, value, metrics };
      s.epochsWithoutImprovement = 0;
    } else s.epochsWithoutImprovement++;
    if (!partial) {
      s.epoch++;
      s.roundInEpoch = 0;
    }
    return es !== undefined && s.epochsWithoutImprovement > es.patience;
  }
}
