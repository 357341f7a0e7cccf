/**
 * trainModel: data-parallel training of one spec (docs/architecture.md, "One training run").
 * prepare -> checkpoint 0 -> form a group of trainers -> segments (one long activity per group
 * member; the members reduce gradients between themselves every step and evaluate, track the
 * best checkpoint and stop early inside the segment) -> export the best -> register.
 *
 * Temporal is the control plane only: it sees a few events per segment, never a step. A member
 * that dies or hangs fails its segment; the workflow re-forms the group (generation + 1) from
 * the trainers alive and resumes from the last checkpoint, which gives the same weights because
 * the data order, the reduction order and the optimizer are fixed.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { setSearchAttributes } from './search-attributes';
import {
  BAD_INPUT_ERROR,
  CONTROL_QUERY,
  activityRetry,
  ORCHESTRATOR_QUEUE,
  PAUSE_SIGNAL,
  placeRanks,
  PROGRESS_QUERY,
  RESUME_SIGNAL,
  runKeys,
  startPosition,
  STOP_SIGNAL,
  TRAINER_QUEUE,
  trainerQueueFor,
  type JoinGroupResult,
  type RunControl,
  type RunPhase,
  type RunStatus,
  type TrainerGroup,
  type TrainLoopState,
  type TrainProgress,
  type TrainResult,
  type TrainRunInput,
} from '@seqtrain/contracts';
import type { LightTrainingActivities, RegisterActivities, TrainerActivities } from '@seqtrain/activities';
import {
  isFinal,
  message,
  progressOf,
  rates,
  recordSegment,
  recordSegmentFailure,
  resultOf,
  rootCause,
  untrainedResult,
  AVOID_UNREACHABLE_MS,
  isAvoided,
  preferReachable,
  unreachableMembers,
} from './train-state';

export const progressQuery = defineQuery<TrainProgress>(PROGRESS_QUERY);
export const controlQuery = defineQuery<RunControl>(CONTROL_QUERY);
export const stopSignal = defineSignal<[{ reason?: string }?]>(STOP_SIGNAL);
export const pauseSignal = defineSignal(PAUSE_SIGNAL);
export const resumeSignal = defineSignal(RESUME_SIGNAL);

const retry = activityRetry();

const light = proxyActivities<LightTrainingActivities & RegisterActivities>({
  taskQueue: ORCHESTRATOR_QUEUE,
  startToCloseTimeout: '5 minutes',
  retry,
});

// Checkpoint 0, evaluation outside a segment and export: any trainer, retried.
const shared = proxyActivities<TrainerActivities>({
  taskQueue: TRAINER_QUEUE,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '20 seconds',
  retry,
});

// Group formation and segments never retry on their own: the workflow re-forms the group.
const once = { maximumAttempts: 1 };

/** A join that any trainer may answer, including one still starting (scale from zero). */
const anyTrainer = proxyActivities<TrainerActivities>({
  taskQueue: TRAINER_QUEUE,
  scheduleToStartTimeout: '30 seconds',
  startToCloseTimeout: '10 seconds',
  retry: once,
});

/** A trainer's own queue: a join probe fails fast (schedule-to-start) when the trainer is gone. */
function probe(workerId: string): TrainerActivities {
  return proxyActivities<TrainerActivities>({
    taskQueue: trainerQueueFor(workerId),
    scheduleToStartTimeout: '2 seconds',
    startToCloseTimeout: '10 seconds',
    retry: once,
  });
}

/** A segment: heartbeats every round, so a dead or frozen member fails within the timeout. */
function member(workerId: string): TrainerActivities {
  return proxyActivities<TrainerActivities>({
    taskQueue: trainerQueueFor(workerId),
    scheduleToStartTimeout: '30 seconds',
    startToCloseTimeout: '12 hours',
    heartbeatTimeout: '20 seconds',
    retry: once,
  });
}

