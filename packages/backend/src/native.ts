/**
 * The native TensorFlow backends: tfjs-node (CPU) and tfjs-node-gpu (CUDA). Availability is checked
 * without loading anything, because loading libtensorflow is irreversible and both packages register
 * the same backend name: a process can hold only one of them.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Tfjs from '@tensorflow/tfjs';
import type { Loaded, Unavailable } from './loaded';
import { applyNumericsEnv, nativeThreads, numericsEnv } from './numerics-env';

const require = createRequire(import.meta.url);

const PACKAGES = {
  tensorflow: '@tensorflow/tfjs-node',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
} as const;
type NativeName = keyof typeof PACKAGES;

/** What the NodeJSKernelBackend exposes beyond KernelBackend. */
interface NodeKernelBackend {
  binding: { TF_Version: string };
  isUsingGpuDevice: boolean;
}

/** Reasons the backend cannot be used here, empty when it can be tried. */
export function nativeMissing(name: NativeName): string[] {
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
  if (name === 'tensorflow-gpu' && !hasCudaDevice())
    missing.push('no CUDA device found (no /dev/nvidiactl or /proc/driver/nvidia/gpus)');
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

function hasCudaDevice(): boolean {
  if (!existsSync('/dev/nvidiactl')) return false;
  try {
    return readdirSync('/proc/driver/nvidia/gpus').length > 0;
  } catch {
    // Containers often expose the device nodes without the procfs view.
    return existsSync('/dev/nvidia0');
  }
}

/**
 * Loads the native library with the numerics environment pinned first. `acceptCpu` (auto mode):
 * tfjs-node-gpu without a usable GPU still is native TensorFlow on the CPU, and as it has already
 * claimed the backend name, that is the best this process can have.
 */
export function loadNative(
  name: NativeName,
  threads: number | undefined,
  acceptCpu = false,
): Loaded | Unavailable {
  const pinned = nativeThreads(threads);
  const env = numericsEnv(pinned, name === 'tensorflow-gpu');
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
  const gpu = backend.isUsingGpuDevice === true;
  if (name === 'tensorflow-gpu' && !gpu && !acceptCpu) {
    return {
      reasons: [
        '@tensorflow/tfjs-node-gpu loaded but TensorFlow found no usable CUDA device (check the CUDA/cuDNN libraries)',
      ],
    };
  }
  return {
    tf,
    name: gpu ? 'tensorflow-gpu' : 'tensorflow',
    nativeTfVersion: backend.binding.TF_Version,
    tfjsNodeVersion: tf.version['tfjs-node'] ?? null,
    device: gpu ? 'CUDA GPU' : 'CPU (TensorFlow)',
    threads: pinned,
    numericsEnv: env,
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
