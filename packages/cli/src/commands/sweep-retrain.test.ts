/**
 * Tier 3: `seqtrain retrain | sweep | schedule` handlers against the real Temporal dev server and
 * local S3, with one orchestrator and two trainers in this process (tiny models, few epochs).
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, type SweepLeaderboard, type SweepResult } from '@seqtrain/contracts';
import { importDataset } from '@seqtrain/dataset';
import { startTestStack, type TestStack, seattleWeatherImport } from '@seqtrain/local-stack';
import { RegistryReader } from '@seqtrain/registry';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import { createSeqtrainWorker, type SeqtrainWorker } from '@seqtrain/worker';
import type { CliContext } from '../context';
import { runRetrain } from './retrain';
import { runScheduleCommand } from './schedule';
import { runSweepCommand } from './sweep';

const repoRoot = path.resolve(import.meta.dirname, '../../../..');

let stack: TestStack;
let store: S3BlobStore;
let connection: Connection;
let client: Client;
let dir: string;
const workers: SeqtrainWorker[] = [];
const running: Promise<void>[] = [];

interface Captured {
  code: number;
  out: string[];
  err: string[];
}

async function run(
  handler: (argv: string[], ctx: CliContext) => Promise<number>,
  argv: string[],
): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    config: stack.config,
    env: { USER: 'test' },
    cwd: dir,
    io: { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false },
    store: () => store,
  };
  const code = await handler(argv, ctx);
  return { code, out, err };
}

function lastJson<T>(r: Captured): T {
  const text = r.out.at(-1);
  if (text === undefined) throw new Error(`no output; stderr:\n${r.err.join('')}`);
  return JSON.parse(text) as T;
}

async function writeJson(name: string, value: unknown): Promise<string> {
  await fsp.writeFile(path.join(dir, name), JSON.stringify(value));
  return name;
}

const spec = (name: string, training: Record<string, unknown>): Record<string, unknown> => ({
  name,
  dataset: 'weather',
  task: 'regression',
  model: { cell: 'lstm', units: [8] },
  training: { batchSize: 64, seed: 5, ...training },
  workers: 1,
});

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-sweep-'));
  stack = await startTestStack({ temporal: true });
  store = createBlobStore(stack.config);
  await importDataset(store, seattleWeatherImport(repoRoot, { window: 7 }));
  const config = { ...stack.config, backend: 'tensorflow' as const };
  for (const role of ['orchestrator', 'trainer', 'trainer'] as const) {
    const w = await createSeqtrainWorker({ role, config, store, workerId: `${role}-${workers.length}` });
    workers.push(w);
    running.push(w.run());
  }
  connection = await Connection.connect({ address: stack.config.temporal.address });
  client = new Client({ connection });
}, 120_000);

afterAll(async () => {
  for (const w of workers) w.shutdown();
  await Promise.allSettled(running);
  await connection?.close();
  await stack?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

interface RetrainJson {
  status: string;
  workflowId: string;
  trainWorkflowId: string;
  model: { name: string; version: number } | null;
  metrics: Record<string, number>;
  value: number;
  previousStatus?: string;
}

describe('seqtrain retrain', () => {
  it('promotes a first model, is a no-op when re-run, and keeps the alias on a worse model (exit 2)', async () => {
    const reader = new RegistryReader(store);
    const good = await writeJson(
      'good.json',
      spec('retrain-test', { optimizer: { name: 'adam', learningRate: 0.01 }, epochs: 2 }),
    );
    const args = ['-c', good, '--code-version', 'abc123', '--promote-alias', 'production', '--json'];

    const first = await run(runRetrain, args);
    expect(first.code, first.err.join('')).toBe(0);
    const r1 = lastJson<RetrainJson>(first);
    expect(r1.status).toBe('promoted');
    expect(r1.model).toEqual({ name: 'retrain-test', version: 1 });
    expect((await reader.currentAlias('retrain-test', 'production'))?.version).toBe(1);
    const events = await reader.aliasHistory('retrain-test', 'production');
    expect(events.at(-1)?.actor).toBe('retrain');
    expect(events.at(-1)?.reason).toMatch(/val_loss/);

    // Same data, code and spec (keys reordered): the same workflow, nothing trained again.
    await writeJson('good-reordered.json', {
      workers: 1,
      ...spec('retrain-test', { epochs: 2, optimizer: { learningRate: 0.01, name: 'adam' } }),
    });
    const second = await run(runRetrain, ['-c', 'good-reordered.json', ...args.slice(2)]);
    expect(second.code, second.err.join('')).toBe(0);
    const r2 = lastJson<RetrainJson>(second);
    expect(r2).toMatchObject({ status: 'unchanged', previousStatus: 'promoted', workflowId: r1.workflowId });
    expect(r2.metrics).toEqual(r1.metrics);
    expect(await reader.listVersions('retrain-test')).toEqual([1]);
    const runs: string[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = '${r1.trainWorkflowId}'` }))
      runs.push(w.runId);
    expect(runs).toHaveLength(1);

    // A barely trained model: registered as version 2, but the alias stays on version 1.
    const bad = await writeJson(
      'bad.json',
      spec('retrain-test', { optimizer: { name: 'adam', learningRate: 1e-6 }, epochs: 1 }),
    );
    const third = await run(runRetrain, ['-c', bad, ...args.slice(2)]);
    expect(third.code, third.err.join('')).toBe(2);
    const r3 = lastJson<RetrainJson>(third);
    expect(r3.status).toBe('not-better');
    expect(r3.model).toEqual({ name: 'retrain-test', version: 2 });
    expect(r3.value).toBeGreaterThan(r1.value);
    expect((await reader.currentAlias('retrain-test', 'production'))?.version).toBe(1);
  }, 300_000);

  it('rejects a missing code version as bad input', async () => {
    const file = await writeJson('x.json', spec('retrain-test', {}));
    await expect(run(runRetrain, ['-c', file])).rejects.toThrow(/--code-version/);
  });
});

describe('seqtrain sweep', () => {
  it('runs a 4-trial grid two at a time, stops the weak trials early and registers only the best', async () => {
    const file = await writeJson('sweep.json', {
      name: 'grid',
      // Long enough (30 epochs of 75 steps) for the sweep to see a weak trial's epochs while it runs.
      base: spec('sweep-test', { epochs: 30, batchSize: 16 }),
      method: 'grid',
      // Trials 0, 1 learn; trials 2, 3 barely move (learning rate 1e-6).
      space: { 'training.optimizer.learningRate': [0.01, 1e-6], 'model.units': [[8], [6]] },
      maxConcurrent: 2,
      metric: 'val_loss',
      // Judged once two other trials reached the same epoch: the first pair never judge each other.
      earlyStop: { rule: 'median', graceEpochs: 1, minTrials: 2 },
    });
    const r = await run(runSweepCommand, [
      '-c',
      file,
      '--json',
      '--id',
      'sweep-test-1',
      '--watch-interval',
      '300ms',
    ]);
    expect(r.code, r.err.join('')).toBe(0);
    const result = lastJson<SweepResult>(r);
    const byIndex = new Map(result.trials.map((t) => [t.index, t]));
    expect(byIndex.get(0)?.status).toBe('completed');
    expect(byIndex.get(1)?.status).toBe('completed');
    for (const i of [2, 3]) {
      expect(byIndex.get(i)?.status).toBe('stopped-early');
      expect(byIndex.get(i)?.epochs).toBeLessThan(30);
      expect(byIndex.get(i)?.reason).toMatch(/median rule/);
      expect(byIndex.get(i)?.workflowId).toBe(`sweep-test-1/trial-${i}`);
    }
    // The stopped trials' child workflows were cancelled.
    const d = await client.workflow.getHandle('sweep-test-1/trial-2').describe();
    expect(d.status.name).toBe('CANCELLED');
    // The best is the lower val_loss of the two completed trials, and it is the only version.
    const completed = [0, 1].map((i) => byIndex.get(i)!);
    const best = completed[0]!.value! <= completed[1]!.value! ? completed[0]! : completed[1]!;
    expect(result.best?.index).toBe(best.index);
    expect(result.model).toEqual({ name: 'sweep-test', version: 1 });
    const reader = new RegistryReader(store);
    expect(await reader.listVersions('sweep-test')).toEqual([1]);
    const card = await reader.getCard('sweep-test', 1);
    expect(card.workflowId).toBe(best.workflowId);
    expect(card.metrics.val_loss).toBe(best.value);

    // The leaderboard query ranks trials with their metrics.
    const board = await client.workflow.getHandle('sweep-test-1').query<SweepLeaderboard>('leaderboard');
    expect(board.trials).toHaveLength(4);
    expect(board.trials[0]!.index).toBe(best.index);
    expect(board.trials[0]!.metrics?.val_loss).toBe(best.value);
    expect(board.trials.every((t) => t.curve.length >= 1)).toBe(true);
  }, 300_000);
});

describe('seqtrain schedule', () => {
  it('creates, lists, pauses, unpauses and deletes a retrain schedule', async () => {
    const file = await writeJson('sched.json', spec('sched-test', { epochs: 1 }));
    const created = await run(runScheduleCommand, [
      'create',
      'nightly-test',
      '-c',
      file,
      '--code-version',
      'abc',
      '--every',
      '1d',
      '--json',
    ]);
    expect(created.code, created.err.join('')).toBe(0);
    type Row = { id: string; paused: boolean; model?: string; spec: string[] };
    const list = async (): Promise<Row[]> =>
      lastJson<Row[]>(await run(runScheduleCommand, ['list', '--json']));
    // A new schedule reaches the list (visibility) a moment after it is created.
    for (let i = 0; i < 50 && (await list()).length === 0; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await list()).toEqual([
      expect.objectContaining({
        id: 'nightly-test',
        paused: false,
        model: 'sched-test',
        spec: ['every 86400s'],
      }),
    ]);
    expect((await run(runScheduleCommand, ['pause', 'nightly-test', '--note', 'holiday'])).code).toBe(0);
    expect(await list()).toEqual([
      expect.objectContaining({ id: 'nightly-test', paused: true, note: 'holiday' }),
    ]);
    expect((await run(runScheduleCommand, ['unpause', 'nightly-test'])).code).toBe(0);
    expect((await list())[0]?.paused).toBe(false);
    expect((await run(runScheduleCommand, ['delete', 'nightly-test'])).code).toBe(0);
    // Deletion is eventually visible in the list (the schedule's workflow closes asynchronously).
    for (let i = 0; i < 50 && (await list()).length > 0; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await list()).toEqual([]);
    await expect(run(runScheduleCommand, ['pause', 'nightly-test'])).rejects.toThrow(NotFoundError);
  }, 60_000);
});
