/**
 * Local SGD (syncEvery: K > 1): each worker runs K ordinary optimizer steps from the shared
 * checkpoint on its own micro-batches and returns its weight delta (start - end) and final inner
 * optimizer state. The outer step averages deltas and inner states weighted by sample count, in
 * worker order, then either applies the average (FedAvg: the new weights are the weighted mean of
 * the workers' weights) or takes a Nesterov momentum step on it as the outer gradient (DiLoCo).
 */
import { BadInputError } from '@seqtrain/contracts';
import type { SequenceBatch, TrainingSpec } from '@seqtrain/contracts';
import type { SeqModel } from './build-model';
import { applyGradients } from './checkpoint';
import type { Checkpoint } from './checkpoint';
import { averageGradients, computeGradients } from './gradients';
import type { OptimizerName } from '@seqtrain/contracts';

const f = Math.fround;

export interface LocalUpdate {
  specHash: string;
  /** checkpoint step the worker started from */
  step: number;
  /** local optimizer steps taken */
  steps: number;
  sampleCount: number;
  lossSum: number;
  /** start weights - end weights (the DiLoCo "outer gradient") */
  delta: Float32Array;
  optimizer: { name: OptimizerName; slots: Float32Array[]; scalars: Float32Array };
}

type Training = Pick<TrainingSpec, 'optimizer' | 'schedule' | 'clipNorm' | 'outerOptimizer'>;

/**
 * K local steps; `steps[k]` are the micro-batches of local step k. `firstMicroBatch` is the
 * global index of this worker's first micro-batch (its dropout masks differ from other workers').
 */
export function runLocalSteps(
  m: SeqModel,
  checkpoint: Checkpoint,
  steps: readonly (readonly SequenceBatch[])[],
  training: Training,
  firstMicroBatch = 0,
): LocalUpdate {
  let current = checkpoint;
  let sampleCount = 0;
  let lossSum = 0;
  for (const batches of steps) {
    const avg = averageGradients([computeGradients(m, current, batches, { firstMicroBatch })]);
    sampleCount += avg.sampleCount;
    lossSum += avg.loss * avg.sampleCount;
    current = applyGradients(current, avg, training).checkpoint;
  }
  const delta = new Float32Array(checkpoint.weights.length);
  for (let i = 0; i < delta.length; i++) delta[i] = checkpoint.weights[i]! - current.weights[i]!;
  return {
    specHash: checkpoint.specHash,
    step: checkpoint.step,
    steps: steps.length,
    sampleCount,
    lossSum,
    delta,
    optimizer: current.optimizer,
  };
}

function weightedMean(
  arrays: readonly Float32Array[],
  weights: readonly number[],
  total: number,
): Float32Array {
  const out = new Float32Array(arrays[0]!.length);
  arrays.forEach((a, k) => {
    const w = f(weights[k]! / total);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + f(a[i]! * w);
  });
  return out;
}

/** The outer step: next checkpoint from the workers' local updates, in worker order. */
export function applyLocalUpdates(
  checkpoint: Checkpoint,
  updates: readonly LocalUpdate[],
  training: Training,
): Checkpoint {
  const first = updates[0];
  if (!first) throw new BadInputError('applyLocalUpdates: no updates');
  updates.forEach((u, k) => {
    if (
      u.specHash !== checkpoint.specHash ||
      u.step !== checkpoint.step ||
      u.steps !== first.steps ||
      u.delta.length !== checkpoint.weights.length
    ) {
      throw new BadInputError(
        `local update ${k} (step ${u.step}, ${u.steps} local steps) does not fit checkpoint step ${checkpoint.step}`,
      );
    }
  });
  const counts = updates.map((u) => u.sampleCount);
  const total = counts.reduce((a, b) => a + b, 0);
  const delta = weightedMean(
    updates.map((u) => u.delta),
    counts,
    total,
  );
  const slots = first.optimizer.slots.map((_, s) =>
    weightedMean(
      updates.map((u) => u.optimizer.slots[s]!),
      counts,
      total,
    ),
  );
  const optimizer = { name: first.optimizer.name, slots, scalars: first.optimizer.scalars };
  const weights = new Float32Array(delta.length);
  const outer = training.outerOptimizer;
  const next: Checkpoint = { ...checkpoint, step: checkpoint.step + first.steps, optimizer, weights };
  switch (outer.name) {
    case 'average':
      for (let i = 0; i < weights.length; i++) weights[i] = checkpoint.weights[i]! - delta[i]!;
      return next;
    case 'nesterov': {
      const u0 = checkpoint.outerMomentum ?? new Float32Array(delta.length);
      const u = new Float32Array(delta.length);
      const mu = f(outer.momentum);
      const lr = f(outer.learningRate);
      for (let i = 0; i < weights.length; i++) {
        u[i] = f(f(mu * u0[i]!) + delta[i]!);
        weights[i] = f(checkpoint.weights[i]! - f(lr * f(delta[i]! + f(mu * u[i]!))));
      }
      next.outerMomentum = u;
      return next;
    }
    default: {
      const never: never = outer;
      throw new Error(`unknown outer optimizer ${JSON.stringify(never)}`);
    }
  }
}
