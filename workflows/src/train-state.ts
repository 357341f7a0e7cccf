/**
 * trainModel's bookkeeping, apart from its orchestration: the progress a query answers, the
 * result a run returns, how a finished segment updates the loop state, and how a failure is
 * classified. Deterministic code over workflow state only (no activities, no timers).
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import {
  MAX_SEGMENT_FAILURES,
  NON_RETRYABLE_ERROR_TYPES,
  PEER_UNREACHABLE_ERROR,
  type RunPhase,
  type RunStatus,
  type SegmentResult,
  type TrainerGroup,
  type TrainLoopState,
  type TrainProgress,
  type TrainResult,
  type TrainSpec,
} from '@seqtrain/contracts';

const FINAL = new Set<string>(NON_RETRYABLE_ERROR_TYPES);

/** The innermost failure of an activity: the trainer's own error. */
export function rootCause(err: unknown): unknown {
  let e = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e;
}

/** The failure when retrying cannot help (bad input, corrupt data, diverged replicas). */
export function isFinal(err: unknown): ApplicationFailure | undefined {
  const cause = rootCause(err);
  return cause instanceof ApplicationFailure && (cause.nonRetryable || FINAL.has(cause.type ?? ''))
    ? cause
    : undefined;
}

export function message(err: unknown): string {
  const cause = rootCause(err);
  return cause instanceof Error ? cause.message : String(cause);
}

/** Throughput and orchestration overhead so far, from the run's totals. */
export function rates(s: TrainLoopState | undefined): { samplesPerSec: number; overheadFraction: number } {
  if (!s || s.totals.wallMs <= 0) return { samplesPerSec: 0, overheadFraction: 0 };
  return {
    samplesPerSec: (s.totals.samples / s.totals.wallMs) * 1000,
    overheadFraction: s.totals.overheadMs / s.totals.wallMs,
  };
}

export function progressOf(o: {
  status: RunStatus;
  phase: RunPhase;
  runId: string;
  spec: TrainSpec;
  state: TrainLoopState | undefined;
  /** why the run waits for trainers, while it does */
  waiting: string | undefined;
  error: string | undefined;
}): TrainProgress {
  const { state: s, phase } = o;
  const pos = s?.position;
  const epochs = o.spec.training.epochs;
  const { samplesPerSec, overheadFraction } = rates(s);
  const last = s?.history.at(-1);
  const totalRounds = s ? s.plan.roundsPerEpoch * epochs : 0;
  const avgRoundMs = s && pos && pos.rounds > 0 ? s.totals.wallMs / pos.rounds : undefined;
  return {
    status: o.status,
    phase,
    workflowId: o.runId,
    model: o.spec.name,
    ...(s ? { dataset: `${s.plan.datasetName}@${s.plan.datasetDigest}` } : {}),
    step: pos?.step ?? 0,
    rounds: pos?.rounds ?? 0,
    epoch: pos?.epoch ?? 0,
    epochs,
    roundInEpoch: pos?.roundInEpoch ?? 0,
    roundsPerEpoch: s?.plan.roundsPerEpoch ?? 0,
    ...(s?.lastLoss !== undefined ? { trainLoss: s.lastLoss } : {}),
    ...(last ? { valLoss: last.valLoss, metrics: last.metrics } : {}),
    ...(pos?.best ? { best: { epoch: pos.best.epoch, value: pos.best.value } } : {}),
    samples: s?.totals.samples ?? 0,
    trainingSeconds: (s?.totals.wallMs ?? 0) / 1000,
    samplesPerSec,
    overheadFraction,
    ...(avgRoundMs !== undefined && pos
      ? { etaSeconds: ((totalRounds - pos.rounds) * avgRoundMs) / 1000 }
      : {}),
    trainers: s?.trainers ?? {},
    history: s?.history ?? [],
    generation: s?.generation ?? 0,
    segments: s?.segments ?? 0,
    ...(s?.group
      ? { group: s.group.members.map(({ workerId, firstRank, ranks }) => ({ workerId, firstRank, ranks })) }
      : {}),
    ...(s?.failures.last && s.failures.consecutive > 0
      ? { lastFailure: s.failures.last }
      : o.waiting && phase === 'waiting for trainers'
        ? { lastFailure: o.waiting }
        : {}),
    ...(o.error ? { error: o.error } : {}),
  };
}

/** What a run returns, but for its model, metrics and weights (the caller's export). */
export function resultOf(
  ids: Pick<TrainResult, 'workflowId' | 'runId' | 'execution'>,
  s: TrainLoopState,
): Omit<TrainResult, 'status' | 'model' | 'metrics' | 'weightsSha256'> {
  const { samplesPerSec, overheadFraction } = rates(s);
  return {
    ...ids,
    backend: s.backend ?? null,
    rounds: s.position.rounds,
    epochs: s.history.length,
    samplesPerSec,
    overheadFraction,
    history: s.history,
    dataset: { name: s.plan.datasetName, digest: s.plan.datasetDigest },
    trainers: s.trainers,
    steps: s.position.step,
    segments: s.segments,
    generations: s.generation,
    faults: s.failures.recent,
    continuedAsNew: s.continuedAsNew,
  };
}

