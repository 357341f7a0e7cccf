/**
 * Test support: the model shapes the fused kernels must reproduce, for any cell. Small sizes keep
 * each test file fast; seeded initialisers and inputs make both runs of a comparison identical.
 */
import type { LayersModel, SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { FusedCell, Tf } from '../../src';

export const BATCH = 6;
export const STEPS = 7;
export const VOCAB = 10;
/** Right-padded token sequences: full, partial, one step, and all padding. */
export const LENGTHS = [7, 5, 3, 1, 0, 6] as const;

interface RnnOptions {
  units: number;
  returnSequences?: boolean;
  returnState?: boolean;
  goBackwards?: boolean;
  dropout?: number;
  recurrentDropout?: number;
  /** draws the dropout masks (tfjs-layers' own random dropout when absent) */
  dropoutFunc?: (x: Tensor, rate: number) => Tensor;
  recurrentActivation?: 'sigmoid' | 'hardSigmoid';
  useBias?: boolean;
}

export type RnnFactory = (o: RnnOptions) => ReturnType<Tf['layers']['lstm']>;

let seed = 100;
export function rnnFactory(tf: Tf, cell: FusedCell): RnnFactory {
  return (o) => {
    const args = {
      units: o.units,
      returnSequences: o.returnSequences ?? false,
      returnState: o.returnState ?? false,
      goBackwards: o.goBackwards ?? false,
      dropout: o.dropout ?? 0,
      recurrentDropout: o.recurrentDropout ?? 0,
      ...(o.dropoutFunc !== undefined ? { dropoutFunc: o.dropoutFunc } : {}),
      useBias: o.useBias ?? true,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
      recurrentInitializer: tf.initializers.glorotUniform({ seed: seed++ }),
      // non-zero biases, so that their gradients and the gate order of the bias are checked too
      biasInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.3, seed: seed++ }),
    };
    const recurrentActivation = o.recurrentActivation ?? 'sigmoid';
    if (cell === 'lstm') return tf.layers.lstm({ ...args, recurrentActivation });
    if (cell === 'gru') return tf.layers.gru({ ...args, recurrentActivation });
    return tf.layers.simpleRNN(args);
  };
}

function dense(tf: Tf, units: number): ReturnType<Tf['layers']['dense']> {
  return tf.layers.dense({ units, kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }) });
}

const sym = (t: SymbolicTensor | SymbolicTensor[] | Tensor | Tensor[]): SymbolicTensor => t as SymbolicTensor;
const syms = (t: SymbolicTensor | SymbolicTensor[] | Tensor | Tensor[]): SymbolicTensor[] =>
  t as SymbolicTensor[];

export interface Case {
  name: string;
  build(): LayersModel;
  x: Tensor | Tensor[];
  y: Tensor | Tensor[];
}

/** Token ids [BATCH, STEPS] with the LENGTHS as right padding (0 = padding). */
export function paddedTokens(tf: Tf): Tensor {
  const ids = LENGTHS.map((len, b) =>
    Array.from({ length: STEPS }, (_, t) => (t < len ? 1 + ((b * 3 + t * 7) % (VOCAB - 1)) : 0)),
  );
  return tf.tensor2d(ids, [BATCH, STEPS], 'int32');
}

/** Float features with zero (masked) steps anywhere: not a prefix mask. */
export function holeyFeatures(tf: Tf, features: number): Tensor {
  const keep = [
    [1, 1, 1, 1, 1, 1, 1],
    [1, 0, 1, 1, 0, 1, 0],
    [0, 0, 1, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0],
    [1, 1, 0, 0, 0, 1, 1],
  ];
  return tf.tidy(() =>
    tf.mul(
      tf.randomNormal([BATCH, STEPS, features], 0, 1, 'float32', 7),
      tf.expandDims(tf.tensor2d(keep), 2),
    ),
  );
}

