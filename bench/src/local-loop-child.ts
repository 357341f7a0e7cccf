/**
 * bench:distributed's local loop, in a process of its own (as each trainer is): the whole run of
 * one spec through the TrainingLoop a segment runs, with no Temporal, no data plane and no S3
 * inside the timed loop. Reads its stack from the SEQTRAIN_* environment and the spec from
 * argv; prints one JSON line on stdout.
 */
import { randomUUID } from 'node:crypto';
import {
  createLightTrainingActivities,
  createTrainerActivities,
  prepareLocalRun,
} from '@seqtrain/activities';
import { initBackend } from '@seqtrain/backend';
import { loadConfig, parseTrainSpec, runKeys } from '@seqtrain/contracts';
import { createBlobStore } from '@seqtrain/storage';

const config = loadConfig(process.env);
await initBackend({ backend: 'tensorflow', ...(config.threads ? { threads: config.threads } : {}) });
const store = createBlobStore(config);
const spec = parseTrainSpec(JSON.parse(process.argv[2] ?? '{}'));
const runId = `bench-local-${spec.name}-${randomUUID().slice(0, 8)}`;
const plan = await createLightTrainingActivities({ store }).prepareRun({ runId, execution: 'bench', spec });
const init = await createTrainerActivities({ store, workerId: 'bench-local' }).initCheckpoint({
  runId,
  planKey: plan.planKey,
  spec,
  outputKey: runKeys.checkpoint(runId, 'bench', 0),
});
const local = await prepareLocalRun(store, {
  runId,
  execution: 'bench',
  planKey: plan.planKey,
  spec,
  checkpointKey: init.checkpointKey,
});
const { busyMs } = await local.run();
process.stdout.write(
  `${JSON.stringify({
    samples: local.loop.samples,
    busyMs,
    steps: local.loop.position.step,
    epochs: local.loop.epochs.length,
  })}\n`,
  () => process.exit(0),
);
