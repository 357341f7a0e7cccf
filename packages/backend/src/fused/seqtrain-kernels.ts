/**
 * seqtrain's LSTM, GRU and SimpleRNN sequence kernels (native/rnn_kernels.cc, a Node-API addon built from
 * source by provisioning into the cache). They hoist every product that does not depend on the
 * recurrence out of the time loop, which TensorFlow's BlockLSTM and GRUBlockCell kernels do not, and
 * split the batch across the native threads. When the addon is missing the fused sequences run on
 * those TensorFlow kernels.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '@seqtrain/contracts';

export const RNN_KERNELS_SOURCE = fileURLToPath(new URL('../../native/rnn_kernels.cc', import.meta.url));
/** The ABI the TypeScript side speaks; the addon reports the one it implements. */
const ABI_VERSION = 6;

/**
 * Compiler flags; part of the cache key. -march=native: the addon is built on the machine that runs
 * it (the CPU's flags are part of the key too), so a worker on another CPU type builds its own.
 */
export const RNN_KERNELS_FLAGS = [
  '-O3',
  '-std=c++17',
  '-march=native',
  '-DNDEBUG',
  '-DEIGEN_NO_DEBUG',
  '-DNODE_GYP_MODULE_NAME=seqtrain_rnn',
  '-fPIC',
  '-shared',
  '-pthread',
  '-fvisibility=hidden',
] as const;

export interface ForwardArgs {
  x: Float32Array;
  h0: Float32Array;
  /** LSTM only */
  c0?: Float32Array;
  kernel: Float32Array;
  recurrentKernel: Float32Array;
  bias: Float32Array | null;
  timeSteps: number;
  batch: number;
  inputs: number;
  units: number;
  threads: number;
  /** keep a tape for the backward (default true); false for inference frees everything at once */
  keep?: boolean;
  /** return only the last step's h and c ([B, H]; default false: every step's) */
  lastOnly?: boolean;
  /** recurrent dropout: [B, H], multiplies h_prev in the recurrent products at every step */
  recurrentMask?: Float32Array | null;
}

/**
 * Opaque: the activations one forward keeps for its backward. The backward frees them, the input
 * gradient what is left; the garbage collector frees a tape whose input gradient is never taken.
 */
export type SequenceTape = { readonly __sequenceTape: unique symbol };

export interface ForwardResult {
  /** every step's h, [T, B, H] ([B, H]: the last step's, with lastOnly) */
  h: Float32Array;
  /** LSTM: every step's c, [T, B, H] ([B, H] with lastOnly) */
  c?: Float32Array;
  /** null when the forward was asked not to keep one */
  tape: SequenceTape | null;
}

export interface BackwardResult {
  dh0: Float32Array;
  /** LSTM only */
  dc0?: Float32Array;
  dKernel: Float32Array;
  dRecurrentKernel: Float32Array;
  dBias: Float32Array | null;
}

/** dh, dc: every step's ([T, B, H]), the last step's ([B, H]) or null. */
export interface BackwardArgs {
  tape: SequenceTape;
  dh: Float32Array | null;
  /** LSTM only */
  dc?: Float32Array | null;
}

/** The addon's functions do not use `this`: they can be passed around unbound. */
export interface RnnKernels {
  abiVersion: number;
  lstmForward: (args: ForwardArgs) => ForwardResult;
  lstmBackward: (args: BackwardArgs) => BackwardResult;
  /** dx [T, B, I]; once, after the backward on the same tape */
  lstmInputGrad: (args: { tape: SequenceTape }) => Float32Array;
  gruForward: (args: ForwardArgs) => ForwardResult;
  gruBackward: (args: BackwardArgs) => BackwardResult;
  gruInputGrad: (args: { tape: SequenceTape }) => Float32Array;
  simpleRnnForward: (args: ForwardArgs) => ForwardResult;
  simpleRnnBackward: (args: BackwardArgs) => BackwardResult;
  simpleRnnInputGrad: (args: { tape: SequenceTape }) => Float32Array;
}

/** Where the addon for this source, these flags, this Node ABI and this CPU lives in the cache. */
export function rnnKernelsPath(cacheDir: string): string {
  const hash = createHash('sha256');
  hash.update(readFileSync(RNN_KERNELS_SOURCE));
  hash.update(`\0${RNN_KERNELS_FLAGS.join(' ')}\0${process.versions.modules}\0${process.arch}\0`);
  hash.update(cpuIdentity());
  return join(cacheDir, 'rnn-kernels', hash.digest('hex').slice(0, 16), 'seqtrain_rnn.node');
}

/** The CPU model and feature flags (what -march=native compiles for). */
function cpuIdentity(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    return info.match(/^flags\s*:.*$/m)?.[0] ?? cpus()[0]?.model ?? '';
  } catch {
    return cpus()[0]?.model ?? '';
  }
}

/** The addon from the cache, or why it cannot be used. */
export function loadRnnKernels(cacheDir: string): { kernels: RnnKernels } | { reason: string } {
  const path = rnnKernelsPath(cacheDir);
  if (!existsSync(path)) return { reason: `not built (${path} missing; run ./dev setup)` };
  try {
    const kernels = createRequire(import.meta.url)(path) as RnnKernels;
    if (kernels.abiVersion !== ABI_VERSION) {
      return { reason: `${path} implements ABI ${kernels.abiVersion}, expected ${ABI_VERSION}` };
    }
    return { kernels };
  } catch (err) {
    return { reason: `${path} does not load: ${errorMessage(err)}` };
  }
}
