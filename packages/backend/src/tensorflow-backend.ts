/**
 * The native TensorFlow backend: tfjs-node (CPU). Availability is checked without loading anything,
 * because loading libtensorflow is irreversible. tfjs-node-gpu is not used (see TENSORFLOW_GPU_RETIRED):
 * GPUs are served by seqtrain's own CUDA kernels (the `cuda` backend, cuda/cuda-kernels.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Tfjs from '@tensorflow/tfjs';
import type { Loaded, Unavailable } from './loaded';
import { applyNumericsEnv, nativeThreads, numericsEnv } from './numerics-env';

const require = createRequire(import.meta.url);

/**
 * Why SEQTRAIN_BACKEND=tensorflow-gpu is refused: @tensorflow/tfjs-node-gpu 4.22 (its last release,
 * 2024) links libtensorflow 2.9 built for CUDA 11.2 and cuDNN 8.1, which current GPU hosts (CUDA 13,
 * cuDNN 9) do not carry, and it could not share a process with tfjs-node.
 */
export const TENSORFLOW_GPU_RETIRED =
  'tensorflow-gpu is retired: @tensorflow/tfjs-node-gpu (last release 2024) needs CUDA 11.2 and cuDNN 8.1, ' +
  "which current GPU hosts do not carry; use SEQTRAIN_BACKEND=cuda (seqtrain's own cuDNN kernels for the " +
  'recurrent layers) or auto';

const PACKAGES = {
  tensorflow: '@tensorflow/tfjs-node',
} as const;
type NativeName = keyof typeof PACKAGES;

/** What the NodeJSKernelBackend exposes beyond KernelBackend. */
interface NodeKernelBackend {
  binding: { TF_Version: string };
  isUsingGpuDevice: boolean;
}

/** Reasons the backend cannot be used here, empty when it can be tried. */
export function tensorflowMissing(name: NativeName): string[] {
  const pkg = PACKAGES[name];
  const missing: string[] = [];
  let pkgJson: string | undefined;
  try {
    pkgJson = require.resolve(`${pkg}/package.json`);
  } catch {
    missing.push(`${pkg} is not installed`);
  }
  if (pkgJson !== undefined) {
    const addon = findAddon(pkgJson);
    if (addon === undefined || !existsSync(addon)) {
      missing.push(
        `the native addon of ${pkg} is not built (${addon ?? 'node-pre-gyp not found'}); ` +
          `run: pnpm exec tsx infra/local/src/provision/tfjs-node-main.ts`,
      );
    }
  }
  return missing;
}

function findAddon(pkgJson: string): string | undefined {
  try {
    const preGyp = createRequire(pkgJson)('@mapbox/node-pre-gyp') as { find: (p: string) => string };
    return preGyp.find(pkgJson);
  } catch {
    return undefined;
  }
}

/** Loads the native library with the numerics environment pinned first. */
export function loadTensorflow(name: NativeName, threads: number | undefined): Loaded | Unavailable {
  const pinned = nativeThreads(threads);
  const env = numericsEnv(pinned, false);
  applyNumericsEnv(env);
  let tf: typeof Tfjs & { version: Record<string, string> };
  try {
    // tfjs-node re-exports @tensorflow/tfjs (the same instance packages/backend resolves) and sets
    // its backend as a side effect of loading.
    tf = require(PACKAGES[name]) as typeof tf;
  } catch (err) {
    return { reasons: [`${PACKAGES[name]} failed to load: ${firstLine(err)}`] };
  }
  const backend = tf.backend() as unknown as Partial<NodeKernelBackend>;
  if (tf.getBackend() !== 'tensorflow' || backend.binding === undefined) {
    return { reasons: [`${PACKAGES[name]} loaded but the active backend is ${tf.getBackend()}`] };
  }
  return {
    tf,
    name: 'tensorflow',
    nativeTfVersion: backend.binding.TF_Version,
    tfjsNodeVersion: tf.version['tfjs-node'] ?? null,
    device: 'CPU (TensorFlow)',
    threads: pinned,
    numericsEnv: env,
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
