import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { fusedRnnStats, getTf, initBackend } from '../index';
import { BATCH, paddedTokens, rnnFactory, STEPS, VOCAB } from './test-cases';

/** tfjs-node's count of live native TensorFlow tensor handles. */
function nativeHandles(tf: ReturnType<typeof getTf>): number {
  return (tf.backend() as unknown as { getNumOfTFTensors(): number }).getNumOfTFTensors();
}

describe('fused recurrent kernels: memory', () => {
  it('leak neither tfjs tensors nor native handles over 1,000 training steps and 300 predictions', async () => {
    await initBackend({ backend: 'tensorflow', threads: 1 });
    const tf = getTf();
    // Every fused path in one model: masked bidirectional LSTM, GRU with initial state, SimpleRNN.
    const ids = tf.input({ shape: [STEPS], dtype: 'int32' });
    const e = tf.layers
      .embedding({ inputDim: VOCAB, outputDim: 4, maskZero: true })
      .apply(ids) as SymbolicTensor;
    const bi = tf.layers.bidirectional({
      layer: rnnFactory(tf, 'lstm')({ units: 4, returnSequences: true }),
      mergeMode: 'concat',
    });
    const [seq, h] = rnnFactory(
      tf,
      'gru',
    )({ units: 3, returnSequences: true, returnState: true }).apply(bi.apply(e)) as SymbolicTensor[];
    const last = rnnFactory(
      tf,
      'simpleRNN',
    )({ units: 3 }).apply(seq as SymbolicTensor, { initialState: [h] });
    const model = tf.model({
      inputs: ids,
      outputs: tf.layers.dense({ units: 1 }).apply(last) as SymbolicTensor,
    });
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
    const x = paddedTokens(tf);
    const y = tf.randomNormal([BATCH, 1], 0, 1, 'float32', 11);
    const before = fusedRnnStats().fused;

    // The first steps create the optimizer's slots and the cached int64 sequence lengths.
    for (let s = 0; s < 10; s++) await model.trainOnBatch(x, y);
    const tensors = tf.memory().numTensors;
    const handles = nativeHandles(tf);
    for (let s = 0; s < 1000; s++) await model.trainOnBatch(x, y);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(nativeHandles(tf)).toBe(handles);
    for (let s = 0; s < 300; s++) (model.predict(x) as Tensor).dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(nativeHandles(tf)).toBe(handles);

    // and the fused kernels did the work: 2 LSTM calls (bidirectional) and 1 SimpleRNN per pass; tfjs
    // runs the GRU once per consumer of its outputs (the next layer takes its sequence and its state)
    const passes = 1010 + 300;
    const after = fusedRnnStats().fused;
    expect(after.lstm - before.lstm).toBe(2 * passes);
    expect(after.gru - before.gru).toBeGreaterThanOrEqual(passes);
    expect(after.simpleRNN - before.simpleRNN).toBe(passes);
    model.dispose();
  });
});
