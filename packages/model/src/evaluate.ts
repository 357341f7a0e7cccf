/**
 * Validation metrics per task, at the model's current weights (no dropout):
 * regression: loss = mse, mae; classification: loss = mean cross-entropy, accuracy;
 * generation / seq2seq: loss = mean token cross-entropy, perplexity = exp(loss), tokenAccuracy
 * (teacher forced, padding ignored). Regression metrics are in normalised units.
 */
import * as tf from '@tensorflow/tfjs';
import type { SequenceBatch } from '@seqtrain/contracts';
import type { SeqModel } from './build-model';
import { batchTensors, lossSum } from './batch-tensors';
import { runGraph } from './run-graph';

export interface EvalResult {
  loss: number;
  /** examples or target tokens */
  count: number;
  metrics: Record<string, number>;
}

export function evaluate(m: SeqModel, batches: Iterable<SequenceBatch>): EvalResult {
  const task = m.definition.task;
  let loss = 0;
  let count = 0;
  let absErr = 0;
  let correct = 0;
  let outputs = 0;
  for (const batch of batches) {
    tf.tidy(() => {
      const t = batchTensors(m, batch);
      const out = runGraph(m.trainModel, t.inputs, false) as tf.Tensor;
      const l = lossSum(task, out, t.labels);
      loss += l.loss.dataSync()[0]!;
      count += l.count;
      if (task === 'regression') {
        absErr += tf.sum(tf.abs(tf.sub(out, t.labels))).dataSync()[0]!;
        outputs += t.labels.size;
      } else {
        const hit = tf.cast(tf.equal(tf.argMax(out, -1), t.labels), 'float32');
        const masked =
          task === 'classification' ? hit : tf.mul(hit, tf.cast(tf.notEqual(t.labels, 0), 'float32'));
        correct += tf.sum(masked).dataSync()[0]!;
      }
    });
  }
  const mean = count > 0 ? loss / count : NaN;
  switch (task) {
    case 'regression':
      return { loss: mean, count, metrics: { mse: mean, mae: outputs > 0 ? absErr / outputs : NaN } };
    case 'classification':
      return { loss: mean, count, metrics: { accuracy: correct / count } };
    case 'generation':
    case 'seq2seq':
      return { loss: mean, count, metrics: { perplexity: Math.exp(mean), tokenAccuracy: correct / count } };
    default: {
      const never: never = task;
      throw new Error(`unknown task ${String(never)}`);
    }
  }
}
