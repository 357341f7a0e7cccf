/**
 * One backend per process (native TensorFlow, Dawn and WASM cannot be swapped inside one), started by
 * backends.ts as `node --import tsx bench/src/backend-child.ts <backend> <plan json> <threads> [plain|tf-kernels]`.
 * Prints one JSON line per cell on stdout, or one line with `unavailable` when the backend cannot run
 * here. On `tensorflow` the recurrent layers run as fused native kernels (seqtrain's own) unless
 * `plain` asks for tfjs-layers' own op-by-op loop, or `tf-kernels` for TensorFlow's fused kernels
 * (BlockLSTM, GRUBlockCell).
 */
import { BackendNameSchema, errorMessage } from '@seqtrain/contracts';
import {
  BackendUnavailableError,
  fusedRnnStats,
  getTf,
  initBackend,
  setFusedRnnKernels,
  useSeqtrainKernels,
} from '@seqtrain/backend';
import { CELLS, timeTfjsStep, type TimingPlan } from './rnn-step';

const [backendArg, planJson, threadsArg, variant] = process.argv.slice(2);
const backend = BackendNameSchema.parse(backendArg);
const plan = JSON.parse(planJson ?? '{}') as TimingPlan;
const threads = threadsArg === undefined || threadsArg === '' ? undefined : Number(threadsArg);

try {
  const info = await initBackend({ backend, threads });
  if (variant === 'plain') setFusedRnnKernels(false);
  const tfKernels = variant === 'tf-kernels';
  if (tfKernels) useSeqtrainKernels(false);
  for (const cell of CELLS) {
    const before = fusedRnnStats().fused;
    const timing = await timeTfjsStep(getTf(), cell, plan);
    // A row is labelled fused only if the fused path really computed its steps, and says whose
    // kernels did: seqtrain's own (-fused) or TensorFlow's BlockLSTM / GRUBlockCell (-tfkernels).
    const stats = fusedRnnStats();
    const fused = stats.fused[cell] > before[cell];
    const kernels = fused ? stats.kernels : null;
    const system = `seqtrain-${backend}${kernels === null ? '' : kernels === 'seqtrain' ? '-fused' : '-tfkernels'}`;
    const note = kernels === 'tensorflow' && !tfKernels ? stats.kernelsReason : null;
    console.log(JSON.stringify({ system, cell, ...timing, fused, kernels, note, backend: info }));
  }
} catch (err) {
  if (!(err instanceof BackendUnavailableError)) throw err;
  console.log(JSON.stringify({ unavailable: errorMessage(err) }));
}
