/**
 * A tiny many-to-one LSTM regression shared by the per-backend tests (each backend needs its own
 * test file, hence its own process). The data come from a formula, so every backend sees the same.
 */
import type { Tf } from '../src/init-backend';

export async function fitTinyLstm(tf: Tf, epochs = 25): Promise<number[]> {
  const [n, steps, features] = [32, 6, 2];
  const x: number[][][] = [];
  const y: number[][] = [];
  for (let i = 0; i < n; i++) {
    const seq: number[][] = [];
    for (let t = 0; t < steps; t++)
      seq.push(Array.from({ length: features }, (_, f) => Math.sin(i * 0.7 + t * 1.3 + f)));
    x.push(seq);
    // The mean of the first feature over time: an LSTM learns it in a few dozen steps.
    y.push([seq.reduce((s, v) => s + (v[0] ?? 0), 0) / steps]);
  }
  const model = tf.sequential();
  model.add(
    tf.layers.lstm({
      units: 8,
      inputShape: [steps, features],
      recurrentActivation: 'sigmoid',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      recurrentInitializer: tf.initializers.orthogonal({ seed: 2 }),
    }),
  );
  model.add(tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
  model.compile({ optimizer: tf.train.adam(0.03), loss: 'meanSquaredError' });
  const xs = tf.tensor3d(x);
  const ys = tf.tensor2d(y);
  try {
    const history = await model.fit(xs, ys, { epochs, batchSize: 16, shuffle: false, verbose: 0 });
    return history.history.loss as number[];
  } finally {
    xs.dispose();
    ys.dispose();
    model.dispose();
  }
}
