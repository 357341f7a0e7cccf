/**
 * The CUDA part of seqtrain's native kernels (native/cuda/: LSTM on cuDNN's RNN API, GRU on cuBLAS
 * with small CUDA kernels, Adam on device-resident weights). Provisioning
 * (infra/local/src/provision/cuda-kernels.ts) builds it only where a CUDA toolkit and cuDNN headers
 * are found, and records what it did in `cuda-kernels/manifest.json` under the cache: the built
 * addon and its key (source hash, nvcc, cuDNN, GPU arch), or the reason it was not built. Nothing
 * here loads CUDA unless every precondition is met, so a machine without a GPU pays one stat per
 * check.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '@seqtrain/contracts';

export const CUDA_KERNELS_DIR = fileURLToPath(new URL('../../native/cuda/', import.meta.url));
/** The translation units, in link order. */
export const CUDA_KERNELS_SOURCES = ['rnn_cudnn.cu', 'gru_cublas.cu', 'napi_cuda.cc'] as const;
export const CUDA_KERNELS_HEADERS = ['seqtrain_cuda.h', 'rnn_internal.h'] as const;
/** The ABI the TypeScript side speaks; the addon reports the one it implements. */
export const CUDA_ABI_VERSION = 1;
/** nvcc flags; part of the key (the -gencode for the GPU's arch is added by the build). */
export const CUDA_KERNELS_FLAGS = [
  '-O3',
  '-std=c++17',
  '-Xcompiler=-fPIC',
  '-Xcompiler=-fvisibility=hidden',
  '-shared',
  '-DNDEBUG',
  '-DNODE_GYP_MODULE_NAME=seqtrain_cuda',
] as const;

/** What provisioning wrote: a build, or why there is none. */
export type CudaManifest =
  | {
      built: true;
      sourceHash: string;
      path: string;
      nvccVersion: string;
      cudnnVersion: string;
      arch: string;
      builtAt: string;
    }
  | { built: false; sourceHash: string; reason: string; checkedAt: string };

export function cudaManifestPath(cacheDir: string): string {
  return join(cacheDir, 'cuda-kernels', 'manifest.json');
}

/** Hash of the CUDA sources, the flags and the Node ABI; the build adds nvcc, cuDNN and arch. */
export function cudaSourceHash(): string {
  const hash = createHash('sha256');
  for (const file of [...CUDA_KERNELS_SOURCES, ...CUDA_KERNELS_HEADERS]) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(CUDA_KERNELS_DIR, file)));
  }
  hash.update(`\0${CUDA_KERNELS_FLAGS.join(' ')}\0${process.versions.modules}\0${process.arch}\0`);
  return hash.digest('hex').slice(0, 16);
}

/** Where a build with this key lives. */
export function cudaKernelsPath(
  cacheDir: string,
  key: { nvccVersion: string; cudnnVersion: string; arch: string },
): string {
  const hash = createHash('sha256');
  hash.update(`${cudaSourceHash()}\0${key.nvccVersion}\0${key.cudnnVersion}\0${key.arch}`);
  return join(cacheDir, 'cuda-kernels', hash.digest('hex').slice(0, 16), 'seqtrain_cuda.node');
}

export interface CudaEnvironment {
  /** files that exist; injectable for tests */
  exists?: (path: string) => boolean;
  /** directories to search for libcuda.so.1 besides the usual ones */
  libraryPath?: string | undefined;
}

/** Why no NVIDIA GPU is usable here, or null. Checks only files: nothing is loaded. */
export function nvidiaDeviceMissing(env: CudaEnvironment = {}): string | null {
  const exists = env.exists ?? existsSync;
  if (!exists('/dev/nvidia0') && !exists('/proc/driver/nvidia/gpus') && !exists('/dev/nvidiactl')) {
    return 'no NVIDIA GPU or driver (no /dev/nvidia0, /dev/nvidiactl or /proc/driver/nvidia/gpus)';
  }
  const dirs = [
    ...(env.libraryPath ?? process.env.LD_LIBRARY_PATH ?? '').split(delimiter).filter((d) => d !== ''),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/nvidia/lib64',
    '/usr/local/nvidia/lib',
    '/usr/lib/wsl/lib',
  ];
  if (!dirs.some((d) => exists(join(d, 'libcuda.so.1')))) {
    return `the NVIDIA driver library libcuda.so.1 was not found (looked in LD_LIBRARY_PATH and ${dirs.slice(-7).join(', ')})`;
  }
  return null;
}

/** What provisioning recorded, or why the recorded build cannot be used. */
export function readCudaManifest(
  cacheDir: string,
): { manifest: CudaManifest & { built: true } } | { reason: string } {
  const file = cudaManifestPath(cacheDir);
  if (!existsSync(file)) {
    return {
      reason: `the CUDA addon is not built (${file} missing: provisioning has not looked for nvcc and cuDNN here; run ./dev setup)`,
    };
  }
  let manifest: CudaManifest;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as CudaManifest;
  } catch (err) {
    return { reason: `the CUDA addon manifest ${file} is unreadable: ${errorMessage(err)}` };
  }
  if (!manifest.built) return { reason: `the CUDA addon is not built: ${manifest.reason}` };
  if (manifest.sourceHash !== cudaSourceHash()) {
    return {
      reason: `the CUDA addon at ${manifest.path} was built from other sources (run ./dev setup to rebuild)`,
    };
  }
  if (!existsSync(manifest.path))
    return { reason: `the CUDA addon ${manifest.path} is missing (run ./dev setup)` };
  return { manifest };
}

