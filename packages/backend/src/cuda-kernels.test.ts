import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CUDA_ABI_VERSION,
  cudaKernelsStatus,
  cudaManifestPath,
  cudaMissing,
  cudaSourceHash,
  nvidiaDeviceMissing,
  type CudaManifest,
} from './index';

const gpuFiles = (extra: string[] = []) => {
  const present = new Set([
    '/dev/nvidia0',
    '/dev/nvidiactl',
    '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
    ...extra,
  ]);
  return (p: string) => present.has(p) || [...present].some((q) => p.startsWith(`${q}/`));
};

function cache(manifest?: CudaManifest, addon?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'seqtrain-cuda-'));
  if (manifest !== undefined) {
    mkdirSync(join(dir, 'cuda-kernels'), { recursive: true });
    writeFileSync(cudaManifestPath(dir), JSON.stringify(manifest));
  }
  if (addon !== undefined) writeFileSync(join(dir, 'addon.cjs'), addon);
  return dir;
}

const built = (dir: string, sourceHash = cudaSourceHash()): CudaManifest => ({
  built: true,
  sourceHash,
  path: join(dir, 'addon.cjs'),
  nvccVersion: '13.0',
  cudnnVersion: '9.28.1',
  arch: 'sm_90',
  builtAt: 'now',
});

describe('the CUDA part, where it cannot run', () => {
  it('names the missing GPU first, then the driver library', () => {
    expect(nvidiaDeviceMissing({ exists: () => false })).toMatch(
      /^no NVIDIA GPU or driver \(no \/dev\/nvidia0/,
    );
    expect(nvidiaDeviceMissing({ exists: (p) => p === '/dev/nvidia0', libraryPath: '' })).toMatch(
      /^the NVIDIA driver library libcuda\.so\.1 was not found/,
    );
    expect(nvidiaDeviceMissing({ exists: gpuFiles(), libraryPath: '' })).toBeNull();
    expect(
      nvidiaDeviceMissing({ exists: gpuFiles(['/opt/drv/libcuda.so.1']), libraryPath: '/opt/drv' }),
    ).toBeNull();
  });

  it('without a manifest, says provisioning never looked', () => {
    expect(cudaMissing(cache(), { exists: gpuFiles() })).toEqual([
      expect.stringMatching(
        /^the CUDA addon is not built \(.*manifest\.json missing: provisioning has not looked/,
      ),
    ]);
  });

  it("repeats provisioning's reason when it found no toolkit", () => {
    const dir = cache({
      built: false,
      sourceHash: 'x',
      reason: 'nvcc not found (PATH, CUDA_HOME)',
      checkedAt: 'now',
    });
    expect(cudaMissing(dir, { exists: gpuFiles() })).toEqual([
      'the CUDA addon is not built: nvcc not found (PATH, CUDA_HOME)',
    ]);
    // both reasons when neither GPU nor addon
    expect(cudaMissing(dir, { exists: () => false })).toHaveLength(2);
  });

  it('refuses a build of other sources', () => {
    const dir = cache();
    const d2 = cache(built(dir, 'feedfacefeedface'));
    expect(cudaMissing(d2, { exists: gpuFiles() })[0]).toMatch(/was built from other sources/);
  });

  it('loads the addon only when everything is in place, and reports its ABI and driver answers', () => {
    const good = cache(
      undefined,
      `module.exports = { abiVersion: ${CUDA_ABI_VERSION}, probe: () => ({ ok: false, reason: 'cudaGetDeviceCount: no CUDA-capable device is detected' }) };`,
    );
    mkdirSync(join(good, 'cuda-kernels'), { recursive: true });
    writeFileSync(cudaManifestPath(good), JSON.stringify(built(good)));
    expect(cudaKernelsStatus(good, { exists: gpuFiles([join(good, 'addon.cjs')]) })).toMatchObject({
      available: false,
      reason: 'the CUDA addon loaded but cudaGetDeviceCount: no CUDA-capable device is detected',
    });
    const gpu = cache(
      undefined,
      `module.exports = { abiVersion: ${CUDA_ABI_VERSION}, probe: () => ({ ok: true, device: 'NVIDIA H200', computeCapability: '9.0', memoryBytes: 1, cudnnVersion: 92801, cudaRuntimeVersion: 13000, driverVersion: 13000 }) };`,
    );
    mkdirSync(join(gpu, 'cuda-kernels'), { recursive: true });
    writeFileSync(cudaManifestPath(gpu), JSON.stringify(built(gpu)));
    expect(cudaKernelsStatus(gpu, { exists: gpuFiles() })).toMatchObject({
      available: true,
      reason: null,
      device: 'NVIDIA H200 (sm_90, cuDNN 92801)',
    });
    const wrongAbi = cache(undefined, `module.exports = { abiVersion: 999 };`);
    mkdirSync(join(wrongAbi, 'cuda-kernels'), { recursive: true });
    writeFileSync(cudaManifestPath(wrongAbi), JSON.stringify(built(wrongAbi)));
    expect(cudaKernelsStatus(wrongAbi, { exists: gpuFiles() }).reason).toMatch(
      /implements CUDA ABI 999, expected 1/,
    );
  });

  it.runIf(nvidiaDeviceMissing() !== null)(
    'on this machine: absent, the first reason the missing GPU',
    () => {
      const status = cudaKernelsStatus(cache());
      expect(status.available).toBe(false);
      expect(status.reason).toMatch(/^no NVIDIA GPU or driver .*; the CUDA addon is not built/);
    },
  );
});
