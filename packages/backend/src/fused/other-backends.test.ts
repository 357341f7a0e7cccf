import { describe, expect, it } from 'vitest';
import { SeqtrainError } from '@seqtrain/contracts';
import { fusedRnnStats, getTf, initBackend, registerFusedRnnKernels } from '../index';

describe('fused recurrent kernels on a backend other than tensorflow', () => {
  it('are not registered, so tfjs-layers runs its own loop; registering by hand is refused', async () => {
    await initBackend({ backend: 'cpu' });
    const tf = getTf();
    const input = tf.input({ shape: [3, 2] });
    const layer = tf.layers.lstm({ units: 2, recurrentActivation: 'sigmoid' });
    const model = tf.model({ inputs: input, outputs: layer.apply(input) as ReturnType<typeof tf.input> });
    const y = model.predict(tf.ones([1, 3, 2])) as ReturnType<typeof tf.ones>;
    expect(y.shape).toEqual([1, 2]);
    expect(fusedRnnStats().fused).toEqual({ lstm: 0, gru: 0, simpleRNN: 0 });
    expect(() => registerFusedRnnKernels(tf)).toThrow(SeqtrainError);
    expect(() => registerFusedRnnKernels(tf)).toThrow(/tfjs-node backend \(the active backend is cpu\)/);
  });
});
