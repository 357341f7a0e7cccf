import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLightTrainingActivities, toActivityFailure, type ActivityIo } from '@seqtrain/activities';
import {
  parseTrainSpec,
  placeRanks,
  runKeys,
  startPosition,
  type RunControl,
  type SegmentInput,
  type SegmentProgress,
  type SegmentResult,
  type TrainSpec,
} from '@seqtrain/contracts';
import { importDataset } from '@seqtrain/dataset';
import {
  isAlive,
  startTestStack,
  waitFor,
  type TestStack,
  seattleWeatherImport,
} from '@seqtrain/local-stack';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import { TrainerEngine } from './engine';

// Tier 2: a trainer's engine process (a real fork, the real backend and data plane) against the
// real local S3, driven the way the worker drives it, without Temporal.
const repoRoot = path.resolve(import.meta.dirname, '../../../..');
const require = createRequire(import.meta.url);

let stack: TestStack;
let store: S3BlobStore;
let engine: TrainerEngine;
const logs: string[] = [];
const controlAsked: string[] = [];
/** what the control query answers, per run */
const controls = new Map<string, RunControl>();

beforeAll(async () => {
  stack = await startTestStack({ temporal: false });
  store = createBlobStore(stack.config);
  await importDataset(
    store,
    seattleWeatherImport(repoRoot, {
      valueColumns: ['temp_max', 'temp_min'],
      window: 7,
      valFraction: 0.15,
      rowsPerBatch: 64,
    }),
  );
  engine = await TrainerEngine.start({
    config: { ...stack.config, backend: 'tensorflow', threads: 1 },
    workerId: 'engine-test',
    log: (m) => logs.push(m),
    control: (runId) => {
      controlAsked.push(runId);
      return Promise.resolve(controls.get(runId) ?? { stop: false, pause: false, generation: 1, segment: 0 });
    },
    onFatal: (err) => logs.push(`fatal: ${err.message}`),
  });
}, 300_000);

afterAll(async () => {
  await engine?.close();
  await stack?.stop();
});

const spec: TrainSpec = parseTrainSpec({
  name: 'engine-test',
  dataset: 'weather',
  task: 'regression',
  model: { cell: 'lstm', units: [8] },
  training: { optimizer: { name: 'adam', learningRate: 0.01 }, batchSize: 16, epochs: 400, seed: 5 },
});

let runs = 0;
async function segmentInput(): Promise<SegmentInput> {
  const runId = `engine-run-${runs++}`;
  const execution = 'execution-1';
  const plan = await createLightTrainingActivities({ store }).prepareRun({ runId, execution, spec });
  const init = (await engine.call(
    'initCheckpoint',
    { runId, planKey: plan.planKey, spec, outputKey: runKeys.checkpoint(runId, execution, 0) },
    undefined,
  )) as { checkpointKey: string };
  const members = placeRanks(1, [{ workerId: 'engine-test', address: engine.ready.dataPlane.address }]);
  return {
    runId,
    execution,
    planKey: plan.planKey,
    spec,
    group: { generation: 1, secret: 'e'.repeat(64), members },
    member: 0,
    segment: 0,
    start: startPosition(init.checkpointKey),
    budgetMs: 600_000,
    keepCheckpoints: 2,
  };
}

/** An activity's io, recording heartbeats; `onBeat` sees each one with progress. */
function io(onBeat: (p: SegmentProgress, n: number) => void = () => undefined) {
  const abort = new AbortController();
  const beats: SegmentProgress[] = [];
  const relay: ActivityIo = {
    heartbeat: (details) => {
      if (!details) return;
      beats.push(details as SegmentProgress);
      onBeat(details as SegmentProgress, beats.length);
    },
    cancellationSignal: abort.signal,
  };
  return { relay, abort, beats };
}

