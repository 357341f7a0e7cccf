import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCHESTRATOR_QUEUE, parseTrainSpec, type TrainResult } from '@seqtrain/contracts';
import { importDataset } from '@seqtrain/dataset';
import { startTestStack, waitFor, type TestStack, seattleWeatherImport } from '@seqtrain/local-stack';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import { RegistryReader } from '@seqtrain/registry';
import { createSeqtrainWorker, readRunProgress, type SeqtrainWorker } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';

// The bound on the control plane: at most 100 history events per 1,000 optimizer steps.
const EVENTS_PER_1000_STEPS = 100;
// Temporal warns at 10,240 events or 10 MB of history per run (and fails at 51,200 / 50 MB).
const HISTORY_EVENT_WARNING = 10_240;
const HISTORY_BYTES_WARNING = 10 * 1024 * 1024;
const repoRoot = path.resolve(import.meta.dirname, '../../..');

describe('a run of more than 50,000 steps', () => {
  let stack: TestStack;
  const workers: SeqtrainWorker[] = [];
  const running: Promise<void>[] = [];
  let connection: Connection;
  let store: S3BlobStore;
  const start = async (role: 'orchestrator' | 'trainer'): Promise<void> => {
    const config = { ...stack.config, backend: 'tensorflow' as const };
    const w = await createSeqtrainWorker({ role, config, store, workerId: `${role}-long` });
    workers.push(w);
    running.push(w.run());
  };

  /** Starts a tiny SimpleRNN run on weather-tiny. */
  const startRun = (name: string) =>
    new Client({ connection }).workflow.start<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId: `${name}-${randomUUID()}`,
      args: [
        {
          spec: parseTrainSpec({
            name,
            dataset: 'weather-tiny',
            task: 'regression',
            model: { cell: 'simpleRNN', units: [2] },
            workers: 1,
          }),
        },
      ],
    });

  /** Waits until the run has `activity` pending (waiting for a worker, or failing and retried). */
  const waitForPending = (handle: Awaited<ReturnType<typeof startRun>>, activity: string) =>
    waitFor(
      `the run to have ${activity} pending`,
      async () =>
        ((await handle.describe()).raw.pendingActivities ?? []).some(
          (a) => a.activityType?.name === activity,
        ),
      30_000,
      200,
    );

  beforeAll(async () => {
    stack = await startTestStack({ temporal: true });
    store = createBlobStore(stack.config);
    // Window 2 and batch size 1: ~1,300 steps per epoch on one shard.
    await importDataset(
      store,
      seattleWeatherImport(repoRoot, {
        name: 'weather-tiny',
        valueColumns: ['temp_max'],
        window: 2,
        valFraction: 0.1,
      }),
    );
    // The trainer comes later: the first test needs a stack with none.
    await start('orchestrator');
    connection = await Connection.connect({ address: stack.config.temporal.address });
  });

  afterAll(async () => {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await connection?.close();
    await stack?.stop();
  });

  it('stops on request while no trainer is up, with nothing to register', async () => {
    const handle = await startRun('no-trainer');
    await waitForPending(handle, 'initCheckpoint');
    await handle.signal('stop', { reason: 'no trainer' });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'stopped', model: null, steps: 0 });
  });

  it('a run stopped before its first epoch was evaluated ends stopped, registering nothing', async () => {
    await start('trainer');
    const client = new Client({ connection });
    const spec = parseTrainSpec({
      name: 'stopped-early-run',
      dataset: 'weather-tiny',
      task: 'regression',
      model: { cell: 'simpleRNN', units: [2] },
      // ~1,300 steps in the first epoch: seconds before its evaluation.
      training: { optimizer: { name: 'sgd', learningRate: 0.001 }, batchSize: 1, epochs: 3, seed: 3 },
      workers: 1,
    });
    const workflowId = `stopped-early-${randomUUID()}`;
    const handle = await client.workflow.start<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [{ spec }],
    });
    await waitFor(
      'live steps',
      async () => (await readRunProgress(client, workflowId)).step > 20,
      60_000,
      50,
    );
    await handle.signal('stop', { reason: 'test' });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'stopped', model: null, epochs: 0 });
    expect(result.steps).toBeGreaterThan(20);
    expect(await new RegistryReader(store).listVersions('stopped-early-run')).toEqual([]);
  });

  it('keeps the workflow history to a few events per segment, independent of the step count', async () => {
    const client = new Client({ connection });
    const spec = parseTrainSpec({
      name: 'long-run',
      dataset: 'weather-tiny',
      task: 'regression',
      model: { cell: 'simpleRNN', units: [2] },
      training: { optimizer: { name: 'sgd', learningRate: 0.001 }, batchSize: 1, epochs: 39, seed: 3 },
      workers: 1,
    });
    const workflowId = `long-run-${randomUUID()}`;
    // Short segments, so that the run has many (each with its checkpoint) in a few minutes.
    const result: TrainResult = await client.workflow.execute<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [{ spec, register: false, segmentSeconds: 5 }],
    });
    expect(result.steps).toBeGreaterThanOrEqual(50_000);
    expect(result.segments).toBeGreaterThanOrEqual(5);
    // Every run of the chain, from the real history the server keeps.
    let events = 0;
    for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      const runHandle = client.workflow.getHandle(workflowId, run.runId);
      const history = await runHandle.fetchHistory();
      events += history.events?.length ?? 0;
      // Length and size from describe (the run's own record), not from the list: visibility is
      // eventually consistent, and a record not yet updated after the run closed has no size.
      const described = await runHandle.describe();
      expect(described.historyLength).toBe(history.events?.length);
      expect(described.historyLength).toBeLessThan(HISTORY_EVENT_WARNING);
      expect(described.historySize).toBeGreaterThan(0);
      expect(described.historySize).toBeLessThan(HISTORY_BYTES_WARNING);
    }
    const perThousand = (events / result.steps) * 1000;
    process.stderr.write(
      `long run: ${result.steps} steps in ${result.segments} segments, ${events} history events (${perThousand.toFixed(2)} per 1,000 steps)\n`,
    );
    expect(perThousand).toBeLessThanOrEqual(EVENTS_PER_1000_STEPS);
  }, 900_000);
  // Last: it takes S3 away from the stack.
  it('runs stop ends a run within seconds while an activity keeps failing and being retried', async () => {
    await stack.s3!.stop();
    const handle = await startRun('no-s3');
    await waitForPending(handle, 'prepareRun');
    await handle.signal('stop', { reason: 'S3 is gone' });
    const result = await Promise.race([
      handle.result(),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the run did not end within 30 s of the stop')), 30_000),
      ),
    ]);
    expect(result).toMatchObject({ status: 'stopped', model: null, steps: 0 });
  });
});
