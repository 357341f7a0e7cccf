import net from 'node:net';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@seqtrain/backend';
import {
  parseTrainSpec,
  placeRanks,
  runKeys,
  startPosition,
  type LoopPosition,
  type RunControl,
  type SegmentInput,
  type SegmentResult,
  type TrainSpec,
  type TrainSpecInput,
} from '@seqtrain/contracts';
import { DataPlaneServer, dialPeer, encodeFrame, parseAddress } from '@seqtrain/dataplane';
import { importDataset } from '@seqtrain/dataset';
import { startTestStack, type TestStack, seattleWeatherImport } from '@seqtrain/local-stack';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import { createLightTrainingActivities, createTrainerActivities, prepareLocalRun } from '../index';
import type { Checkpoint } from '@seqtrain/model';
import { soloExchange } from './exchange';
import { TRAINER_CACHE_LIMITS, TrainerCache, weightsSha256 } from './trainer-cache';

// Tier 2: segments of a group run as activities (MockActivityEnvironment, no worker) against the
// real local S3, the members talking over real data-plane sockets on loopback.
const repoRoot = path.resolve(import.meta.dirname, '../../..');

interface Trainer {
  id: string;
  dp: DataPlaneServer;
  acts: ReturnType<typeof createTrainerActivities>;
}

let stack: TestStack;
let store: S3BlobStore;
const trainers: Trainer[] = [];
/** what the leaders' control query answers, per run */
const controls = new Map<string, RunControl>();
/** runs whose control query Temporal never answers */
const unanswered = new Set<string>();

beforeAll(async () => {
  // Bit identity needs every micro-batch gradient to be a pure function of (weights, batch): the
  // JS cpu kernels are (see packages/model/src/data-parallel.test.ts).
  await initBackend({ backend: 'cpu' });
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
  for (let i = 0; i < 4; i++) {
    const dp = await DataPlaneServer.listen({ host: '127.0.0.1', port: 0 });
    const id = `trainer-${i}`;
    trainers.push({
      id,
      dp,
      acts: createTrainerActivities({
        store,
        workerId: id,
        dataPlane: dp,
        control: (runId) =>
          unanswered.has(runId)
            ? new Promise<RunControl>(() => undefined)
            : Promise.resolve(
                controls.get(runId) ?? { stop: false, pause: false, generation: 1, segment: 0 },
              ),
      }),
    });
  }
}, 180_000);

afterAll(async () => {
  for (const t of trainers) await t.dp.close();
  await stack?.stop();
});

function spec(over: Partial<TrainSpecInput> & { training?: TrainSpecInput['training'] }): TrainSpec {
  return parseTrainSpec({
    name: 'seg-test',
    dataset: 'weather',
    task: 'regression',
    model: { cell: 'lstm', units: [6] },
    ...over,
    training: {
      optimizer: { name: 'adam', learningRate: 0.01 },
      batchSize: 16,
      epochs: 2,
      seed: 5,
      ...over.training,
    },
  });
}

function oversizedHello(): Buffer {
  const frame = Buffer.concat(encodeFrame('hello', { runId: 'x' }));
  frame.writeUInt32LE(1 << 30, 12);
  return frame.subarray(0, 16);
}

let runs = 0;
async function prepare(
  s: TrainSpec,
): Promise<{ runId: string; execution: string; planKey: string; ckpt0: string }> {
  const runId = `seg-run-${runs++}`;
  const execution = 'execution-1';
  const plan = await createLightTrainingActivities({ store }).prepareRun({ runId, execution, spec: s });
  const init = await trainers[0]!.acts.initCheckpoint({
    runId,
    planKey: plan.planKey,
    spec: s,
    outputKey: runKeys.checkpoint(runId, execution, 0),
  });
  return { runId, execution, planKey: plan.planKey, ckpt0: init.checkpointKey };
}

interface SegmentOptions {
  segment?: number;
  generation?: number;
  budgetMs?: number;
  envs?: MockActivityEnvironment[];
  /** start only these members now (the others: call again with the rest) */
  only?: number[];
  execution?: string;
}

