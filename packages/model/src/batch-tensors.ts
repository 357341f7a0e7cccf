/**
 * SequenceBatch (what the shard reader yields) -> model inputs and labels per task, plus the loss.
 * Losses are SUMS over examples (regression, classification) or over non-padding target tokens
 * (generation, seq2seq), returned with that count, so that gradients of micro-batches and
 * workers can be added and divided by the total count exactly once (see gradients.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { BadInputError } from '@seqtrain/contracts';
import type { SequenceBatch, Task } from '@seqtrain/contracts';
import type { SeqModel } from './build-model';

export interface BatchTensors {
  inputs: tf.Tensor[];
  /** regression: float targets; otherwise int32 class / token ids */
  labels: tf.Tensor;
}

function checkShape(field: string, shape: readonly number[], expected: readonly number[]): void {
  if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
    throw new BadInputError(
      `batch ${field}.shape=${JSON.stringify(shape)}: expected ${JSON.stringify(expected)} (from the dataset signature)`,
    );
  }
}

/** Tensors for one batch; the caller disposes them (or runs inside tf.tidy). */
export function batchTensors(m: SeqModel, batch: SequenceBatch): BatchTensors {
  const { task, signature: sig } = m.definition;
  const rows = batch.rows;
  checkShape('x', batch.x.shape, [rows, ...sig.x.shape]);
  checkShape('y', batch.y.shape, [rows, ...sig.y.shape]);
  const x = tf.tensor(batch.x.data, batch.x.shape, sig.x.dtype);
  switch (task) {
    case 'regression':
      return { inputs: [x], labels: tf.tensor(batch.y.data, batch.y.shape, 'float32') };
    case 'classification':
      return { inputs: [x], labels: tf.tensor(batch.y.data, [rows], 'int32') };
    case 'generation': {
      const inputs = [x];
      if (sig.condition) {
        if (!batch.condition)
          throw new BadInputError('batch.condition: missing, the dataset signature declares a condition');
        inputs.push(tf.tensor(batch.condition.data, [rows, 1], 'int32'));
      }
      return { inputs, labels: tf.tensor(batch.y.data, batch.y.shape, 'int32') };
    }
    case 'seq2seq': {
      // teacher forcing: decoder reads y[:, :-1] and predicts y[:, 1:]
      const y = tf.tensor(batch.y.data, batch.y.shape, 'int32');
      const t = sig.y.shape[0]!;
      const decIn = tf.slice(y, [0, 0], [rows, t - 1]);
      const labels = tf.slice(y, [0, 1], [rows, t - 1]);
      y.dispose();
      return { inputs: [x, decIn], labels };
    }
    default: {
      const never: never = task;
      throw new Error(`unknown task ${String(never)}`);
    }
  }
}

export interface LossSum {
  /** scalar: sum of per-example (or per-token) losses */
  loss: tf.Scalar;
  /** examples (regression, classification) or non-padding target tokens (generation, seq2seq) */
  count: number;
}

/** Per-token cross-entropy from logits, summed where mask = 1. */
function tokenCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor | undefined): tf.Scalar {
  const depth = logits.shape[logits.shape.length - 1]!;
  const logp = tf.logSoftmax(logits);
  const picked = tf.sum(tf.mul(tf.oneHot(labels, depth), logp), -1);
  const masked = mask ? tf.mul(picked, mask) : picked;
  return tf.neg(tf.sum(masked)) as tf.Scalar;
}

export function lossSum(task: Task, output: tf.Tensor, labels: tf.Tensor): LossSum {
  switch (task) {
    case 'regression': {
      // per example: mean squared error over its targets (horizon or steps)
      const perExample = tf.mean(tf.square(tf.sub(output, labels)), -1);
      return { loss: tf.sum(perExample), count: labels.shape[0] };
    }
    case 'classification':
      return { loss: tokenCrossEntropy(output, labels, undefined), count: labels.shape[0] };
    case 'generation':
    case 'seq2seq': {
      const mask = tf.cast(tf.notEqual(labels, 0), 'float32');
      const count = tf.sum(mask).dataSync()[0]!;
      return { loss: tokenCrossEntropy(output, labels, mask), count };
    }
    default: {
      const never: never = task;
      throw new Error(`unknown task ${String(never)}`);
    }
  }
}
