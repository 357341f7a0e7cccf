import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BAD_INPUT_ERROR,
  ORCHESTRATOR_QUEUE,
  parseTrainSpec,
  PEER_UNREACHABLE_ERROR,
  STOP_SIGNAL,
  TRAINER_QUEUE,
  trainerQueueFor,
  type ExportModelResult,
  type InitCheckpointResult,
  type JoinGroupInput,
  type JoinGroupResult,
  type PrepareRunInput,
  type RunPlan,
  type SegmentInput,
  type SegmentResult,
  type TrainResult,
} from '@seqtrain/contracts';
import { currentActivity } from '@seqtrain/activities';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import { getWorkflowBundle, installRuntime } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';

// The training workflow's logic on the real dev server with every activity stubbed (the Temporal
// samples' middle tier): group formation, re-forming after a failed member, final errors and
// stops, without trainers, S3 or a model. What the stubs answer is decided per run id.

type Behaviour = {
  /** throws for this member and generation, or returns undefined to succeed */
  segment?: (input: SegmentInput) => Error | undefined;
  /** how long a failing member takes to fail (default: the leader 300 ms after the others) */
  failAfterMs?: (input: SegmentInput) => number;
  /** blocks checkpoint 0 until cancelled */
  holdInit?: boolean;
  /** segments before this one end on their budget after one epoch (default: the first finishes) */
  budgetSegments?: number;
};

const ROUNDS_PER_EPOCH = 5;
const behaviours = new Map<string, Behaviour>();
/** the trainers Temporal lists as polling (discoverTrainers takes no run id: one answer for all) */
let discover: () => string[] = () => ['t1', 't2'];
const calls: { runId: string; name: string; detail?: string }[] = [];

function record(runId: string, name: string, detail?: string): void {
  calls.push({ runId, name, ...(detail ? { detail } : {}) });
}

const light = {
  prepareRun(input: PrepareRunInput): Promise<RunPlan> {
    record(input.runId, 'prepareRun');
    const ranks = input.spec.workers;
    return Promise.resolve({
      runId: input.runId,
      datasetName: 'stub',
      datasetDigest: 'a'.repeat(64),
      planKey: `runs/${input.runId}/plan.json`,
      ranks,
      shards: ranks,
      shardRows: Array.from({ length: ranks }, () => 100),
      valRows: 20,
      roundsPerEpoch: ROUNDS_PER_EPOCH,
      examplesPerShardRound: input.spec.training.batchSize,
      stepsPerRound: 1,
      paramCount: 0,
      specHash: '',
    });
  },
  discoverTrainers: (): Promise<string[]> => Promise.resolve(discover()),
  registerRunModel(input: { workflowId: string; spec: { name: string } }) {
    record(input.workflowId, 'registerRunModel');
    return Promise.resolve({ name: input.spec.name, version: 1 });
  },
};

/** A segment that trained the run up to `epochs` epochs (the end of training when that is all). */
function stubSegment(input: SegmentInput, workerId: string, epochs: number): SegmentResult {
  const rounds = epochs * ROUNDS_PER_EPOCH;
  const finished = epochs >= input.spec.training.epochs;
  const loss = (e: number): number => 1 - e * 0.1;
  const key = `runs/${input.runId}/ckpt-${rounds}`;
  return {
    execution: input.execution,
    member: input.member,
    workerId,
    backend: { name: 'stub' },
    reason: finished ? 'finished' : 'budget',
    end: {
      ...input.start,
      step: rounds,
      rounds,
      epoch: epochs,
      roundInEpoch: 0,
      checkpointKey: key,
      best: {
        checkpointKey: key,
        epoch: epochs - 1,
        step: rounds,
        value: loss(epochs - 1),
        metrics: { loss: loss(epochs - 1) },
      },
      recentCheckpoints: [key],
      finished,
    },
    epochs: Array.from({ length: epochs }, (_, e) => ({
      epoch: e,
      step: (e + 1) * ROUNDS_PER_EPOCH,
      trainLoss: loss(e),
      valLoss: loss(e),
      metrics: { loss: loss(e) },
    })),
    rounds,
    samples: rounds * 32 * input.group.members.length,
    busyMs: 10,
    setupMs: 1,
    weightsSha256: 'b'.repeat(64),
    replayed: false,
  };
}

