/**
 * One backend per process (native TensorFlow, Dawn and WASM cannot be swapped inside one), started by
 * backends.ts as `node --import tsx bench/src/backend-child.ts <backend> <plan json> <threads> [plain]`.
 * Prints one JSON line per cell on stdout, or one line with `unavailable` when the backend cannot run
 * here. On `tensorflow` the recurrent layers run as fused native kernels unless `plain` asks for
 * tfjs-layers' own op-by-op loop.
 */
import { BackendNameSchema, errorMessage } from '@seqtrain/contracts';
import {
  BackendUnavailableError,
  fusedRnnStats,
  getTf,
  initBackend,
  setFusedRnnKernels,
} from '@seqtrain/backend';
import { CELLS, timeTfjsStep, type TimingPlan } from './rnn-step';

const [backendArg, planJson, threadsArg, variant] = process.argv.slice(2);
const backend = BackendNameSchema.parse(backendArg);
const plan = JSON.parse(planJson ?? '{}') as TimingPlan;
const threads = threadsArg === undefined || threadsArg === '' ? undefined : Number(threadsArg);

try {
  const info = await initBackend({ backend, threads });
  const plain = variant === 'plain';
  if (plain) setFusedRnnKernels(false);
  for (const cell of CELLS) {
    const before = fusedRnnStats().fused;
    const timing = await timeTfjsStep(getTf(), cell, plan);
    // A row is labelled fused only if the fused kernels really computed its steps.
    const fused = fusedRnnStats().fused[cell] > before[cell];
    const system = `seqtrain-${backend}${fused ? '-fused' : ''}`;
    console.log(JSON.stringify({ system, cell, ...timing, fused, backend: info }));
  }
} catch (err) {
  if (!(err instanceof BackendUnavailableError)) throw err;
  console.log(JSON.stringify({ unavailable: errorMessage(err) }));
}
