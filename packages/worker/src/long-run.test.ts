import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORCHESTRATOR_QUEUE, parseTrainSpec, type TrainResult } from '@seqtrain/contracts';
import { importDataset } from '@seqtrain/dataset';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import { createBlobStore } from '@seqtrain/storage';
import { createSeqtrainWorker, type SeqtrainWorker } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';

// Temporal warns at 10,240 events or 10 MB of history per run (and fails at 51,200 / 50 MB).
const HISTORY_EVENT_WARNING = 10_240;
const HISTORY_BYTES_WARNING = 10 * 1024 * 1024;
const repoRoot = path.resolve(import.meta.dirname, '../../..');

describe('a run of more than 5,000 rounds', () => {
  let stack: TestStack;
  const workers: SeqtrainWorker[] = [];
  const running: Promise<void>[] = [];
  let connection: Connection;

  beforeAll(async () => {
    stack = await startTestStack({ temporal: true });
    const store = createBlobStore(stack.config);
    // Window 2 and batch size 1: ~1,300 rounds per epoch on one shard.
    await importDataset(store, {
      source: 'npm:vega-datasets/seattle-weather.csv',
      name: 'weather-tiny',
      kind: 'timeseries',
      cwd: repoRoot,
      timeColumn: 'date',
      valueColumns: ['temp_max'],
      targetColumn: 'temp_max',
      window: 2,
      horizon: 1,
      valFraction: 0.1,
    });
    const config = { ...stack.config, backend: 'tensorflow' as const };
    for (const role of ['orchestrator', 'trainer'] as const) {
      const w = await createSeqtrainWorker({ role, config, store, workerId: `${role}-long` });
      workers.push(w);
      running.push(w.run());
    }
    connection = await Connection.connect({ address: stack.config.temporal.address });
  });

  afterAll(async () => {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await connection?.close();
    await stack?.stop();
  });

  it('continues as new and keeps every run of the chain under the history warning limits', async () => {
    const client = new Client({ connection });
    const spec = parseTrainSpec({
      name: 'long-run',
      dataset: 'weather-tiny',
      task: 'regression',
      model: { cell: 'simpleRNN', units: [2] },
      training: { optimizer: { name: 'sgd', learningRate: 0.001 }, batchSize: 1, epochs: 4, seed: 3 },
      workers: 1,
    });
    const workflowId = `long-run-${randomUUID()}`;
    const result: TrainResult = await client.workflow.execute<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [{ spec, register: false }],
    });
    expect(result.rounds).toBeGreaterThanOrEqual(5000);
    expect(result.continuedAsNew).toBeGreaterThanOrEqual(1);
    const chain = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) chain.push(run);
    expect(chain.length).toBe(result.continuedAsNew + 1);
    for (const run of chain) {
      expect(run.historyLength).toBeLessThan(HISTORY_EVENT_WARNING);
      expect(run.historySize).toBeLessThan(HISTORY_BYTES_WARNING);
    }
  }, 1_200_000);
});