describe('trainer engine process', () => {
  it('runs a segment with heartbeats and the control query relayed, and answers joins', async () => {
    const join = (await engine.call('joinGroup', { runId: 'engine-join' }, undefined)) as {
      joined: boolean;
      address: string;
      backend: { name: string };
    };
    expect(join).toMatchObject({
      joined: true,
      workerId: 'engine-test',
      address: engine.ready.dataPlane.address,
    });
    expect(join.backend.name).toBe('tensorflow');
    await engine.call('leaveGroup', { runId: 'engine-join' }, undefined);

    const input = await segmentInput();
    const { relay, beats } = io((p, n) => {
      if (n === 3) controls.set(input.runId, { stop: true, pause: false, generation: 1, segment: 0 });
    });
    const result = (await engine.call('runSegment', input, relay)) as SegmentResult;
    expect(result.reason).toBe('stopped');
    expect(result.workerId).toBe('engine-test');
    expect(beats.length).toBeGreaterThanOrEqual(3);
    expect(beats.at(-1)!.step).toBeGreaterThan(0);
    expect(controlAsked).toContain(input.runId);
  }, 120_000);

  it('keeps error names across the channel: a missing plan is final, as in process', async () => {
    const err = await engine
      .call(
        'initCheckpoint',
        { runId: 'x', planKey: 'runs/x/nope/plan.json', spec, outputKey: 'runs/x/c0' },
        undefined,
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('NotFoundError');
    expect((err as Error).message).toMatch(/plan\.json/);
    const failure = toActivityFailure(err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'NotFoundError', nonRetryable: true });
  });

  it('cancels a running segment when its activity is cancelled', async () => {
    const input = await segmentInput();
    const { relay, abort } = io((p, n) => {
      if (n === 2) abort.abort();
    });
    const err = await engine.call('runSegment', input, relay).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
  }, 120_000);

  it('fails the call of an engine that dies as retryable, and serves the next call from a new one', async () => {
    const before = await engine.pid();
    const input = await segmentInput();
    const { relay } = io((p, n) => {
      if (n === 2) process.kill(before!, 'SIGKILL');
    });
    const err = await engine.call('runSegment', input, relay).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TransientError');
    expect((err as Error).message).toMatch(/exited with SIGKILL/);
    const join = (await engine.call('joinGroup', { runId: 'after-death' }, undefined)) as { joined: boolean };
    expect(join.joined).toBe(true);
    expect(await engine.pid()).not.toBe(before);
    expect(isAlive(before!)).toBe(false);
    expect(logs.join('\n')).toMatch(/starting a new one/);
    expect(logs.join('\n')).toMatch(/trainer engine restarted/);
  }, 300_000);

  it('ends when its worker process is killed', async () => {
    const code = `
      import { TrainerEngine } from ${JSON.stringify(path.join(import.meta.dirname, 'engine.ts'))};
      const engine = await TrainerEngine.start({
        config: JSON.parse(process.env.ENGINE_TEST_CONFIG),
        workerId: 'orphan-test',
        log: () => undefined,
        control: () => new Promise(() => undefined),
        onFatal: () => undefined,
      });
      process.stdout.write(String(await engine.pid()) + '\\n');
      setInterval(() => undefined, 1000);
    `;
    const parent = spawn(
      process.execPath,
      ['--import', require.resolve('tsx'), '--input-type=module', '-e', code],
      {
        env: { ...process.env, ENGINE_TEST_CONFIG: JSON.stringify({ ...stack.config, backend: 'cpu' }) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const enginePid = await new Promise<number>((resolve, reject) => {
      let out = '';
      parent.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(Number(out.trim()));
      });
      parent.once('exit', (c) => reject(new Error(`worker exited (${c}) before its engine was ready`)));
    });
    expect(isAlive(enginePid)).toBe(true);
    parent.kill('SIGKILL');
    await waitFor('the orphaned engine to end', () => Promise.resolve(!isAlive(enginePid)), 10_000, 50);
  }, 120_000);
});
