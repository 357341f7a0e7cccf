import { describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  describeAdapter,
  getTf,
  initBackend,
  isHardwareAdapter,
  probeWebGpu,
} from './index';
import { fitTinyLstm } from '../test/test-support';

describe('webgpu adapter classification', () => {
  it('treats Dawn fallback and software rasterisers as no GPU', () => {
    expect(
      isHardwareAdapter({
        vendor: 'google',
        architecture: 'swiftshader',
        description: 'SwiftShader Device (Subzero)',
      }),
    ).toBe(false);
    expect(isHardwareAdapter({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(
      false,
    );
    expect(
      isHardwareAdapter({ vendor: 'nvidia', description: 'NVIDIA H100 80GB HBM3', isFallbackAdapter: true }),
    ).toBe(false);
    expect(
      isHardwareAdapter({
        vendor: 'nvidia',
        architecture: 'hopper',
        description: 'NVIDIA H100 80GB HBM3',
        isFallbackAdapter: false,
      }),
    ).toBe(true);
    expect(
      describeAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3' }),
    ).toBe('nvidia hopper NVIDIA H100 80GB HBM3');
  });
});

describe('SEQTRAIN_BACKEND=webgpu', () => {
  it('trains where Dawn finds an adapter and otherwise names what is missing', async () => {
    const probe = await probeWebGpu();
    if (probe.adapter === null) {
      const err: unknown = await initBackend({ backend: 'webgpu' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect((err as Error).message).toMatch(/^SEQTRAIN_BACKEND=webgpu: .*(adapter|Vulkan|Dawn)/);
      return;
    }
    const info = await initBackend({ backend: 'webgpu' });
    expect(info.name).toBe('webgpu');
    const loss = await fitTinyLstm(getTf());
    expect(loss.every(Number.isFinite)).toBe(true);
    expect(loss.at(-1)).toBeLessThan((loss[0] ?? 0) / 2);
  });
});
