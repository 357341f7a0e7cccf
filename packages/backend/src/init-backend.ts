/**
 * Chooses and initialises the TensorFlow.js backend once per process, at worker start. Every other
 * package computes with the `tf` namespace returned by getTf(), so that the whole process shares the
 * one tfjs instance whose backend was set here.
 */
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import { SeqtrainError, loadConfig, type BackendName } from '@seqtrain/contracts';
import type * as Tfjs from '@tensorflow/tfjs';
import { isLoaded, type Loaded, type Unavailable } from './loaded';
import { registerFusedRnnKernels } from './fused/patch-layers';
import { cudaKernelsStatus } from './cuda/cuda-kernels';
import { TENSORFLOW_GPU_RETIRED, loadTensorflow, tensorflowMissing } from './tensorflow-backend';
import { loadWebGpu } from './webgpu';

const require = createRequire(import.meta.url);

export type Tf = typeof Tfjs;
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

/**
 * Fastest first: the order auto mode tries. `cuda`: the recurrent layers on seqtrain's cuDNN kernels,
 * the rest of the model on the best of the backends after webgpu. `tensorflow-gpu` is retired (see
 * TENSORFLOW_GPU_RETIRED) and never tried.
 */
export const BACKEND_PREFERENCE: readonly ConcreteBackend[] = ['cuda', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

export interface InitBackendOptions {
  backend: BackendName;
  /** Native intra-op threads (config.threads); defaults to the available cores. */
  threads?: number;
  /** Where provisioning built the native kernels (config.cacheDir; default from the environment). */
  cacheDir?: string;
  log?: (msg: string) => void;
}

/** What the worker logs and what run metadata records. */
export interface BackendInfo {
  name: ConcreteBackend;
  requested: BackendName;
  /** Version of @tensorflow/tfjs. */
  tfjsVersion: string;
  tfjsNodeVersion: string | null;
  /** libtensorflow's TF_Version() on the native backends. */
  nativeTfVersion: string | null;
  device: string;
  threads: { intraOp: number; interOp: number };
  /** Environment pinned before the native library loaded; empty for the JS/WASM/WebGPU backends. */
  numericsEnv: Record<string, string>;
  /** In auto mode, the faster backends that were passed over and why. */
  skipped: { name: ConcreteBackend; reason: string }[];
  /** `cuda` only: the tfjs backend that computes everything but the recurrent layers. */
  rest?: ConcreteBackend;
}

/** An explicitly configured backend cannot run here; the message says what is missing. */
export class BackendUnavailableError extends SeqtrainError {
  override readonly name = 'BackendUnavailableError';
}

let current: { key: string; info: BackendInfo; tf: Tf } | undefined;
let pending: { key: string; promise: Promise<BackendInfo> } | undefined;

export async function initBackend(options: InitBackendOptions): Promise<BackendInfo> {
  const key = JSON.stringify([options.backend, options.threads ?? null]);
  if (current !== undefined || pending !== undefined) {
    const held = current?.key ?? pending?.key;
    if (held !== key) {
      throw new SeqtrainError(
        `initBackend was already called with ${held}; a process can initialise only one backend (asked for ${key})`,
      );
    }
    return current?.info ?? (pending as { promise: Promise<BackendInfo> }).promise;
  }
  const promise = select(options).then((res) => {
    current = { key, info: res.info, tf: res.tf };
    return res.info;
  });
  pending = { key, promise };
  try {
    return await promise;
  } finally {
    pending = undefined;
  }
}

/** The tfjs namespace initBackend set up (for tensorflow it is tfjs-node's superset of it). */
export function getTf(): Tf {
  if (current === undefined) throw new SeqtrainError('getTf() called before initBackend() finished');
  return current.tf;
}

async function select(options: InitBackendOptions): Promise<{ info: BackendInfo; tf: Tf }> {
  const log = options.log ?? (() => undefined);
  const skipped: BackendInfo['skipped'] = [];
  if (options.backend !== 'auto') {
    const res = await tryBackend(options.backend, options);
    if (!isLoaded(res)) {
      throw new BackendUnavailableError(`SEQTRAIN_BACKEND=${options.backend}: ${res.reasons.join('; ')}`);
    }
    return finish(res, options.backend, skipped, log);
  }
  for (const name of BACKEND_PREFERENCE) {
    const res = await tryBackend(name, options);
    if (isLoaded(res)) return finish(res, 'auto', skipped, log);
    skipped.push({ name, reason: res.reasons.join('; ') });
    log(`backend ${name} unavailable: ${res.reasons.join('; ')}`);
  }
  // cpu is pure JavaScript and always loads; reaching this means tfjs itself is broken.
  throw new BackendUnavailableError(
    `SEQTRAIN_BACKEND=auto: no backend could be initialised (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})`,
  );
}

/** A loaded `cuda` backend: the rest of the model runs on `rest`. */
type CudaLoaded = Loaded & { rest: Loaded };

async function tryBackend(name: ConcreteBackend, options: InitBackendOptions): Promise<Loaded | Unavailable> {
  const auto = options.backend === 'auto';
  switch (name) {
    case 'tensorflow-gpu':
      return { reasons: [TENSORFLOW_GPU_RETIRED] };
    case 'cuda':
      return loadCuda(options);
    case 'tensorflow': {
      const missing = tensorflowMissing(name);
      return missing.length > 0 ? { reasons: missing } : loadTensorflow(name, options.threads);
    }
    case 'webgpu':
      return loadWebGpu(auto);
    case 'wasm':
      return loadWasm();
    case 'cpu':
      return loadCpu();
  }
}

/**
 * `cuda`: checks the GPU, the driver and the built addon first (files only), then asks the driver
 * through the addon, and only then initialises the best CPU-side tfjs backend for the rest of the
 * model, so that a failed `cuda` loads nothing and auto can go on to the next backend.
 */
async function loadCuda(options: InitBackendOptions): Promise<CudaLoaded | Unavailable> {
  const status = cudaKernelsStatus(options.cacheDir ?? loadConfig(process.env).cacheDir);
  if (!status.available) return { reasons: [status.reason ?? 'the CUDA kernels are unavailable'] };
  const restReasons: string[] = [];
  for (const rest of ['tensorflow', 'wasm', 'cpu'] as const) {
    const res = await tryBackend(rest, { ...options, backend: rest });
    if (isLoaded(res)) {
      return {
        ...res,
        name: 'cuda',
        device: `${status.device ?? 'CUDA GPU'} (seqtrain CUDA kernels) + ${res.device}`,
        rest: res,
      };
    }
    restReasons.push(`${rest}: ${res.reasons.join('; ')}`);
  }
  return { reasons: [`no tfjs backend for the rest of the model (${restReasons.join('; ')})`] };
}

async function loadWasm(): Promise<Loaded | Unavailable> {
  const tf = require('@tensorflow/tfjs') as Tf;
  let wasm: { setWasmPaths: (prefix: string) => void };
  try {
    wasm = require('@tensorflow/tfjs-backend-wasm') as typeof wasm;
  } catch (err) {
    return { reasons: [`@tensorflow/tfjs-backend-wasm is not installed (${String(err)})`] };
  }
  // A file-path prefix: the .wasm binaries are read from the package, never fetched.
  wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}${sep}`);
  if (!(await tf.setBackend('wasm'))) return { reasons: ['tfjs-backend-wasm failed to initialise'] };
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return {
    tf,
    name: 'wasm',
    nativeTfVersion: null,
    tfjsNodeVersion: null,
    // tfjs-backend-wasm has no multithreading under Node (tfjs issue 3830).
    device: simd === true ? 'CPU (WebAssembly SIMD, XNNPACK)' : 'CPU (WebAssembly)',
    threads: { intraOp: 1, interOp: 1 },
    numericsEnv: {},
  };
}

async function loadCpu(): Promise<Loaded | Unavailable> {
  const tf = require('@tensorflow/tfjs') as Tf;
  if (!(await tf.setBackend('cpu'))) return { reasons: ['tfjs-backend-cpu failed to initialise'] };
  return {
    tf,
    name: 'cpu',
    nativeTfVersion: null,
    tfjsNodeVersion: null,
    device: 'CPU (JavaScript)',
    threads: { intraOp: 1, interOp: 1 },
    numericsEnv: {},
  };
}

async function finish(
  res: Loaded,
  requested: BackendName,
  skipped: BackendInfo['skipped'],
  log: (msg: string) => void,
): Promise<{ info: BackendInfo; tf: Tf }> {
  const { tf } = res;
  await tf.ready();
  const rest = 'rest' in res ? (res as CudaLoaded).rest.name : undefined;
  if (tf.getBackend() !== backendRegistryName(rest ?? res.name)) {
    throw new BackendUnavailableError(
      `SEQTRAIN_BACKEND=${requested}: ${res.name} initialised but tfjs reports backend ${tf.getBackend()}`,
    );
  }
  // Recurrent layers run as fused native kernels on CPU TensorFlow (see fused/patch-layers.ts).
  // With `cuda` they stay on the CPU kernels until the layer patch routes them to the CUDA addon.
  if ((rest ?? res.name) === 'tensorflow') registerFusedRnnKernels(tf, { threads: res.threads.intraOp });
  const info: BackendInfo = {
    name: res.name,
    requested,
    tfjsVersion: tf.version.tfjs,
    tfjsNodeVersion: res.tfjsNodeVersion,
    nativeTfVersion: res.nativeTfVersion,
    device: res.device,
    threads: res.threads,
    numericsEnv: res.numericsEnv,
    skipped,
    ...(rest !== undefined ? { rest } : {}),
  };
  log(
    `backend ${info.name} (${info.device}), tfjs ${info.tfjsVersion}` +
      (info.nativeTfVersion !== null ? `, TensorFlow ${info.nativeTfVersion}` : '') +
      `, threads intra=${info.threads.intraOp} inter=${info.threads.interOp}`,
  );
  return { info, tf };
}

/** The name tfjs registers the backend under. */
function backendRegistryName(name: ConcreteBackend): string {
  return name;
}
