/**
 * Test support: runs the same model with the fused kernels on and off (tfjs-layers' own loop is the
 * reference) and reports the largest absolute differences of outputs, loss, gradients and of 50
 * steps of Adam training.
 */
import type { LayersModel, Scalar, Tensor } from '@tensorflow/tfjs';
import { fusedRnnStats, setFusedRnnKernels, type Tf } from '../../src';

export function withFused<T>(on: boolean, f: () => T): T {
  setFusedRnnKernels(on);
  try {
    return f();
  } finally {
    setFusedRnnKernels(true);
  }
}

export function maxAbsDiff(tf: Tf, a: Tensor, b: Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? NaN);
}

function fusedCalls(): number {
  const { fused } = fusedRnnStats();
  return fused.lstm + fused.gru + fused.simpleRNN;
}

export interface Comparison {
  outputs: number;
  loss: number;
  /** by weight name */
  gradients: Record<string, number>;
  /** largest reference gradient: shows the gradients compared are not trivially zero */
  gradientScale: number;
  /** recurrent layer calls that took the fused path in the fused run */
  fusedCalls: number;
}

/** Forward (inference) outputs, then loss and gradients of every trainable weight (training mode). */
export function compareOnce(
  tf: Tf,
  model: LayersModel,
  x: Tensor | Tensor[],
  y: Tensor | Tensor[],
): Comparison {
  const run = (): { outputs: Tensor[]; loss: Tensor; grads: Record<string, Tensor> } => {
    const predicted = model.predict(x);
    const outputs = Array.isArray(predicted) ? predicted : [predicted];
    const ys = Array.isArray(y) ? y : [y];
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => {
        const out = model.apply(x, { training: true }) as Tensor | Tensor[];
        const outs = Array.isArray(out) ? out : [out];
        return tf.addN(outs.map((o, i) => tf.losses.meanSquaredError(ys[i] as Tensor, o))) as Scalar;
      }),
    );
    return { outputs, loss: value, grads };
  };
  const before = fusedCalls();
  const fused = withFused(true, run);
  const calls = fusedCalls() - before;
  const plain = withFused(false, run);
  const result: Comparison = {
    outputs: Math.max(...fused.outputs.map((o, i) => maxAbsDiff(tf, o, plain.outputs[i] as Tensor))),
    loss: maxAbsDiff(tf, fused.loss, plain.loss),
    gradients: Object.fromEntries(
      Object.keys(plain.grads).map((k) => [
        k,
        maxAbsDiff(tf, fused.grads[k] as Tensor, plain.grads[k] as Tensor),
      ]),
    ),
    gradientScale: Math.max(
      ...Object.values(plain.grads).map((g) => tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0] ?? 0)),
    ),
    fusedCalls: calls,
  };
  for (const r of [fused, plain]) tf.dispose([...r.outputs, r.loss, ...Object.values(r.grads)]);
  return result;
}

export interface TrainingComparison {
  /** per step, fused minus reference loss */
  lossDiff: number;
  weightDiff: number;
  firstLoss: number;
  lastLoss: number;
  /** largest change of any weight of the reference copy over the steps: the weights did move */
  weightChange: number;
}

/**
 * Two copies of one model (same initial weights) trained for `steps` Adam steps on one batch, one
 * with the fused kernels and one without.
 */
export async function compareTraining(
  tf: Tf,
  build: () => LayersModel,
  x: Tensor | Tensor[],
  y: Tensor | Tensor[],
  steps = 50,
): Promise<TrainingComparison> {
  const models = [build(), build()] as const;
  const init = models[0].getWeights();
  models[1].setWeights(init);
  // getWeights hands out the variables themselves: keep a copy of the starting values
  const start = init.map((w) => w.clone());
  for (const m of models) m.compile({ optimizer: tf.train.adam(1e-2), loss: 'meanSquaredError' });
  const losses: number[][] = [[], []];
  for (const [i, m] of models.entries()) {
    setFusedRnnKernels(i === 0);
    try {
      for (let s = 0; s < steps; s++) {
        const l = await m.trainOnBatch(x, y);
        losses[i]?.push(Array.isArray(l) ? (l[0] ?? NaN) : l);
      }
    } finally {
      setFusedRnnKernels(true);
    }
  }
  const [a, b] = models.map((m) => m.getWeights()) as [Tensor[], Tensor[]];
  const weightChange = Math.max(...b.map((w, i) => maxAbsDiff(tf, w, start[i] as Tensor)));
  tf.dispose(start);
  const result: TrainingComparison = {
    weightChange,
    lossDiff: Math.max(...(losses[0] ?? []).map((l, s) => Math.abs(l - (losses[1]?.[s] ?? NaN)))),
    weightDiff: Math.max(...a.map((w, i) => maxAbsDiff(tf, w, b[i] as Tensor))),
    firstLoss: losses[1]?.[0] ?? NaN,
    lastLoss: losses[1]?.at(-1) ?? NaN,
  };
  for (const m of models) {
    m.optimizer.dispose();
    m.dispose();
  }
  return result;
}