function trainer(workerId: string, shared = false) {
  return {
    joinGroup(input: JoinGroupInput): Promise<JoinGroupResult> {
      record(
        input.runId,
        shared ? 'joinGroup (shared queue)' : 'joinGroup',
        `${workerId}@${input.generation}`,
      );
      return Promise.resolve({ joined: true, workerId, address: '127.0.0.1:9', backend: { name: 'stub' } });
    },
    leaveGroup: (): Promise<void> => Promise.resolve(),
    async initCheckpoint(input: { runId: string }): Promise<InitCheckpointResult> {
      record(input.runId, 'initCheckpoint');
      if (behaviours.get(input.runId)?.holdInit) {
        const ctx = currentActivity()!;
        // Heartbeats carry the cancellation back to the activity.
        for (let i = 0; i < 600 && !ctx.cancellationSignal.aborted; i++) {
          ctx.heartbeat();
          await new Promise((r) => setTimeout(r, 100));
        }
        throw ApplicationFailure.retryable('cancelled', 'CancelledFailure');
      }
      return {
        checkpointKey: `runs/${input.runId}/ckpt-0`,
        paramCount: 10,
        specHash: 'h',
        backend: { name: 'stub' },
      };
    },
    runSegment(input: SegmentInput): Promise<SegmentResult> {
      record(input.runId, 'runSegment', `${workerId}:${input.member}@${input.group.generation}`);
      const fail = behaviours.get(input.runId)?.segment?.(input);
      // A leader that fails noticed its peer's failure: a moment after the peer's own.
      const after = behaviours.get(input.runId)?.failAfterMs?.(input) ?? (input.member === 0 ? 300 : 0);
      if (fail) return new Promise((_, reject) => setTimeout(() => reject(fail), after));
      // A budget-ended segment stops after the first epoch; otherwise it runs the rest.
      const early = input.segment < (behaviours.get(input.runId)?.budgetSegments ?? 0);
      return Promise.resolve(stubSegment(input, workerId, early ? 1 : input.spec.training.epochs));
    },
    exportModel(input: { runId: string }): Promise<ExportModelResult> {
      record(input.runId, 'exportModel');
      return Promise.resolve({
        modelPrefix: `runs/${input.runId}/model/`,
        weightsSha256: 'b'.repeat(64),
        files: [],
      });
    },
  };
}