/** One segment on `hosts` trainers (ranks placed as the workflow places them): one promise per member. */
function segmentCalls(
  s: TrainSpec,
  run: { runId: string; execution: string; planKey: string },
  hosts: number,
  start: LoopPosition,
  opts: SegmentOptions = {},
): Promise<SegmentResult>[] {
  const members = placeRanks(
    s.workers,
    trainers.slice(0, hosts).map((t) => ({ workerId: t.id, address: t.dp.address })),
  );
  const group = { generation: opts.generation ?? 1, secret: 'f'.repeat(64), members };
  return members.flatMap((_, i) => {
    if (opts.only && !opts.only.includes(i)) return [];
    const env = opts.envs?.[i] ?? new MockActivityEnvironment();
    const input: SegmentInput = {
      runId: run.runId,
      execution: opts.execution ?? run.execution,
      planKey: run.planKey,
      spec: s,
      group,
      member: i,
      segment: opts.segment ?? 0,
      start,
      budgetMs: opts.budgetMs ?? 600_000,
      keepCheckpoints: 2,
    };
    return [env.run((x: SegmentInput) => trainers[i]!.acts.runSegment(x), input)];
  });
}

function segment(
  s: TrainSpec,
  run: { runId: string; execution: string; planKey: string },
  hosts: number,
  start: LoopPosition,
  opts: SegmentOptions = {},
): Promise<SegmentResult[]> {
  return Promise.all(segmentCalls(s, run, hosts, start, opts));
}

/** A whole run as consecutive segments; returns the leader's last result. */
async function train(
  s: TrainSpec,
  hosts: number,
  budgetMs = 600_000,
): Promise<{ last: SegmentResult; segments: number }> {
  const run = await prepare(s);
  let start = startPosition(run.ckpt0);
  for (let n = 0; ; n++) {
    controls.set(run.runId, { stop: false, pause: false, generation: 1, segment: n });
    const [lead] = await segment(s, run, hosts, start, { segment: n, budgetMs });
    if (lead!.end.finished) return { last: lead!, segments: n + 1 };
    start = lead!.end;
  }
}

async function localWeights(s: TrainSpec): Promise<string> {
  const run = await prepare(s);
  const local = await prepareLocalRun(store, { ...run, spec: s, checkpointKey: run.ckpt0 });
  await local.run();
  return weightsSha256(local.loop.checkpoint.weights);
}

describe('the training loop', () => {
  it('reuses arrays from step to step without touching a state anyone holds (its start checkpoint, the best state)', async () => {
    const s = spec({ training: { epochs: 4 } });
    const run = await prepare(s);
    const local = await prepareLocalRun(store, { ...run, spec: s, checkpointKey: run.ckpt0 });
    const digest = (c: Checkpoint): string =>
      [c.weights, ...c.optimizer.slots].map((a) => weightsSha256(a)).join(',');
    const start = local.loop.checkpoint;
    const startDigest = digest(start);
    const atStep = new Map<number, string>();
    const arrays = new Set<Float32Array>();
    await local.loop.run(soloExchange(), {
      shouldEnd: () => undefined,
      afterRound(l) {
        atStep.set(l.checkpoint.step, digest(l.checkpoint));
        arrays.add(l.checkpoint.weights);
      },
      yield: () => Promise.resolve(),
    });
    const best = local.loop.bestState;
    expect(best).toBeDefined();
    expect(atStep.size).toBeGreaterThan(20);
    // The reuse happened: a few weight arrays served every step ...
    expect(arrays.size).toBeLessThanOrEqual(4);
    // ... and the states others hold are what they were when they were made.
    expect(digest(start)).toBe(startDigest);
    expect(digest(best!)).toBe(atStep.get(best!.step));
    expect(digest(local.loop.checkpoint)).toBe(atStep.get(local.loop.checkpoint.step));
  });
});

