/**
 * The benchmarked training step, shared by every system: one recurrent layer over T=50 steps of
 * I=32 features, H=128 units, then Dense(1), Adam, mean squared error, batches of B=32. The Python
 * side (bench/python/rnn_bench.py) builds the same model from the same numbers.
 */
import type { Tf } from '@seqtrain/backend';

export const SHAPE = { timeSteps: 50, batch: 32, inputs: 32, units: 128 } as const;
export const CELLS = ['lstm', 'gru'] as const;
export type Cell = (typeof CELLS)[number];

/** How long to measure: warm-up steps are run and dropped, then steps until the budget is spent. */
export interface TimingPlan {
  warmup: number;
  minIters: number;
  maxIters: number;
  budgetMs: number;
}

export interface Timing {
  /** Median over the timed steps: robust to a stray GC pause or scheduler hiccup. */
  msPerBatch: number;
  iterations: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

export async function timeTfjsStep(tf: Tf, cell: Cell, plan: TimingPlan): Promise<Timing> {
  const { timeSteps, batch, inputs, units } = SHAPE;
  const model = tf.sequential();
  const rnnArgs = { units, inputShape: [timeSteps, inputs], recurrentActivation: 'sigmoid' as const };
  model.add(cell === 'lstm' ? tf.layers.lstm(rnnArgs) : tf.layers.gru(rnnArgs));
  model.add(tf.layers.dense({ units: 1 }));
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  const xs = tf.randomNormal([batch, timeSteps, inputs], 0, 1, 'float32', 1);
  const ys = tf.randomNormal([batch, 1], 0, 1, 'float32', 2);
  try {
    // trainOnBatch resolves after reading the loss back, so each step is complete when it returns.
    for (let i = 0; i < plan.warmup; i++) await model.trainOnBatch(xs, ys);
    const times: number[] = [];
    const start = performance.now();
    while (
      times.length < plan.maxIters &&
      (times.length < plan.minIters || performance.now() - start < plan.budgetMs)
    ) {
      const t0 = performance.now();
      await model.trainOnBatch(xs, ys);
      times.push(performance.now() - t0);
    }
    return { msPerBatch: median(times), iterations: times.length };
  } finally {
    xs.dispose();
    ys.dispose();
    model.dispose();
  }
}
