/**
 * One backend per process (native TensorFlow, Dawn and WASM cannot be swapped inside one), started by
 * backends.ts as `node --import tsx bench/src/backend-child.ts <backend> <plan json> <threads> [plain]`.
 * Prints one JSON line per cell on stdout, or one line with `unavailable` when the backend cannot run
 * here. On `tensorflow` the recurrent layers run as fused native kernels unless `plain` asks for
 * tfjs-layers' own op-by-op loop, and `block` runs the LSTM on TensorFlow's BlockLSTM kernels instead of
 * seqtrain's own.
 */
import { BackendNameSchema, errorMessage } from '@seqtrain/contracts';
import {
  BackendUnavailableError,
  fusedRnnStats,
  getTf,
  initBackend,
  setFusedRnnKernels,
  setOwnLstmKernels,
} from '@seqtrain/backend';
import { CELLS, timeTfjsStep, type TimingPlan } from './rnn-step';

const [backendArg, planJson, threadsArg, variant] = process.argv.slice(2);
const backend = BackendNameSchema.parse(backendArg);
const plan = JSON.parse(planJson ?? '{}') as TimingPlan;
const threads = threadsArg === undefined || threadsArg === '' ? undefined : Number(threadsArg);

try {
  const info = await initBackend({ backend, threads });
  const plain = variant === 'plain';
  const block = variant === 'block';
  if (plain) setFusedRnnKernels(false);
  if (block) setOwnLstmKernels(false);
  // The BlockLSTM variant differs from the fused one for the LSTM only.
  for (const cell of block ? CELLS.filter((c) => c === 'lstm') : CELLS) {
    const before = fusedRnnStats().fused;
    const timing = await timeTfjsStep(getTf(), cell, plan);
    // A row is labelled fused only if the fused kernels really computed its steps, and says which
    // kernels computed a fused LSTM.
    const stats = fusedRnnStats();
    const fused = stats.fused[cell] > before[cell];
    const kernel = fused && cell === 'lstm' ? stats.lstmKernel : null;
    const system = `seqtrain-${backend}${fused ? (kernel === 'tensorflow-block' ? '-blocklstm' : '-fused') : ''}`;
    const note = kernel === 'tensorflow-block' && !block ? stats.lstmKernelReason : null;
    console.log(JSON.stringify({ system, cell, ...timing, fused, kernel, note, backend: info }));
  }
} catch (err) {
  if (!(err instanceof BackendUnavailableError)) throw err;
  console.log(JSON.stringify({ unavailable: errorMessage(err) }));
}
