import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, getTf, initBackend, nvidiaDeviceMissing } from './index';

describe('an explicit backend that cannot run here', () => {
  it('getTf() before initBackend() is an error, not a silent default', () => {
    expect(() => getTf()).toThrow(/before initBackend/);
  });

  it('tensorflow-gpu is retired, with an error that says why and points to cuda', async () => {
    const err: unknown = await initBackend({ backend: 'tensorflow-gpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toMatch(
      /^SEQTRAIN_BACKEND=tensorflow-gpu: tensorflow-gpu is retired: @tensorflow\/tfjs-node-gpu .* CUDA 11\.2 and cuDNN 8\.1.*use SEQTRAIN_BACKEND=cuda/,
    );
  });

  it.runIf(nvidiaDeviceMissing() !== null)(
    'cuda fails naming the missing GPU and the missing addon',
    async () => {
      const err: unknown = await initBackend({ backend: 'cuda' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect((err as Error).message).toMatch(/^SEQTRAIN_BACKEND=cuda: no NVIDIA GPU or driver/);
      expect((err as Error).message).toMatch(/the CUDA addon is not built/);
    },
  );

  it('a failed explicit choice loads nothing, so another backend can still be chosen', async () => {
    await expect(initBackend({ backend: 'cpu' })).resolves.toMatchObject({ name: 'cpu' });
  });
});
