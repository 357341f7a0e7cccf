import { describe, expect, it } from 'vitest';
import { getTf, initBackend } from './index';
import { fitTinyLstm } from '../test/test-support';

describe('SEQTRAIN_BACKEND=tensorflow', () => {
  it('runs native TensorFlow 2.21 with the numerics environment pinned before it loaded', async () => {
    const info = await initBackend({ backend: 'tensorflow', threads: 1 });
    expect(info).toMatchObject({
      name: 'tensorflow',
      requested: 'tensorflow',
      tfjsVersion: '4.22.0',
      tfjsNodeVersion: '4.22.0',
    });
    expect(info.nativeTfVersion).toMatch(/^2\.21\./);
    expect(info.threads).toEqual({ intraOp: 1, interOp: 1 });
    expect(info.numericsEnv).toEqual({
      TF_ENABLE_ONEDNN_OPTS: '0',
      TF_NUM_INTRAOP_THREADS: '1',
      TF_NUM_INTEROP_THREADS: '1',
    });
    for (const [k, v] of Object.entries(info.numericsEnv)) expect(process.env[k]).toBe(v);
    expect(getTf().getBackend()).toBe('tensorflow');
  });

  it('shares one tfjs instance with code that imports @tensorflow/tfjs itself', async () => {
    const tfjs = await import('@tensorflow/tfjs');
    expect(tfjs.getBackend()).toBe('tensorflow');
    expect(tfjs.engine()).toBe(getTf().engine());
  });

  it('trains a small LSTM', async () => {
    const loss = await fitTinyLstm(getTf());
    expect(loss.every(Number.isFinite)).toBe(true);
    expect(loss.at(-1)).toBeLessThan((loss[0] ?? 0) / 2);
  });

  it('refuses a second, different backend in the same process', async () => {
    await expect(initBackend({ backend: 'cpu' })).rejects.toThrow(/only one backend/);
    await expect(initBackend({ backend: 'tensorflow', threads: 1 })).resolves.toMatchObject({
      name: 'tensorflow',
    });
  });
});