describe('the trainer cache', () => {
  it('stays bounded over many runs: plans, datasets and shards are dropped least recently used first', async () => {
    const s = spec({ workers: 2 });
    const run = await prepare(s);
    const own = createBlobStore(stack.config);
    const cache = new TrainerCache(own, 4);
    const plan = await cache.plan(run.planKey);
    const manifest = await cache.manifest(`${plan.name}@${plan.digest}`);
    const bytes = await store.get(run.planKey);
    const keys: string[] = [];
    for (let i = 0; i < TRAINER_CACHE_LIMITS.plans + 8; i++) {
      const key = `${run.planKey}.copy-${i}`;
      await store.put(key, bytes);
      keys.push(key);
      await cache.plan(key);
      await cache.rows(manifest, plan, key, i % 2);
    }
    const sizes = cache.sizes();
    expect(sizes.plans).toBe(TRAINER_CACHE_LIMITS.plans);
    expect(sizes.shards).toBe(4);
    expect(sizes.readers).toBe(1);
    expect(sizes.batchBytes).toBeLessThanOrEqual(TRAINER_CACHE_LIMITS.batchBytes);
    const c0 = await cache.checkpoint(run.ckpt0);
    for (let i = 0; i < 5; i++) cache.remember(`${run.ckpt0}.copy-${i}`, c0);
    expect(cache.sizes().checkpoints).toBe(TRAINER_CACHE_LIMITS.checkpoints);
    // The newest entries are still there (no GET), the oldest were dropped (GET again).
    const gets = own.stats.gets + own.stats.rangeGets;
    await cache.plan(keys.at(-1)!);
    await cache.rows(manifest, plan, keys.at(-1)!, (keys.length - 1) % 2);
    expect(own.stats.gets + own.stats.rangeGets).toBe(gets);
    await cache.plan(keys[0]!);
    expect(own.stats.gets + own.stats.rangeGets).toBe(gets + 1);
  }, 60_000);
});