export async function trainModel(input: TrainRunInput): Promise<TrainResult> {
  const info = workflowInfo();
  const runId = info.workflowId;
  // With the workflow id, the run's S3 prefix: a later run that reuses the id starts afresh.
  const execution = info.firstExecutionRunId;
  const spec = input.spec;
  const keep = Math.max(1, input.keepCheckpoints ?? 2);
  const budgetMs = Math.max(1, (input.segmentSeconds ?? 60) * 1000);
  const root = CancellationScope.current();
  let status: RunStatus = input.resume ? 'running' : 'starting';
  let phase: RunPhase = input.resume ? 'training' : 'preparing';
  let state: TrainLoopState | undefined = input.resume;
  let paused = input.resume?.paused ?? false;
  let stopRequested = input.resume?.stopRequested ?? false;
  /** how many stop requests arrived (a second one during finalization cancels it) */
  let stops = stopRequested ? 1 : 0;
  let error: string | undefined;
  /** why the run is waiting for trainers, and how many times in a row it waited */
  let waiting: string | undefined;
  let waits = 0;

  setHandler(progressQuery, () => progress());
  setHandler(controlQuery, () => ({
    stop: stopRequested,
    pause: paused,
    generation: state?.generation ?? 0,
    segment: state?.segments ?? 0,
  }));
  setHandler(stopSignal, (arg) => {
    stopRequested = true;
    stops++;
    if (status === 'running' || status === 'paused') status = 'stopping';
    log.info('stop requested', { reason: arg?.reason });
  });
  setHandler(pauseSignal, () => {
    paused = true;
    if (status === 'running') status = 'paused';
  });
  setHandler(resumeSignal, () => {
    paused = false;
    if (status === 'paused') status = 'running';
  });

  function progress(): TrainProgress {
    return progressOf({ status, phase, runId, spec, state, waiting, error });
  }

  const setStatus = (value: string): void => setSearchAttributes({ SeqtrainStatus: [value] });

  try {
    if (!state) {
      setSearchAttributes({
        SeqtrainModel: [spec.name],
        SeqtrainKind: ['train'],
        SeqtrainStatus: ['running'],
      });
      // `runs stop` ends the run even while preparation or checkpoint 0 is retrying (no trainer
      // up yet, S3 refusing): nothing was trained, nothing is registered.
      const plan = await unlessStopped(0, () => light.prepareRun({ runId, execution, spec }));
      if (!plan) return stoppedUntrained({ name: spec.dataset.split('@')[0]!, digest: '' });
      setSearchAttributes({ SeqtrainDataset: [`${plan.datasetName}@${plan.datasetDigest}`] });
      const init = await unlessStopped(0, () =>
        shared.initCheckpoint({
          runId,
          planKey: plan.planKey,
          spec,
          outputKey: runKeys.checkpoint(runId, execution, 0),
        }),
      );
      if (!init) return stoppedUntrained({ name: plan.datasetName, digest: plan.datasetDigest });
      state = {
        plan: { ...plan, paramCount: init.paramCount, specHash: init.specHash },
        position: startPosition(init.checkpointKey),
        history: [],
        lastMembers: [],
        generation: 0,
        segments: 0,
        trainers: {},
        totals: { samples: 0, busyMs: 0, wallMs: 0, overheadMs: 0 },
        backend: init.backend,
        startedAt: Date.now(),
        stopRequested: false,
        paused: false,
        failures: { consecutive: 0, total: 0, recent: [] },
        continuedAsNew: 0,
      };
      status = 'running';
    }
    const s = state;

    while (!s.position.finished && !stopRequested) {
      if (paused) {
        s.group = undefined;
        await condition(() => !paused || stopRequested);
        continue;
      }
      s.group ??= await formGroup(s);
      if (!s.group) continue;
      await runSegment(s, s.group);
      if (s.group && !s.position.finished && !stopRequested && patched('grow-group'))
        await growIfMoreTrainers(s, s.group);
      if (
        workflowInfo().continueAsNewSuggested ||
        workflowInfo().historyLength > (input.historyLimit ?? 8_000)
      ) {
        await continueAsNew<typeof trainModel>({
          ...input,
          resume: { ...s, stopRequested, paused, continuedAsNew: s.continuedAsNew + 1 },
        });
      }
    }

    status = 'finalizing';
    phase = 'finalizing';
    // Stopped before its first epoch was evaluated: no checkpoint earned a place in the registry.
    const best = s.position.best;
    if (!best) return stoppedUntrained({ name: s.plan.datasetName, digest: s.plan.datasetDigest }, s);
    // A stop asked for during training exports and registers the best checkpoint; a stop asked
    // for now (say, while the export keeps failing) ends the run at once, registering nothing.
    const finalizingAfter = stops;
    const abandoned = (): TrainResult => {
      status = 'stopped';
      setStatus('stopped');
      error = 'stopped while finalizing: the best checkpoint was not registered';
      return {
        ...resultOf({ workflowId: runId, runId: info.runId, execution }, s),
        status: 'stopped',
        model: null,
        metrics: best.metrics,
        weightsSha256: '',
      };
    };
    const exported = await unlessStopped(finalizingAfter, () =>
      shared.exportModel({
        runId,
        execution,
        planKey: s.plan.planKey,
        spec,
        checkpointKey: best.checkpointKey,
      }),
    );
    if (!exported) return abandoned();
    const { samplesPerSec, overheadFraction } = rates(s);
    const epochs = s.history.length;
    let model: TrainResult['model'] = null;
    if (input.register !== false) {
      const registered = await unlessStopped(finalizingAfter, () =>
        light.registerRunModel({
          workflowId: runId,
          runId: execution,
          spec,
          plan: s.plan,
          modelPrefix: exported.modelPrefix,
          metrics: best.metrics,
          ...(input.codeVersion ? { codeVersion: input.codeVersion } : {}),
          backend: s.backend ?? null,
          stats: {
            rounds: s.position.rounds,
            epochs,
            samplesPerSec,
            overheadFraction,
            weightsSha256: exported.weightsSha256,
          },
        }),
      );
      if (!registered) return abandoned();
      model = registered;
    }
    const finalStatus = stopRequested ? 'stopped' : 'completed';
    status = finalStatus;
    setStatus(finalStatus);
    return {
      ...resultOf({ workflowId: runId, runId: info.runId, execution }, s),
      status: finalStatus,
      model,
      metrics: best.metrics,
      weightsSha256: exported.weightsSha256,
    };
  } catch (err) {
    status = 'failed';
    error = message(err);
    setStatus('failed');
    throw err;
  }

  /** The result of a run stopped before its first step: nothing to export or register. */
  function stoppedUntrained(dataset: TrainResult['dataset'], s?: TrainLoopState): TrainResult {
    status = 'stopped';
    setStatus('stopped');
    return untrainedResult({ workflowId: runId, runId: info.runId, execution }, dataset, s);
  }

  /**
   * Runs `fn` (activities that retry on their own) until it ends or a stop arrives after the
   * `after`-th one; then cancels it and returns undefined.
   */
  async function unlessStopped<T>(after: number, fn: () => Promise<T>): Promise<T | undefined> {
    const scope = new CancellationScope();
    // (A cancelled run rejects this wait too: ignore that, the cancellation reaches fn itself.)
    void condition(() => stops > after).then(
      () => scope.cancel(),
      () => undefined,
    );
    return scope.run(fn).catch((err: unknown) => {
      if (stops > after && isCancellation(err)) return undefined;
      throw err;
    });
  }

  /** Waits between attempts; a stop request ends the wait. */
  async function pause(ms: number): Promise<void> {
    await condition(() => stopRequested, ms);
  }

  /**
   * Asks the trainers Temporal has seen recently to join (each on its own queue), places the
   * ranks on those that did, and lets the others go. With none free, waits: a join on the shared
   * queue is the backlog an autoscaler (KEDA) sees when no trainer runs at all.
   */
  async function formGroup(s: TrainLoopState): Promise<TrainerGroup | undefined> {
    phase = 'forming group';
    const generation = s.generation + 1;
    const ids = await light.discoverTrainers();
    // Temporal lists a trainer that went away for a minute or two: its probe times out in 2 s
    // (a live trainer starts it at once, even mid-segment). All probes settle before the group
    // forms, so that every trainer that joined is either placed or let go (never left reserved).
    const answers = await Promise.all(
      ids.map((id) =>
        probe(id)
          .joinGroup({ runId, generation, prefetch: { planKey: s.plan.planKey, spec } })
          .catch((): JoinGroupResult | undefined => undefined),
      ),
    );
    let joined = answers.filter((a): a is Extract<JoinGroupResult, { joined: true }> => a?.joined === true);
    if (joined.length === 0) {
      phase = 'waiting for trainers';
      const busy = answers.filter((a) => a && !a.joined).length;
      waiting =
        busy > 0 ? `all ${busy} trainer(s) serve other runs` : 'no trainer is polling the trainer queue';
      // One join per trainer the run could use: that backlog is what tells an autoscaler how many
      // to start. Whoever answers forms the group; trainers that start later join at a segment
      // boundary (growIfMoreTrainers).
      const anyAnswers = await Promise.all(
        // (patched: a run started by an older worker scheduled one join here, and replays so)
        Array.from({ length: patched('scale-from-zero-joins') ? wantedTrainers(s) : 1 }, () =>
          anyTrainer
            .joinGroup({ runId, generation, prefetch: { planKey: s.plan.planKey, spec } })
            .catch((): JoinGroupResult | undefined => undefined),
        ),
      );
      const byId = new Map<string, Extract<JoinGroupResult, { joined: true }>>();
      for (const a of anyAnswers) if (a?.joined) byId.set(a.workerId, a);
      if (byId.size > 0) joined = [...byId.values()];
      else {
        await pause(Math.min(30_000, 2_000 * 2 ** Math.min(4, waits++)));
        return undefined;
      }
    }
    waits = 0;
    waiting = undefined;
    const now = Date.now();
    // A trainer whose data plane was unreachable would fail the same group again.
    if (s.avoid) for (const id of Object.keys(s.avoid)) if (!isAvoided(s.avoid, id, now)) delete s.avoid[id];
    const usable = preferReachable(joined, s.avoid, now);
    const members = placeRanks(s.plan.ranks, usable, s.lastMembers, input.maxTrainers);
    const unused = joined.filter((j) => !members.some((m) => m.workerId === j.workerId));
    await Promise.all(
      unused.map((j) =>
        probe(j.workerId)
          .leaveGroup({ runId })
          .catch(() => undefined),
      ),
    );
    s.generation = generation;
    s.lastMembers = members;
    s.formedFrom = [...new Set([...ids, ...joined.map((j) => j.workerId)])];
    log.info('group formed', { generation, members: members.map((m) => `${m.workerId}:${m.ranks}`) });
    return { generation, secret: `${uuid4()}${uuid4()}`.replace(/-/g, ''), members };
  }

  /** Trainers a group of this run can use: one per rank, at most maxTrainers. */
  function wantedTrainers(s: TrainLoopState): number {
    return Math.max(1, Math.min(s.plan.ranks, input.maxTrainers ?? s.plan.ranks));
  }

  /**
   * After a segment of a group smaller than the run could use: when Temporal lists a trainer the
   * group was not formed from (one an autoscaler started since), the next segment re-forms the
   * group with it. The weights do not depend on how many trainers host the ranks.
   */
  async function growIfMoreTrainers(s: TrainLoopState, group: TrainerGroup): Promise<void> {
    if (group.members.length >= wantedTrainers(s)) return;
    const ids = await light.discoverTrainers();
    const known = new Set(s.formedFrom ?? group.members.map((m) => m.workerId));
    const now = Date.now();
    const fresh = ids.filter((id) => !known.has(id) && !isAvoided(s.avoid, id, now));
    if (fresh.length === 0) return;
    log.info('more trainers are polling: re-forming the group at this segment boundary', { fresh });
    s.group = undefined;
  }

  /** Runs one segment on every member; on failure cancels the rest and drops the group. */
  async function runSegment(s: TrainLoopState, group: TrainerGroup): Promise<void> {
    phase = 'training';
    const started = Date.now();
    const scope = new CancellationScope();
    const settled = await scope.run(() => {
      const calls = group.members.map((m, i) =>
        member(m.workerId).runSegment({
          runId,
          execution,
          planKey: s.plan.planKey,
          spec,
          group,
          member: i,
          segment: s.segments,
          start: s.position,
          budgetMs,
          keepCheckpoints: keep,
        }),
      );
      // The first failure ends the segment for everyone (a member alone would wait on its peers).
      for (const c of calls) void c.catch(() => scope.cancel());
      return Promise.allSettled(calls);
    });
    const wallMs = Date.now() - started;
    const lead = settled[0]!;
    if (lead.status === 'fulfilled') {
      recordSegment(s, group, lead.value, settled, wallMs);
      return;
    }
    const errors = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (root.consideredCancelled) throw errors.find(isCancellation) ?? errors[0];
    const final = errors.map(isFinal).find((e) => e !== undefined);
    if (final)
      throw ApplicationFailure.create({
        message: final.message,
        type: final.type ?? BAD_INPUT_ERROR,
        nonRetryable: true,
      });
    for (const id of unreachableMembers(group, settled)) {
      s.avoid = { ...s.avoid, [id]: Date.now() + AVOID_UNREACHABLE_MS };
      log.warn('a peer could not reach this trainer: leaving it out of the next groups', { trainer: id });
    }
    const first = errors.find((e) => !isCancellation(rootCause(e))) ?? errors[0];
    const after = recordSegmentFailure(
      s,
      `segment ${s.segments} (generation ${group.generation}): ${message(first)}`,
    );
    log.warn('segment failed; re-forming the group', { error: s.failures.last });
    if (after.stalled) {
      throw ApplicationFailure.create({
        message: `training made no progress in ${s.failures.consecutive} attempts; last: ${s.failures.last}`,
        type: 'TrainingStalledError',
        nonRetryable: true,
      });
    }
    await pause(after.pauseMs);
  }
}
