import { describe, expect, it } from 'vitest';
import { getTf, initBackend } from './index';
import { fitTinyLstm } from '../test/test-support';

describe('SEQTRAIN_BACKEND=wasm', () => {
  it('initialises without native TensorFlow', async () => {
    const info = await initBackend({ backend: 'wasm' });
    expect(info).toMatchObject({
      name: 'wasm',
      requested: 'wasm',
      nativeTfVersion: null,
      numericsEnv: {},
      skipped: [],
    });
    expect(getTf().getBackend()).toBe('wasm');
  });

  it('trains a small LSTM', async () => {
    const loss = await fitTinyLstm(getTf());
    expect(loss.every(Number.isFinite)).toBe(true);
    expect(loss.at(-1)).toBeLessThan((loss[0] ?? 0) / 2);
  });
});