describe('segments of a trainer group', () => {
  for (const cell of ['lstm', 'gru'] as const) {
    it(`${cell}, sync: 1, 2 and 4 ranks at the same global batch, on 1, 2 and 4 members, give the weights of the local loop`, async () => {
      const configs = [
        { workers: 1, microBatches: 4, hosts: [1] },
        { workers: 2, microBatches: 2, hosts: [1, 2] },
        { workers: 4, microBatches: 1, hosts: [1, 2, 4] },
      ];
      const four = spec({ model: { cell, units: [6] }, workers: 4 });
      const reference = await localWeights(four);
      const initial = await prepare(four);
      const c0 = await trainers[0]!.acts.exportModel({
        ...initial,
        spec: four,
        checkpointKey: initial.ckpt0,
      });
      expect(c0.weightsSha256).not.toBe(reference); // training moved the weights
      for (const c of configs) {
        for (const hosts of c.hosts) {
          const s = spec({
            model: { cell, units: [6] },
            workers: c.workers,
            training: { microBatches: c.microBatches },
          });
          const { last } = await train(s, hosts);
          expect(
            last.weightsSha256,
            `${c.workers} ranks x ${c.microBatches} micro-batches on ${hosts} members`,
          ).toBe(reference);
          expect(last.reason).toBe('finished');
          expect(last.epochs.map((e) => e.epoch)).toEqual([0, 1]);
        }
      }
    }, 300_000);
  }

  it('local SGD (syncEvery 3, Nesterov outer step): 4 ranks on 1, 2 and 4 members give the weights of the local loop', async () => {
    const s = spec({
      workers: 4,
      training: { syncEvery: 3, outerOptimizer: { name: 'nesterov', learningRate: 0.7, momentum: 0.9 } },
    });
    const reference = await localWeights(s);
    for (const hosts of [1, 2, 4])
      expect((await train(s, hosts)).last.weightsSha256, `${hosts} members`).toBe(reference);
  }, 300_000);

  it('a run cut into one-round segments ends with the weights of one long segment, keeping few checkpoints', async () => {
    const s = spec({ workers: 2, training: { batchSize: 64, epochs: 2 } });
    const whole = await train(s, 2);
    const cut = await train(s, 2, 1);
    expect(whole.segments).toBe(1);
    expect(cut.segments).toBe(cut.last.end.rounds);
    expect(cut.segments).toBeGreaterThan(10);
    expect(cut.last.weightsSha256).toBe(whole.last.weightsSha256);
    expect(cut.last.end.best?.step).toBe(whole.last.end.best?.step);
    const dir = cut.last.end.checkpointKey.slice(0, cut.last.end.checkpointKey.lastIndexOf('/') + 1);
    const kept = (await store.list(dir)).map((b) => b.key);
    // the 2 most recent and the best
    expect(kept.length).toBeLessThanOrEqual(3);
    expect(kept).toContain(cut.last.end.best!.checkpointKey);
  }, 300_000);

  it('a segment run again after it finished returns its record instead of training', async () => {
    const s = spec({ workers: 2 });
    const run = await prepare(s);
    const start = startPosition(run.ckpt0);
    const first = await segment(s, run, 2, start);
    const again = await segment(s, run, 2, start, { generation: 2 });
    expect(first[0]!.replayed).toBe(false);
    expect(again.map((r) => r.replayed)).toEqual([true, true]);
    expect(again[0]!.end).toEqual(first[0]!.end);
    expect(again[0]!.weightsSha256).toBe(first[0]!.weightsSha256);
    // A new run that reuses the workflow id (its first execution differs) trains afresh.
    controls.set(run.runId, { stop: false, pause: false, generation: 3, segment: 0 });
    const reused = await segment(s, run, 2, start, { generation: 3, execution: 'execution-2' });
    expect(reused.map((r) => r.replayed)).toEqual([false, false]);
  }, 300_000);

  it('refuses strangers, malformed and oversized frames, the wrong secret and an older generation, without disturbing the segment', async () => {
    const s = spec({ workers: 2 });
    const reference = (await train(s, 2)).last.weightsSha256;
    const run = await prepare(s);
    controls.set(run.runId, { stop: false, pause: false, generation: 3, segment: 0 });
    // Member 1 waits for member 0, which starts only after the strangers were turned away.
    const [waiting] = segmentCalls(s, run, 2, startPosition(run.ckpt0), { generation: 3, only: [1] });
    const impostor = (over: { secret?: string; generation?: number }) =>
      dialPeer({
        runId: run.runId,
        generation: over.generation ?? 3,
        segment: 0,
        address: trainers[1]!.dp.address,
        secret: over.secret ?? 'f'.repeat(64),
        from: 0,
        to: 1,
        timeoutMs: 10_000,
        maxBodyBytes: 1024,
        idleTimeoutMs: 5_000,
        keepaliveMs: 1_000,
      });
    // Not a peer at all: an HTTP request, and a frame announcing a 1 GiB body.
    const { port } = parseAddress(trainers[1]!.dp.address);
    for (const bytes of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), oversizedHello()]) {
      await new Promise<void>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
        socket.on('error', () => undefined);
        // Read what the server sends (its challenge), so that its close reaches us.
        socket.resume();
        socket.on('close', () => resolve());
      });
    }
    const refused = await Promise.allSettled([
      impostor({ secret: '0'.repeat(64) }),
      impostor({ generation: 2 }),
    ]);
    expect(refused.map((r) => (r.status === 'rejected' ? String(r.reason) : 'accepted'))).toEqual([
      expect.stringMatching(/wrong run secret/),
      expect.stringMatching(/re-formed, this trainer serves generation 3/),
    ]);
    const [lead, other] = await Promise.all([
      ...segmentCalls(s, run, 2, startPosition(run.ckpt0), { generation: 3, only: [0] }),
      waiting!,
    ]);
    expect(other!.weightsSha256).toBe(reference);
    expect(lead.weightsSha256).toBe(reference);
  }, 300_000);

  it('a member that goes away mid-segment fails its peers at once with the reason, not after a timeout', async () => {
    const s = spec({ workers: 2, training: { epochs: 50 } });
    const run = await prepare(s);
    const envs = [new MockActivityEnvironment(), new MockActivityEnvironment()];
    let beats = 0;
    envs[1]!.on('heartbeat', () => {
      if (++beats === 3) envs[1]!.cancel();
    });
    const started = Date.now();
    const [lead, gone] = await Promise.allSettled(
      segmentCalls(s, run, 2, startPosition(run.ckpt0), { envs }),
    );
    expect(gone!.status).toBe('rejected');
    expect(lead!.status).toBe('rejected');
    expect(String((lead as PromiseRejectedResult).reason)).toMatch(
      /PeerError: data plane: .*(gave up: segment cancelled|closed the connection)/,
    );
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 120_000);

  it('a trainer joining a group for a small dataset reads every shard while the group forms, not in the segment', async () => {
    const s = spec({ workers: 2, training: { epochs: 1 } });
    const run = await prepare(s);
    const own = createBlobStore(stack.config);
    const acts = createTrainerActivities({ store: own, workerId: 'prefetcher' });
    const joined = await acts.joinGroup({
      runId: run.runId,
      generation: 1,
      prefetch: { planKey: run.planKey, spec: s },
    });
    expect(joined.joined).toBe(true);
    // Another computation waits for the compute slot, which the prefetch holds until it is done.
    await acts.initCheckpoint({
      runId: run.runId,
      planKey: run.planKey,
      spec: s,
      outputKey: runKeys.checkpoint(run.runId, 'elsewhere', 0),
    });
    const members = placeRanks(s.workers, [{ workerId: 'prefetcher', address: '127.0.0.1:1' }]);
    const before = own.stats.bytesRead;
    const input: SegmentInput = {
      runId: run.runId,
      execution: run.execution,
      planKey: run.planKey,
      spec: s,
      group: { generation: 1, secret: 'e'.repeat(64), members },
      member: 0,
      segment: 0,
      start: startPosition(run.ckpt0),
      budgetMs: 600_000,
      keepCheckpoints: 2,
    };
    const lead: SegmentResult = await new MockActivityEnvironment().run(
      (x: SegmentInput) => acts.runSegment(x),
      input,
    );
    expect(lead.end.finished).toBe(true);
    // The segment read its start checkpoint (made by another trainer) and no rows.
    expect(own.stats.bytesRead - before).toBe((await store.head(run.ckpt0))!.size);
  }, 60_000);

  it('a segment ends without waiting for a control query Temporal does not answer', async () => {
    const s = spec({ training: { epochs: 1 } });
    const run = await prepare(s);
    unanswered.add(run.runId);
    const [lead] = await segment(s, run, 1, startPosition(run.ckpt0));
    expect(lead!.end.finished).toBe(true);
    expect(lead!.reason).toBe('finished');
  }, 60_000);

  it('the leader ends the segment when the workflow asks it to stop, at a step boundary', async () => {
    const s = spec({ workers: 2, training: { epochs: 50 } });
    const run = await prepare(s);
    const envs = [new MockActivityEnvironment(), new MockActivityEnvironment()];
    controls.set(run.runId, { stop: false, pause: false, generation: 1, segment: 0 });
    let beats = 0;
    envs[0]!.on('heartbeat', () => {
      if (++beats === 2) controls.set(run.runId, { stop: true, pause: false, generation: 1, segment: 0 });
    });
    const [lead, other] = await segment(s, run, 2, startPosition(run.ckpt0), { envs });
    expect(lead!.reason).toBe('stopped');
    expect(lead!.end.finished).toBe(false);
    expect(other!.end.step).toBe(lead!.end.step);
    expect(other!.weightsSha256).toBe(lead!.weightsSha256);
    expect(await store.head(lead!.end.checkpointKey)).toBeTruthy();
  }, 120_000);
});
