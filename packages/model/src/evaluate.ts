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

/** Validation metrics accumulated batch by batch, so that a caller can yield between batches. */
export class Evaluator {
  private loss = 0;
  private count = 0;
  private absErr = 0;
  private correct = 0;
  private outputs = 0;

  constructor(private readonly m: SeqModel) {}

  add(batch: SequenceBatch): void {
    const task = this.m.definition.task;
    tf.tidy(() => {
      const t = batchTensors(this.m, batch);
      const out = runGraph(this.m.trainModel, t.inputs, false) as tf.Tensor;
      const l = lossSum(task, out, t.labels);
      this.loss += l.loss.dataSync()[0]!;
      this.count += l.count;
      if (task === 'regression') {
        this.absErr += tf.sum(tf.abs(tf.sub(out, t.labels))).dataSync()[0]!;
        this.outputs += t.labels.size;
      } else {
        const hit = tf.cast(tf.equal(tf.argMax(out, -1), t.labels), 'float32');
        const masked =
          task === 'classification' ? hit : tf.mul(hit, tf.cast(tf.notEqual(t.labels, 0), 'float32'));
        this.correct += tf.sum(masked).dataSync()[0]!;
      }
    });
  }

  result(): EvalResult {
    const { count } = this;
    const mean = count > 0 ? this.loss / count : NaN;
    const task = this.m.definition.task;
    switch (task) {
      case 'regression':
        return {
          loss: mean,
          count,
          metrics: { mse: mean, mae: this.outputs > 0 ? this.absErr / this.outputs : NaN },
        };
      case 'classification':
        return { loss: mean, count, metrics: { accuracy: this.correct / count } };
      case 'generation':
      case 'seq2seq':
        return {
          loss: mean,
          count,
          metrics: { perplexity: Math.exp(mean), tokenAccuracy: this.correct / count },
        };
      default: {
        const never: never = task;
        throw new Error(`unknown task ${String(never)}`);
      }
    }
  }
}

export function evaluate(m: SeqModel, batches: Iterable<SequenceBatch>): EvalResult {
  const e = new Evaluator(m);
  for (const batch of batches) e.add(batch);
  return e.result();
}