/** The result of a run stopped before any epoch was evaluated: nothing exported or registered. */
export function untrainedResult(
  ids: Pick<TrainResult, 'workflowId' | 'runId' | 'execution'>,
  dataset: TrainResult['dataset'],
  s?: TrainLoopState,
): TrainResult {
  const base = s
    ? resultOf(ids, s)
    : {
        ...ids,
        backend: null,
        rounds: 0,
        epochs: 0,
        samplesPerSec: 0,
        overheadFraction: 0,
        history: [],
        dataset,
        trainers: {},
        steps: 0,
        segments: 0,
        generations: 0,
        faults: [],
        continuedAsNew: 0,
      };
  return { ...base, status: 'stopped', model: null, metrics: {}, weightsSha256: '' };
}

/** Moves the loop state past a segment whose leader returned `lead`. */
export function recordSegment(
  s: TrainLoopState,
  group: TrainerGroup,
  lead: SegmentResult,
  settled: PromiseSettledResult<SegmentResult>[],
  wallMs: number,
): void {
  s.position = lead.end;
  const known = new Set(s.history.map((h) => h.epoch));
  s.history.push(...lead.epochs.filter((e) => !known.has(e.epoch)));
  if (s.history.length > 200) s.history.splice(0, s.history.length - 200);
  s.segments++;
  s.failures.consecutive = 0;
  s.totals.samples += lead.samples;
  s.totals.busyMs += lead.busyMs;
  s.totals.wallMs += wallMs;
  s.totals.overheadMs += Math.max(0, wallMs - lead.busyMs);
  if (lead.lastLoss !== undefined) s.lastLoss = lead.lastLoss;
  s.backend ??= lead.backend;
  settled.forEach((r, i) => {
    if (r.status !== 'fulfilled') return;
    const m = group.members[i]!;
    const ts = (s.trainers[m.workerId] ??= { rounds: 0, busyMs: 0, samples: 0, segments: 0, lastSeen: '' });
    ts.rounds += r.value.rounds;
    ts.busyMs += r.value.busyMs;
    ts.samples += Math.round((r.value.samples * m.ranks) / s.plan.ranks);
    ts.segments++;
    ts.lastSeen = new Date().toISOString();
  });
  // A paused run gives its trainers back; it forms a new group when resumed.
  if (lead.reason === 'paused') s.group = undefined;
}

/**
 * Records a failed segment: the group is dropped, and the run either waits before re-forming it
 * (0.5 s doubling to 10 s) or, after MAX_SEGMENT_FAILURES failures in a row, gives up. A segment
 * that moves the run (recordSegment) starts the count again.
 */
export function recordSegmentFailure(s: TrainLoopState, what: string): { stalled: boolean; pauseMs: number } {
  s.failures.consecutive++;
  s.failures.total++;
  s.failures.last = what;
  s.failures.recent = [...s.failures.recent, what].slice(-10);
  s.group = undefined;
  return {
    stalled: s.failures.consecutive >= MAX_SEGMENT_FAILURES,
    pauseMs: Math.min(10_000, 500 * 2 ** (s.failures.consecutive - 1)),
  };
}

/** How long a trainer whose data plane could not be reached stays out of new groups. */
export const AVOID_UNREACHABLE_MS = 10 * 60_000;

/**
 * The trainers a failed segment shows to be unreachable: member i dials member i + 1, so member
 * i's PeerUnreachableError names member i + 1 (the accepting side's "did not connect" is only
 * the echo of it, and blames nobody).
 */
export function unreachableMembers(
  group: TrainerGroup,
  settled: readonly PromiseSettledResult<unknown>[],
): string[] {
  const out: string[] = [];
  settled.forEach((r, i) => {
    if (r.status !== 'rejected') return;
    const cause = rootCause(r.reason);
    const next = group.members[i + 1];
    if (next && cause instanceof ApplicationFailure && cause.type === PEER_UNREACHABLE_ERROR)
      out.push(next.workerId);
  });
  return out;
}

/** Whether the trainer is still left out of new groups at `now`. */
export function isAvoided(avoid: Record<string, number> | undefined, workerId: string, now: number): boolean {
  return (avoid?.[workerId] ?? 0) > now;
}

/**
 * Of the trainers that joined, those not avoided at `now`; all of them when every one is (a
 * trainer that may be unreachable beats no trainer: the next failure says so again).
 */
export function preferReachable<T extends { workerId: string }>(
  joined: readonly T[],
  avoid: Record<string, number> | undefined,
  now: number,
): T[] {
  const ok = joined.filter((j) => !isAvoided(avoid, j.workerId, now));
  return ok.length > 0 ? ok : [...joined];
}