/** Everything that stands between this process and the CUDA kernels, without loading anything. */
export function cudaMissing(cacheDir: string, env: CudaEnvironment = {}): string[] {
  const reasons: string[] = [];
  const device = nvidiaDeviceMissing(env);
  if (device !== null) reasons.push(device);
  const built = readCudaManifest(cacheDir);
  if ('reason' in built) reasons.push(built.reason);
  return reasons;
}

/** The addon's Node-API surface (native/cuda/napi_cuda.cc). */
export interface CudaKernels {
  abiVersion: number;
  /** cudaGetDeviceCount and the first device's properties; never throws */
  probe: () =>
    | {
        ok: true;
        device: string;
        computeCapability: string;
        memoryBytes: number;
        cudnnVersion: number;
        cudaRuntimeVersion: number;
        driverVersion: number;
      }
    | { ok: false; reason: string };
  createTrainer: (args: CudaTrainerArgs) => CudaTrainer;
  /** `steps` (default 1) Adam steps of the whole model on one batch; the last step's loss before its update */
  trainerStep: (t: CudaTrainer, batch: CudaBatch, steps?: number) => number;
  /** loss and gradients in Keras layout, weights untouched (for agreement checks) */
  trainerGradients: (
    t: CudaTrainer,
    batch: CudaBatch,
  ) => { loss: number; grads: CudaWeights; hLast: Float32Array };
  /** the weights, copied back, in Keras layout */
  trainerWeights: (t: CudaTrainer) => CudaWeights;
  /** frees the device memory now (else the garbage collector does) */
  trainerFree: (t: CudaTrainer) => void;
}

/** Keras/tfjs layout: kernel [F, G*H], recurrentKernel [H, G*H], bias [G*H]; G = 4 (i, f, c, o) or 3 (z, r, h). */
export interface CudaWeights {
  kernel: Float32Array;
  recurrentKernel: Float32Array;
  bias: Float32Array;
  denseKernel: Float32Array;
  denseBias: Float32Array;
}

export interface CudaTrainerArgs {
  cell: 'lstm' | 'gru';
  batch: number;
  timeSteps: number;
  inputs: number;
  units: number;
  outputs: number;
  weights: CudaWeights;
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** 'fp32' (FMA only, the default: what the agreement checks need) or 'tf32' (tensor cores allowed) */
  math?: 'fp32' | 'tf32';
}

/** x [B, T, F] batch-major, y [B, outputs]; lengths [B] (right-padded sequences) or omitted (all T). */
export interface CudaBatch {
  x: Float32Array;
  y: Float32Array;
  lengths?: Int32Array | null;
}

export type CudaTrainer = { readonly __cudaTrainer: unique symbol };

/** Loads the addon when everything is in place; otherwise the reasons. */
export function loadCudaKernels(
  cacheDir: string,
  env: CudaEnvironment = {},
): { kernels: CudaKernels; path: string } | { reasons: string[] } {
  const missing = cudaMissing(cacheDir, env);
  if (missing.length > 0) return { reasons: missing };
  const built = readCudaManifest(cacheDir);
  if ('reason' in built) return { reasons: [built.reason] };
  return loadCudaAddon(built.manifest.path);
}

/** Loads an addon file directly (bench/gpu builds its own) and checks its ABI. */
export function loadCudaAddon(path: string): { kernels: CudaKernels; path: string } | { reasons: string[] } {
  try {
    const kernels = createRequire(import.meta.url)(path) as CudaKernels;
    if (kernels.abiVersion !== CUDA_ABI_VERSION) {
      return { reasons: [`${path} implements CUDA ABI ${kernels.abiVersion}, expected ${CUDA_ABI_VERSION}`] };
    }
    return { kernels, path };
  } catch (err) {
    return { reasons: [`the CUDA addon ${path} does not load: ${errorMessage(err).split('\n')[0] ?? ''}`] };
  }
}

export interface CudaKernelsStatus {
  available: boolean;
  /** why not, naming what is missing; null when available */
  reason: string | null;
  /** the GPU, when available */
  device: string | null;
  path: string | null;
}

let probed: { cacheDir: string; status: CudaKernelsStatus } | undefined;

/**
 * Whether the CUDA part can run here, and why not (the `seqtrain status` line, BackendInfo). Loads
 * the addon and asks the driver only when the files say it can work; the answer is cached per
 * process.
 */
export function cudaKernelsStatus(cacheDir: string, env: CudaEnvironment = {}): CudaKernelsStatus {
  if (probed?.cacheDir === cacheDir && env.exists === undefined) return probed.status;
  const loaded = loadCudaKernels(cacheDir, env);
  let status: CudaKernelsStatus;
  if ('reasons' in loaded) {
    status = { available: false, reason: loaded.reasons.join('; '), device: null, path: null };
  } else {
    const p = loaded.kernels.probe();
    status = p.ok
      ? {
          available: true,
          reason: null,
          device: `${p.device} (sm_${p.computeCapability.replace('.', '')}, cuDNN ${p.cudnnVersion})`,
          path: loaded.path,
        }
      : {
          available: false,
          reason: `the CUDA addon loaded but ${p.reason}`,
          device: null,
          path: loaded.path,
        };
  }
  if (env.exists === undefined) probed = { cacheDir, status };
  return status;
}

/** Directories under a Python venv's site-packages where the nvidia-* wheels put headers and libraries. */
export function nvidiaWheelDirs(sitePackages: string): string[] {
  const root = join(sitePackages, 'nvidia');
  try {
    return readdirSync(root).map((d) => join(root, d));
  } catch {
    return [];
  }
}
