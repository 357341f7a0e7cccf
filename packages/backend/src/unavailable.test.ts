import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, getTf, initBackend } from './index';

describe('an explicit backend that cannot run here', () => {
  it('getTf() before initBackend() is an error, not a silent default', () => {
    expect(() => getTf()).toThrow(/before initBackend/);
  });

  it('tensorflow-gpu fails naming what is missing', async () => {
    const err: unknown = await initBackend({ backend: 'tensorflow-gpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(
      /^SEQTRAIN_BACKEND=tensorflow-gpu: @tensorflow\/tfjs-node-gpu is not installed/,
    );
  });

  it('a failed explicit choice loads nothing, so another backend can still be chosen', async () => {
    await expect(initBackend({ backend: 'cpu' })).resolves.toMatchObject({ name: 'cpu' });
  });
});