describe('trainModel with stubbed activities', () => {
  let stack: TestStack;
  let connection: NativeConnection;
  let clientConnection: Connection;
  let client: Client;
  const workers: Worker[] = [];
  const running: Promise<void>[] = [];

  beforeAll(async () => {
    await installRuntime('warn');
    stack = await startTestStack({ temporal: true, s3: false });
    const address = stack.config.temporal.address;
    connection = await NativeConnection.connect({ address });
    workers.push(
      await Worker.create({
        connection,
        taskQueue: ORCHESTRATOR_QUEUE,
        workflowBundle: await getWorkflowBundle(),
        activities: light,
      }),
    );
    for (const [queue, id] of [
      [TRAINER_QUEUE, 't1'],
      [trainerQueueFor('t1'), 't1'],
      [trainerQueueFor('t2'), 't2'],
    ] as const)
      workers.push(
        await Worker.create({
          connection,
          taskQueue: queue,
          activities: trainer(id, queue === TRAINER_QUEUE),
        }),
      );
    for (const w of workers) running.push(w.run());
    clientConnection = await Connection.connect({ address });
    client = new Client({ connection: clientConnection });
  });

  afterAll(async () => {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await clientConnection?.close();
    await connection?.close();
    await stack?.stop();
  });

  const spec = parseTrainSpec({
    name: 'stubbed',
    dataset: 'stub',
    task: 'regression',
    model: { cell: 'lstm', units: [4] },
    workers: 2,
    training: { optimizer: { name: 'adam', learningRate: 0.01 }, batchSize: 32, epochs: 2, seed: 1 },
  });

  function start(behaviour: Behaviour) {
    const id = `stubbed-${randomUUID()}`;
    behaviours.set(id, behaviour);
    return client.workflow.start<typeof trainModel>('trainModel', {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId: id,
      args: [{ spec, segmentSeconds: 60 }],
    });
  }

  const of = (id: string, name: string) => calls.filter((c) => c.runId === id && c.name === name);

  it('places both ranks, runs one segment on the two trainers, exports and registers', async () => {
    const h = await start({});
    const r: TrainResult = await h.result();
    expect(r).toMatchObject({ status: 'completed', generations: 1, segments: 1, steps: 10, epochs: 2 });
    expect(r.model).toEqual({ name: 'stubbed', version: 1 });
    expect(
      of(h.workflowId, 'runSegment')
        .map((c) => c.detail)
        .sort(),
    ).toEqual(['t1:0@1', 't2:1@1']);
    expect(of(h.workflowId, 'registerRunModel')).toHaveLength(1);
  });

  it('re-forms the group after a member fails, and finishes in the next generation', async () => {
    // Generation 1: member 1's trainer goes away; the leader sees its link drop.
    const h = await start({
      segment: (i) =>
        i.group.generation !== 1
          ? undefined
          : new Error(i.member === 1 ? 'trainer shut down' : 'data plane: member 1 closed the connection'),
    });
    const r: TrainResult = await h.result();
    expect(r.status).toBe('completed');
    expect(r.generations).toBe(2);
    expect(r.faults).toHaveLength(1);
    expect(r.faults[0]).toMatch(
      /^segment 0 \(generation 1\): (trainer shut down|data plane: member 1 closed)/,
    );
    // Generation 2 asked the trainers again and ran on both.
    expect(of(h.workflowId, 'joinGroup').map((c) => c.detail)).toEqual(
      expect.arrayContaining(['t1@2', 't2@2']),
    );
    expect(of(h.workflowId, 'runSegment').filter((c) => c.detail?.endsWith('@2'))).toHaveLength(2);
    expect(of(h.workflowId, 'registerRunModel')).toHaveLength(1);
  });

  it('from zero trainers: one join per rank on the shared queue, then the group grows as trainers appear', async () => {
    // Nobody polls at first (an autoscaler has scaled trainers to zero); t1 starts and answers
    // the shared queue; t2 is listed from the first segment boundary on.
    let calls = 0;
    discover = () => (calls++ === 0 ? [] : ['t1', 't2']);
    try {
      const h = await start({ budgetSegments: 1 });
      const r: TrainResult = await h.result();
      expect(r.status).toBe('completed');
      // The backlog an autoscaler sees: one join per rank (2), both answered by t1.
      expect(of(h.workflowId, 'joinGroup (shared queue)').map((c) => c.detail)).toEqual(['t1@1', 't1@1']);
      const segments = of(h.workflowId, 'runSegment').map((c) => c.detail);
      // Generation 1: both ranks on t1; generation 2, after the boundary: one rank each.
      expect(segments.filter((d) => d?.endsWith('@1'))).toEqual(['t1:0@1']);
      expect(segments.filter((d) => d?.endsWith('@2')).sort()).toEqual(['t1:0@2', 't2:1@2']);
      expect(r.generations).toBe(2);
      expect(r.faults).toEqual([]);
    } finally {
      discover = () => ['t1', 't2'];
    }
  });

  it('a trainer its peer could not reach is left out of the next group, and the run finishes without it', async () => {
    // Member 0 (t1) dials member 1 (t2) and finds nothing listening; t2 waits in vain for it.
    const h = await start({
      segment: (i) =>
        i.group.members.length < 2
          ? undefined
          : i.member === 0
            ? ApplicationFailure.create({
                message: 'data plane: member 1 at 10.0.0.2:7300 could not be reached within 10.0 s',
                type: PEER_UNREACHABLE_ERROR,
              })
            : new Error('data plane: member 0 did not connect within 15.0 s'),
      // The accepting side waits longer than the dialer tries (segment.ts): the dialer's report lands first.
      failAfterMs: (i) => (i.member === 0 ? 0 : 300),
    });
    const r: TrainResult = await h.result();
    expect(r.status).toBe('completed');
    expect(r.generations).toBe(2);
    expect(r.faults[0]).toMatch(/could not be reached|did not connect/);
    // Generation 2 placed both ranks on t1 alone.
    expect(
      of(h.workflowId, 'runSegment')
        .filter((c) => c.detail?.endsWith('@2'))
        .map((c) => c.detail),
    ).toEqual(['t1:0@2']);
    expect(Object.keys(r.trainers)).toEqual(['t1']);
  });

  it("a member's bad input fails the run at once, though its peer saw only a dropped link: nothing registered", async () => {
    // The member that read the bad shard fails with the final error; the leader, waiting for its
    // gradients, sees the connection drop (a transient error): the final one decides.
    const h = await start({
      segment: (i) =>
        i.member === 1
          ? ApplicationFailure.create({
              message: 'shard 1: feature 3 is NaN',
              type: BAD_INPUT_ERROR,
              nonRetryable: true,
            })
          : new Error('data plane: member 1 closed the connection'),
    });
    const err = await h.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as WorkflowFailedError).cause?.message)).toMatch(/shard 1: feature 3 is NaN/);
    expect(of(h.workflowId, 'runSegment').every((c) => c.detail?.endsWith('@1'))).toBe(true);
    expect(of(h.workflowId, 'exportModel')).toHaveLength(0);
    expect(of(h.workflowId, 'registerRunModel')).toHaveLength(0);
  });

  it('a stop while checkpoint 0 is written ends the run stopped, untrained and unregistered', async () => {
    const h = await start({ holdInit: true });
    for (let i = 0; i < 100 && of(h.workflowId, 'initCheckpoint').length === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(of(h.workflowId, 'initCheckpoint')).toHaveLength(1);
    await h.signal(STOP_SIGNAL, { reason: 'test' });
    const r: TrainResult = await h.result();
    expect(r).toMatchObject({ status: 'stopped', model: null, steps: 0 });
    expect(of(h.workflowId, 'runSegment')).toHaveLength(0);
    expect(of(h.workflowId, 'registerRunModel')).toHaveLength(0);
  });
});
