/**
 * Compiles seqtrain's own LSTM kernels (packages/backend/native/rnn_kernels.cc) into the cache,
 * offline: the Node-API headers come with the installed Node and Eigen with the TensorFlow headers
 * that the tfjs-node build extracts from the pinned wheel. One plain compiler call, no node-gyp.
 * The cache path is keyed on the source, the flags, the Node ABI and the CPU (see rnnKernelsPath).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RNN_KERNELS_FLAGS, RNN_KERNELS_SOURCE, rnnKernelsPath } from '@seqtrain/backend/seqtrain-kernels';
import { SeqtrainError, errorMessage } from '@seqtrain/contracts';
import { run, withLock } from '../exec';
import { ensureLibtensorflow } from './tfjs-node';

export interface EnsureRnnKernelsOptions {
  cacheDir: string;
  log: (msg: string) => void;
  /** How long to wait for another process holding the build lock. */
  lockTimeoutMs?: number;
  /** The C++ compiler (default: $CXX, else c++). */
  compiler?: string;
}

/** Returns the path of the built addon, building it when this source/CPU has none yet. */
export async function ensureRnnKernels(opts: EnsureRnnKernelsOptions): Promise<string> {
  const { cacheDir, log } = opts;
  const target = rnnKernelsPath(cacheDir);
  if (existsSync(target)) {
    log(`rnn kernels: already built at ${target}`);
    return target;
  }
  await mkdir(cacheDir, { recursive: true });
  const compiler = opts.compiler ?? process.env.CXX ?? 'c++';
  return withLock(join(cacheDir, 'rnn-kernels.lock'), () => build(cacheDir, target, compiler, log), {
    log: (m) => log(`rnn kernels: ${m}`),
    timeoutMs: opts.lockTimeoutMs ?? 10 * 60_000,
  });
}

async function build(
  cacheDir: string,
  target: string,
  compiler: string,
  log: (msg: string) => void,
): Promise<string> {
  if (existsSync(target)) return target;
  const nodeInclude = join(dirname(dirname(process.execPath)), 'include', 'node');
  if (!existsSync(join(nodeInclude, 'node_api.h'))) {
    throw new SeqtrainError(
      `node headers not found under ${nodeInclude} (needed to compile the rnn kernels offline); ` +
        `install the headers that match node ${process.version}`,
    );
  }
  if (spawnSync('sh', ['-c', 'command -v "$1"', 'sh', compiler]).status !== 0) {
    throw new SeqtrainError(
      `cannot compile the rnn kernels: ${compiler} not found on PATH (install build-essential)`,
    );
  }
  const eigenInclude = join(await ensureLibtensorflow(cacheDir, log), 'include');
  const tmp = `${target}.tmp-${process.pid}`;
  await mkdir(dirname(target), { recursive: true });
  log(`rnn kernels: compiling ${RNN_KERNELS_SOURCE} (about 15 s)`);
  const started = Date.now();
  try {
    await run(
      compiler,
      [...RNN_KERNELS_FLAGS, `-I${nodeInclude}`, `-I${eigenInclude}`, RNN_KERNELS_SOURCE, '-o', tmp],
      {
        log: (line) => log(`  c++: ${line}`),
      },
    );
  } catch (err) {
    await rm(tmp, { force: true });
    throw new SeqtrainError(`compiling the rnn kernels failed: ${errorMessage(err)}`, { cause: err });
  }
  await rename(tmp, target);
  log(`rnn kernels: compiled in ${((Date.now() - started) / 1000).toFixed(0)} s into ${target}`);
  return target;
}
