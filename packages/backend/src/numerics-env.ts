/**
 * Environment that decides how the native TensorFlow library computes. It is read by libtensorflow
 * itself when the first eager context is created, so it must be in the real process environment
 * before tfjs-node loads; that is why this module, and only this one, writes `process.env`.
 */
import { availableParallelism } from 'node:os';

export interface NativeThreads {
  /** Eigen thread pool inside one op (matmul blocking depends on it, so results do too). */
  intraOp: number;
  /** Pool for independent ops; tfjs-node runs eager ops one at a time, so one thread is enough. */
  interOp: number;
}

export function nativeThreads(threads: number | undefined): NativeThreads {
  return { intraOp: threads ?? availableParallelism(), interOp: 1 };
}

/**
 * The pinned values. oneDNN is switched on by default on CPUs with AVX512-VNNI/AMX and reorders
 * floating-point sums, so a mixed fleet would disagree in the last bits; we turn it off everywhere.
 * On CUDA, deterministic kernels make gradient averaging reproducible across trainers.
 */
export function numericsEnv(threads: NativeThreads, gpu: boolean): Record<string, string> {
  return {
    TF_ENABLE_ONEDNN_OPTS: '0',
    TF_NUM_INTRAOP_THREADS: String(threads.intraOp),
    TF_NUM_INTEROP_THREADS: String(threads.interOp),
    ...(gpu ? { TF_DETERMINISTIC_OPS: '1', TF_CUDNN_DETERMINISTIC: '1' } : {}),
  };
}

export function applyNumericsEnv(values: Record<string, string>): void {
  for (const [key, value] of Object.entries(values)) process.env[key] = value;
  // INFO lines ("binary is optimized to use AVX2 FMA") are noise in worker logs; keep a user's choice.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
}
