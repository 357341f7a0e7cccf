import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCHESTRATOR_QUEUE, parseTrainSpec, type TrainResult } from '@seqtrain/contracts';
import { importDataset } from '@seqtrain/dataset';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import { createSeqtrainWorker, type SeqtrainWorker } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';

// Tier 3: the training workflow on the real dev server with one orchestrator and two trainers.
const repoRoot = path.resolve(import.meta.dirname, '../../..');

describe('trainModel workflow', () => {
  let stack: TestStack;
  let store: S3BlobStore;
  const workers: SeqtrainWorker[] = [];
  const running: Promise<void>[] = [];
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    stack = await startTestStack({ temporal: true });
    store = createBlobStore(stack.config);
    await importDataset(store, {
      source: 'npm:vega-datasets/seattle-weather.csv',
      name: 'weather',
      kind: 'timeseries',
      cwd: repoRoot,
      timeColumn: 'date',
      valueColumns: ['temp_max', 'temp_min', 'precipitation', 'wind'],
      targetColumn: 'temp_max',
      window: 14,
      horizon: 1,
      normalize: 'last-value',
      valFraction: 0.2,
    });
    const config = { ...stack.config, backend: 'tensorflow' as const };
    for (const role of ['orchestrator', 'trainer', 'trainer'] as const) {
      const w = await createSeqtrainWorker({ role, config, store, workerId: `${role}-${workers.length}` });
      workers.push(w);
      running.push(w.run());
    }
    connection = await Connection.connect({ address: stack.config.temporal.address });
    client = new Client({ connection });
  });

  afterAll(async () => {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await connection?.close();
    await stack?.stop();
  });

  it('trains across two shards, beats persistence, registers the model and cleans up', async () => {
    const spec = parseTrainSpec({
      name: 'weather-test',
      dataset: 'weather',
      task: 'regression',
      model: { cell: 'lstm', units: [16] },
      training: { optimizer: { name: 'adam', learningRate: 0.01 }, batchSize: 32, epochs: 4, seed: 7 },
      workers: 2,
    });
    const workflowId = `train-test-${randomUUID()}`;
    const result: TrainResult = await client.workflow.execute<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [{ spec }],
    });
    expect(result.status).toBe('completed');
    expect(result.epochs).toBe(4);
    expect(result.metrics.val_mae_units).toBeLessThan(result.metrics.val_persistence_mae_units!);
    expect(result.model).toEqual({ name: 'weather-test', version: 1 });
    expect(result.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    // Gradients are deleted once applied; at most the kept checkpoints and the best remain.
    expect(await store.list(`runs/${workflowId}/gradients/`)).toEqual([]);
    const ckpts = (await store.list(`runs/${workflowId}/checkpoints/`)).filter((b) =>
      b.key.endsWith('.ckpt'),
    );
    expect(ckpts.length).toBeLessThanOrEqual(3);
    // Both trainers took part.
    const progress = await client.workflow
      .getHandle(workflowId)
      .query<{ trainers: Record<string, unknown> }>('progress');
    expect(Object.keys(progress.trainers).length).toBeGreaterThanOrEqual(1);
  });
});