export function cases(tf: Tf, cell: FusedCell): Case[] {
  const rnn = rnnFactory(tf, cell);
  const floatX = tf.randomNormal([BATCH, STEPS, 3], 0, 1, 'float32', 1);
  return [
    {
      name: 'stacked, many-to-one',
      build: () => {
        const input = tf.input({ shape: [STEPS, 3] });
        const h = sym(rnn({ units: 6, returnSequences: true }).apply(input));
        const out = sym(dense(tf, 2).apply(sym(rnn({ units: 5 }).apply(h))));
        return tf.model({ inputs: input, outputs: out });
      },
      x: floatX,
      y: tf.randomNormal([BATCH, 2], 0, 1, 'float32', 2),
    },
    {
      name: 'bidirectional, stacked, masked (right-padded tokens)',
      build: () => {
        const input = tf.input({ shape: [STEPS], dtype: 'int32' });
        const emb = tf.layers.embedding({
          inputDim: VOCAB,
          outputDim: 4,
          maskZero: true,
          embeddingsInitializer: tf.initializers.randomNormal({ seed: seed++ }),
        });
        const e = sym(emb.apply(input));
        const h = sym(
          tf.layers
            .bidirectional({ layer: rnn({ units: 5, returnSequences: true }), mergeMode: 'concat' })
            .apply(e),
        );
        const last = sym(tf.layers.bidirectional({ layer: rnn({ units: 4 }), mergeMode: 'concat' }).apply(h));
        return tf.model({ inputs: input, outputs: sym(dense(tf, 1).apply(last)) });
      },
      x: paddedTokens(tf),
      y: tf.randomNormal([BATCH, 1], 0, 1, 'float32', 3),
    },
    {
      name: 'masked anywhere (Masking layer), goBackwards, per-step outputs',
      build: () => {
        const input = tf.input({ shape: [STEPS, 3] });
        const m = sym(tf.layers.masking({ maskValue: 0 }).apply(input));
        const h = sym(rnn({ units: 5, returnSequences: true, goBackwards: true }).apply(m));
        return tf.model({ inputs: input, outputs: sym(dense(tf, 1).apply(h)) });
      },
      x: holeyFeatures(tf, 3),
      y: tf.randomNormal([BATCH, STEPS, 1], 0, 1, 'float32', 4),
    },
    {
      name: 'encoder states (masked, returnState) as decoder initial states',
      build: () => {
        const src = tf.input({ shape: [STEPS], dtype: 'int32' });
        const dec = tf.input({ shape: [5, 3] });
        const e = sym(
          tf.layers
            .embedding({
              inputDim: VOCAB,
              outputDim: 4,
              maskZero: true,
              embeddingsInitializer: tf.initializers.randomNormal({ seed: seed++ }),
            })
            .apply(src),
        );
        const [, ...states] = syms(rnn({ units: 6, returnState: true }).apply(e));
        const d = sym(rnn({ units: 6, returnSequences: true }).apply(dec, { initialState: states }));
        return tf.model({ inputs: [src, dec], outputs: sym(dense(tf, 2).apply(d)) });
      },
      x: [paddedTokens(tf), tf.randomNormal([BATCH, 5, 3], 0, 1, 'float32', 5)],
      y: tf.randomNormal([BATCH, 5, 2], 0, 1, 'float32', 6),
    },
  ];
}

/**
 * A dropout function whose masks depend only on how often it was called since `reset`: two runs of
 * one model (or two copies built alike) draw the same masks in the same order.
 */
export function countedDropout(tf: Tf): { fn: (x: Tensor, rate: number) => Tensor; reset(): void } {
  let calls = 0;
  return {
    fn: (x, rate) =>
      tf.tidy(() => {
        const keep = tf.cast(
          tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', 500 + calls++), rate),
          'float32',
        );
        return tf.div(tf.mul(x, keep), 1 - rate);
      }),
    reset: () => {
      calls = 0;
    },
  };
}
