/**
 * One backend per process (native TensorFlow, Dawn and WASM cannot be swapped inside one), started by
 * backends.ts as `node --import tsx bench/src/backend-child.ts <backend> <plan json>`. Prints one JSON
 * line per cell on stdout, or one line with `unavailable` when the backend cannot run here.
 */
import { BackendNameSchema, errorMessage } from '@seqtrain/contracts';
import { BackendUnavailableError, getTf, initBackend } from '@seqtrain/backend';
import { CELLS, timeTfjsStep, type TimingPlan } from './rnn-step';

const [backendArg, planJson, threadsArg] = process.argv.slice(2);
const backend = BackendNameSchema.parse(backendArg);
const plan = JSON.parse(planJson ?? '{}') as TimingPlan;
const threads = threadsArg === undefined || threadsArg === '' ? undefined : Number(threadsArg);

try {
  const info = await initBackend({ backend, threads });
  for (const cell of CELLS) {
    const timing = await timeTfjsStep(getTf(), cell, plan);
    console.log(JSON.stringify({ cell, ...timing, backend: info }));
  }
} catch (err) {
  if (!(err instanceof BackendUnavailableError)) throw err;
  console.log(JSON.stringify({ unavailable: errorMessage(err) }));
}
