import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { fusedRnnStats, getTf, initBackend } from '../index';
import { BATCH, paddedTokens, rnnFactory, STEPS, VOCAB } from '../../test/fused/test-cases';

/** tfjs-node's count of live native TensorFlow tensor handles. */
function nativeHandles(tf: ReturnType<typeof getTf>): number {
  return (tf.backend() as unknown as { getNumOfTFTensors(): number }).getNumOfTFTensors();
}

describe('fused recurrent kernels: memory', () => {
  it('leak neither tfjs tensors nor native handles over 1,000 training steps and 200 predictions', async () => {
    await initBackend({ backend: 'tensorflow', threads: 1 });
    const tf = getTf();
    // Every fused path in one model: masked LSTM (backwards, returning states), SimpleRNN, and a GRU
    // whose initial state is both LSTM states. (The state-initialised layer comes last: tfjs-layers
    // 4.22 leaks initialState into later RNN layers' kwargs unless patched, see packages/model.)
    const ids = tf.input({ shape: [STEPS], dtype: 'int32' });
    const e = tf.layers
      .embedding({ inputDim: VOCAB, outputDim: 4, maskZero: true })
      .apply(ids) as SymbolicTensor;
    const lstm = rnnFactory(
      tf,
      'lstm',
    )({ units: 4, returnSequences: true, returnState: true, goBackwards: true });
    const [lstmSeq, lstmH, lstmC] = lstm.apply(e) as SymbolicTensor[];
    const seq = rnnFactory(
      tf,
      'simpleRNN',
    )({ units: 4, returnSequences: true }).apply(lstmSeq as SymbolicTensor);
    const h0 = tf.layers.add().apply([lstmH as SymbolicTensor, lstmC as SymbolicTensor]) as SymbolicTensor;
    const last = rnnFactory(tf, 'gru')({ units: 4 }).apply(seq, { initialState: [h0] });
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
    for (let s = 0; s < 200; s++) (model.predict(x) as Tensor).dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(nativeHandles(tf)).toBe(handles);
    // and the fused kernels did the work; tfjs runs a layer once per consumer of its outputs (the
    // LSTM's sequence and states feed different layers)
    const passes = 1010 + 200;
    const after = fusedRnnStats().fused;
    expect(after.lstm - before.lstm).toBeGreaterThanOrEqual(passes);
    expect(after.simpleRNN - before.simpleRNN).toBe(passes);
    expect(after.gru - before.gru).toBe(passes);
    expect(after.simpleRNN - before.simpleRNN).toBe(passes);
    model.dispose();
  });
});
