import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ORCHESTRATOR_QUEUE,
  parseTrainSpec,
  type TrainResult,
  type TrainRunInput,
  type TrainSpecInput,
} from '@seqtrain/contracts';
import { importDataset } from '@seqtrain/dataset';
import { startTestStack, waitFor, type TestStack, seattleWeatherImport } from '@seqtrain/local-stack';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import { createSeqtrainWorker, readRunProgress, type SeqtrainWorker } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';

// Tier 3: the training workflow on the real dev server with one orchestrator and two trainers
// (in this process, each with its own data-plane listener), real local S3.
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
    await importDataset(store, seattleWeatherImport(repoRoot, { rowsPerBatch: 64 }));
    const config = { ...stack.config, backend: 'tensorflow' as const, threads: 1 };
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

  const spec = (over: Partial<TrainSpecInput> = {}, training: TrainSpecInput['training'] = {}) =>
    parseTrainSpec({
      name: 'weather-test',
      dataset: 'weather',
      task: 'regression',
      model: { cell: 'lstm', units: [16] },
      workers: 2,
      ...over,
      training: {
        optimizer: { name: 'adam', learningRate: 0.01 },
        batchSize: 32,
        epochs: 4,
        seed: 7,
        ...training,
      },
    });

  function train(input: TrainRunInput, workflowId = `train-test-${randomUUID()}`): Promise<TrainResult> {
    return client.workflow.execute<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [input],
    });
  }

  it('trains across two trainers in one segment, beats persistence, registers the model and cleans up', async () => {
    const workflowId = `train-test-${randomUUID()}`;
    const result = await train({ spec: spec() }, workflowId);
    expect(result.status).toBe('completed');
    expect(result.epochs).toBe(4);
    expect(result.segments).toBe(1);
    expect(result.generations).toBe(1);
    expect(result.metrics.val_mae_units).toBeLessThan(result.metrics.val_persistence_mae_units!);
    expect(result.model).toEqual({ name: 'weather-test', version: 1 });
    expect(result.weightsSha256).toMatch(/^[0-9a-f]{64}$/);
    // No gradient ever went through S3; at most the kept checkpoints and the best remain.
    const prefix = `runs/${workflowId}/${result.execution}/`;
    const files = (await store.list(prefix)).map((b) => b.key.slice(prefix.length));
    expect(files.filter((k) => k.startsWith('gradients/'))).toEqual([]);
    expect(files).toContain('plan.json');
    const ckpts = (await store.list(`${prefix}checkpoints/`)).filter((b) => b.key.endsWith('.ckpt'));
    expect(ckpts.length).toBeLessThanOrEqual(3);
    // Both trainers hosted a rank.
    expect(Object.keys(result.trainers).sort()).toEqual(['trainer-1', 'trainer-2']);
  });

  it("a second run under a closed run's workflow id trains afresh in its own prefix, never adopting the first one's checkpoints", async () => {
    // Temporal allows the id again once the first run closed; a different model then cannot load
    // the first run's checkpoints ("weight buffer has 361 floats, model needs 1233").
    const workflowId = `reused-${randomUUID()}`;
    const small = spec({ name: 'weather-reused', model: { cell: 'lstm', units: [8] } }, { epochs: 1 });
    const large = spec({ name: 'weather-reused', model: { cell: 'lstm', units: [16] } }, { epochs: 1 });
    const first = await train({ spec: small }, workflowId);
    const second = await train({ spec: large }, workflowId);
    expect(second.status).toBe('completed');
    expect(second.execution).not.toBe(first.execution);
    expect(second.model?.version).toBe((first.model?.version ?? 0) + 1);
    expect(second.weightsSha256).not.toBe(first.weightsSha256);
    for (const r of [first, second])
      expect((await store.list(`runs/${workflowId}/${r.execution}/`)).map((b) => b.key)).toContain(
        `runs/${workflowId}/${r.execution}/plan.json`,
      );
  });

  it('gives the same weights for 1, 2 and 4 ranks at the same global batch, on 1 or 2 trainers, sync and local SGD', async () => {
    const shapes = [
      { workers: 1, microBatches: 4, trainers: [1] },
      { workers: 2, microBatches: 2, trainers: [1, 2] },
      { workers: 4, microBatches: 1, trainers: [1, 2] },
    ];
    for (const cell of ['lstm', 'gru'] as const) {
      const model = { cell, units: [8] };
      const training = { batchSize: 16, epochs: 2 };
      const sync = new Set<string>();
      for (const s of shapes)
        for (const maxTrainers of s.trainers) {
          const r = await train({
            spec: spec({ model, workers: s.workers }, { ...training, microBatches: s.microBatches }),
            register: false,
            maxTrainers,
          });
          expect(Object.keys(r.trainers)).toHaveLength(maxTrainers);
          sync.add(r.weightsSha256);
        }
      expect([...sync], `${cell} sync`).toHaveLength(1);
      // Local SGD: the rank count is part of the algorithm; the placement is not.
      const local = new Set<string>();
      for (const maxTrainers of [1, 2]) {
        const r = await train({
          spec: spec({ model, workers: 4 }, { ...training, syncEvery: 2 }),
          register: false,
          maxTrainers,
        });
        local.add(r.weightsSha256);
      }
      expect([...local], `${cell} local SGD`).toHaveLength(1);
      expect(sync.has([...local][0]!)).toBe(false);
    }
  }, 600_000);

  it('a run cut into many segments and continued as new ends with the weights of one segment', async () => {
    const s = spec({ model: { cell: 'gru', units: [8] } }, { batchSize: 16, epochs: 3 });
    const whole = await train({ spec: s, register: false });
    const cut = await train({ spec: s, register: false, segmentSeconds: 0.001, historyLimit: 60 });
    expect(whole.segments).toBe(1);
    expect(cut.segments).toBe(cut.rounds);
    expect(cut.continuedAsNew).toBeGreaterThanOrEqual(2);
    expect(cut.weightsSha256).toBe(whole.weightsSha256);
    expect(cut.history.map((h) => h.epoch)).toEqual([0, 1, 2]);
  }, 300_000);

  it('pauses (freeing its trainers), resumes and stops on request, keeping the best checkpoint', async () => {
    const workflowId = `train-pause-${randomUUID()}`;
    const s = spec({}, { epochs: 400 });
    const handle = await client.workflow.start<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [{ spec: s, register: false }],
    });
    // Live progress comes from the leader's heartbeat: steps move inside the first segment.
    await waitFor(
      'live steps',
      async () => (await readRunProgress(client, workflowId)).step > 50,
      60_000,
      200,
    );
    await handle.signal('pause');
    await waitFor(
      'paused',
      async () => {
        const p = await readRunProgress(client, workflowId);
        return p.status === 'paused' && p.group === undefined;
      },
      30_000,
      200,
    );
    const atPause = (await readRunProgress(client, workflowId)).step;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await readRunProgress(client, workflowId)).step).toBe(atPause);
    // Paused, the run holds no trainer: another run trains meanwhile.
    const other = await train({ spec: spec({}, { epochs: 1 }), register: false });
    expect(other.status).toBe('completed');
    await handle.signal('resume');
    await waitFor(
      'moving again',
      async () => (await readRunProgress(client, workflowId)).step > atPause,
      60_000,
      200,
    );
    await handle.signal('stop', { reason: 'test' });
    const result = await handle.result();
    expect(result.status).toBe('stopped');
    expect(result.epochs).toBeLessThan(400);
    expect(result.metrics.val_loss).toBeGreaterThan(0);
    expect(result.segments).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
