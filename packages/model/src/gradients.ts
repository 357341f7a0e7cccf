/**
 * Exact data-parallel gradients.
 *
 * Reference (what one process computes for a round of M micro-batches b1..bM, in data order):
 *   g_i   = d/dw sum_{examples e in b_i} loss(e)          (float32, computed by tfjs per micro-batch)
 *   S     = (((0 + g_1) + g_2) + ...) + g_M                (float32 adds, strictly left to right)
 *   avg   = S / (n_1 + ... + n_M)                           (one float32 division)
 * Floating-point addition is not associative, so workers do NOT pre-sum their micro-batches: a
 * worker returns its per-micro-batch sums g_i (one row per micro-batch, micro-batch-major in one
 * flat buffer), workers own contiguous ranges of the micro-batch sequence, and averageGradients
 * adds all rows of all parts in order. The association is then identical for any number of
 * workers, which makes N workers bit-identical to one process. The price is M/N gradient rows per
 * worker instead of one; with the default microBatches: 1 it is exactly one.
 * Counts n_i are examples (regression, classification) or target tokens (generation, seq2seq).
 */
import * as tf from '@tensorflow/tfjs';
import { BadInputError } from '@seqtrain/contracts';
import type { SequenceBatch } from '@seqtrain/contracts';
import { setFlatWeights } from './build-model';
import type { SeqModel } from './build-model';
import { batchTensors, lossSum } from './batch-tensors';
import type { Checkpoint } from './checkpoint';
import { mixSeed } from './seeded';
import { runGraph } from './run-graph';

export interface GradientPart {
  specHash: string;
  /** checkpoint step the gradients were computed at */
  step: number;
  /** parameters per row */
  size: number;
  /** per micro-batch: number of examples / tokens */
  sampleCounts: number[];
  /** per micro-batch: sum of losses (for reporting) */
  lossSums: number[];
  /** sampleCounts.length rows of `size` floats, micro-batch-major, weights in fixed order */
  grads: Float32Array;
}

export interface AveragedGradient {
  specHash: string;
  step: number;
  grad: Float32Array;
  sampleCount: number;
  /** mean loss over all examples / tokens */
  loss: number;
}

export interface ComputeOptions {
  /**
   * Global index of the first micro-batch of this call within the round: dropout masks are drawn
   * from (seed, step, global micro-batch index) so that any split over workers sees the same masks.
   */
  firstMicroBatch?: number;
  /** an array of batches x parameters floats to write the rows into (every float is written) */
  into?: Float32Array;
}

/** Gradient of the summed loss of one micro-batch at the model's current weights, in fixed weight order. */
export function microBatchGradient(
  m: SeqModel,
  batch: SequenceBatch,
  dropoutSeed: number,
  into: Float32Array,
  offset: number,
): { loss: number; count: number } {
  const weights = m.trainModel.trainableWeights;
  if (weights.length !== m.weightSpecs.length) throw new Error('all weights must be trainable');
  const vars = weights.map((w) => w.read() as tf.Variable);
  m.setDropoutSeed(dropoutSeed);
  let count = 0;
  const { value, grads } = tf.variableGrads(() => {
    const t = batchTensors(m, batch);
    const out = runGraph(m.trainModel, t.inputs, true) as tf.Tensor;
    const l = lossSum(m.definition.task, out, t.labels);
    count = l.count;
    return l.loss;
  }, vars);
  const loss = value.dataSync()[0]!;
  value.dispose();
  vars.forEach((v, j) => {
    const g = grads[v.name];
    const s = m.weightSpecs[j]!;
    if (g) into.set(g.dataSync(), offset + s.offset);
    else into.fill(0, offset + s.offset, offset + s.offset + s.size);
  });
  tf.dispose(grads);
  return { loss, count };
}

/** One row per micro-batch, computed at the checkpoint's weights. */
export function computeGradients(
  m: SeqModel,
  checkpoint: Checkpoint,
  batches: readonly SequenceBatch[],
  options: ComputeOptions = {},
): GradientPart {
  if (checkpoint.specHash !== m.specHash) {
    throw new BadInputError(
      `checkpoint specHash=${checkpoint.specHash.slice(0, 12)}: does not match the model built from the spec (${m.specHash.slice(0, 12)})`,
    );
  }
  setFlatWeights(m, checkpoint.weights);
  const first = options.firstMicroBatch ?? 0;
  const want = batches.length * m.size;
  const grads = options.into?.length === want ? options.into : new Float32Array(want);
  const sampleCounts: number[] = [];
  const lossSums: number[] = [];
  batches.forEach((b, i) => {
    const r = microBatchGradient(
      m,
      b,
      mixSeed(m.definition.seed, checkpoint.step, first + i),
      grads,
      i * m.size,
    );
    sampleCounts.push(r.count);
    lossSums.push(r.loss);
  });
  return { specHash: m.specHash, step: checkpoint.step, size: m.size, sampleCounts, lossSums, grads };
}

/** A running sum of gradient rows, in the one association order that makes N workers equal one process. */
export interface GradientSum {
  /** sum of the rows added so far (float32, strictly left to right, starting from +0) */
  acc: Float32Array;
  sampleCount: number;
  lossSum: number;
}

export function emptySum(size: number): GradientSum {
  return { acc: new Float32Array(size), sampleCount: 0, lossSum: 0 };
}

/** Adds every micro-batch row of `part` to `sum`, in order (mutates and returns `sum`). */
export function addRows(sum: GradientSum, part: GradientPart): GradientSum {
  const acc = sum.acc;
  if (part.size !== acc.length)
    throw new BadInputError(`gradient part of ${part.size} parameters does not fit a sum of ${acc.length}`);
  part.sampleCounts.forEach((n, r) => {
    const row = part.grads.subarray(r * part.size, (r + 1) * part.size);
    // Float32Array stores round each double sum to float32: exactly IEEE float32 addition.
    for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + row[i]!;
    sum.sampleCount += n;
    sum.lossSum += part.lossSums[r]!;
  });
  return sum;
}

/** The average of a complete sum: one float32 division per parameter. */
export function finishAverage(sum: GradientSum, specHash: string, step: number): AveragedGradient {
  if (sum.sampleCount <= 0) throw new BadInputError('averageGradients: total sample count is 0');
  const grad = new Float32Array(sum.acc.length);
  for (let i = 0; i < grad.length; i++) grad[i] = sum.acc[i]! / sum.sampleCount;
  return { specHash, step, grad, sampleCount: sum.sampleCount, loss: sum.lossSum / sum.sampleCount };
}

/** Weighted average by sample count: all micro-batch rows added left to right in part order (see module doc). */
export function averageGradients(parts: readonly GradientPart[]): AveragedGradient {
  const first = parts[0];
  if (!first) throw new BadInputError('averageGradients: no gradient parts');
  const sum = emptySum(first.size);
  parts.forEach((p, k) => {
    if (p.size !== first.size || p.specHash !== first.specHash || p.step !== first.step) {
      throw new BadInputError(
        `gradient part ${k}: size=${p.size} step=${p.step} spec=${p.specHash.slice(0, 12)} does not match part 0 (size=${first.size} step=${first.step} spec=${first.specHash.slice(0, 12)})`,
      );
    }
    addRows(sum, p);
  });
  return finishAverage(sum, first.specHash, first.step);
}
