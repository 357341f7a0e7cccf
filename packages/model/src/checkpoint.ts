/**
 * A checkpoint is everything a round needs: weights in fixed order, optimizer state, the step,
 * and (local SGD with Nesterov outer steps) the outer momentum. Pure data; see codec.ts for bytes.
 */
import { BadInputError } from '@seqtrain/contracts';
import type { TrainingSpec } from '@seqtrain/contracts';
import { getFlatWeights } from './build-model';
import type { SeqModel } from './build-model';
import type { AveragedGradient } from './gradients';
import { clipByGlobalNorm, initOptimizerState, learningRateAt, optimizerStep } from './optimizers';
import type { OptimizerState } from './optimizers';

export interface Checkpoint {
  specHash: string;
  /** optimizer updates applied so far (inner steps in local-SGD mode) */
  step: number;
  weightSpecs: { name: string; shape: number[] }[];
  weights: Float32Array;
  optimizer: OptimizerState;
  /** DiLoCo outer Nesterov momentum buffer */
  outerMomentum?: Float32Array;
}

export interface ApplyResult {
  checkpoint: Checkpoint;
  learningRate: number;
  /** global norm of the averaged gradient before clipping */
  gradNorm: number;
}

export function initCheckpoint(m: SeqModel, training: Pick<TrainingSpec, 'optimizer'>): Checkpoint {
  return {
    specHash: m.specHash,
    step: 0,
    weightSpecs: m.weightSpecs.map((w) => ({ name: w.name, shape: [...w.shape] })),
    weights: getFlatWeights(m),
    optimizer: initOptimizerState(training.optimizer, m.size),
  };
}

/** Clip the averaged gradient by global norm, then one optimizer step at the scheduled learning rate. */
export function applyGradients(
  checkpoint: Checkpoint,
  average: AveragedGradient,
  training: Pick<TrainingSpec, 'optimizer' | 'schedule' | 'clipNorm'>,
  /** a checkpoint nobody holds any more, whose arrays the result may be written into */
  reuse?: Checkpoint,
): ApplyResult {
  if (
    average.specHash !== checkpoint.specHash ||
    average.step !== checkpoint.step ||
    average.grad.length !== checkpoint.weights.length
  ) {
    throw new BadInputError(
      `gradient for step ${average.step} (spec ${average.specHash.slice(0, 12)}, ${average.grad.length} floats) cannot be applied to checkpoint step ${checkpoint.step} (spec ${checkpoint.specHash.slice(0, 12)}, ${checkpoint.weights.length} floats)`,
    );
  }
  const { grad, norm } = clipByGlobalNorm(average.grad, training.clipNorm);
  const learningRate = learningRateAt(training, checkpoint.step);
  const next = optimizerStep(
    training.optimizer,
    checkpoint.optimizer,
    checkpoint.weights,
    grad,
    learningRate,
    reuse ? { weights: reuse.weights, slots: reuse.optimizer.slots } : undefined,
  );
  return {
    checkpoint: { ...checkpoint, step: checkpoint.step + 1, weights: next.weights, optimizer: next.state },
    learningRate,
    gradNorm: norm,
  };
}
