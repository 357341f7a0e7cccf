/**
 * Pure functions over the state of a training run, shared by the workflow (which must stay
 * deterministic) and the trainers (whose leader evaluates and tracks the best checkpoint inside
 * a segment): rank placement, checkpoint retention, the verdict on an evaluated epoch, and the
 * merge of a running segment's heartbeat into the progress a user sees.
 */
import { BadInputError } from './errors';
import { isBetter, metricMode } from './sweep';
import type { EarlyStoppingSpec } from './spec';
import type { GroupMember, LoopPosition, SegmentProgress, TrainProgress } from './training';

/** A run fails after this many segments in a row fail (each followed by a re-formed group). */
export const MAX_SEGMENT_FAILURES = 10;

/**
 * Places `ranks` logical ranks on the trainers that joined, as contiguous blocks in rank order
 * (so the chain reduction visits ranks 0, 1, 2, ... whatever the placement). Members of the
 * previous group come first, in their previous order (they cache those shards), then the other
 * trainers by id. At most one member per rank, and at most `maxTrainers` members.
 */
export function placeRanks(
  ranks: number,
  trainers: readonly { workerId: string; address: string }[],
  previous: readonly GroupMember[] = [],
  maxTrainers?: number,
): GroupMember[] {
  if (!Number.isInteger(ranks) || ranks < 1)
    throw new BadInputError(`workers=${ranks}: expected a positive integer`);
  if (trainers.length === 0) throw new Error('placeRanks: no trainers to place ranks on');
  const byId = new Map(trainers.map((t) => [t.workerId, t]));
  const order = [
    ...previous
      .map((m) => byId.get(m.workerId))
      .filter((t): t is (typeof trainers)[number] => t !== undefined),
    ...[...trainers]
      .filter((t) => !previous.some((m) => m.workerId === t.workerId))
      .sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0)),
  ];
  const n = Math.max(1, Math.min(ranks, order.length, maxTrainers ?? ranks));
  const base = Math.floor(ranks / n);
  const extra = ranks % n;
  const members: GroupMember[] = [];
  let next = 0;
  for (let i = 0; i < n; i++) {
    const count = base + (i < extra ? 1 : 0);
    const t = order[i]!;
    members.push({ workerId: t.workerId, address: t.address, firstRank: next, ranks: count });
    next += count;
  }
  return members;
}

/**
 * Which checkpoints to keep after `added` were written: the `keep` most recent, and always the
 * best; the previous best goes once it is neither best nor recent.
 */
export function retainCheckpoints(opts: {
  recent: readonly string[];
  added: readonly string[];
  best: string | undefined;
  previousBest: string | undefined;
  keep: number;
}): { recent: string[]; remove: string[] } {
  const keep = Math.max(1, opts.keep);
  const recent: string[] = [];
  for (const k of [...opts.recent, ...opts.added]) if (!recent.includes(k)) recent.push(k);
  const remove: string[] = [];
  while (recent.length > keep) {
    const old = recent.shift()!;
    if (old !== opts.best) remove.push(old);
  }
  const pb = opts.previousBest;
  if (pb && pb !== opts.best && !recent.includes(pb) && !remove.includes(pb)) remove.push(pb);
  return { recent, remove };
}

export interface EpochJudgement {
  metric: string;
  value: number;
  improved: boolean;
  epochsWithoutImprovement: number;
  /** early stopping ends the run here */
  stop: boolean;
  reason?: string;
}

/**
 * The verdict on one evaluated epoch: is it the best so far, and does early stopping end the
 * run. A metric that is not finite is an error naming the epoch: NaN must never become "best"
 * (NaN < x is false, but a NaN turned into null by a JSON boundary compares as 0).
 */
export function judgeEpoch(opts: {
  epoch: number;
  metrics: Record<string, number>;
  best: { value: number } | undefined;
  epochsWithoutImprovement: number;
  earlyStopping: EarlyStoppingSpec | undefined;
}): EpochJudgement {
  const es = opts.earlyStopping;
  const metric = es?.metric ?? 'val_loss';
  const value = opts.metrics[metric];
  if (value === undefined) {
    throw new BadInputError(
      `training.earlyStopping.metric=${JSON.stringify(metric)}: not a metric of this task; available: ${Object.keys(opts.metrics).join(', ')}`,
    );
  }
  for (const name of new Set([metric, 'val_loss'])) {
    const v = opts.metrics[name];
    if (v !== undefined && !Number.isFinite(v))
      throw new BadInputError(
        `${name} is ${v} at epoch ${opts.epoch + 1}: training diverged; lower training.optimizer.learningRate or set training.clipNorm`,
      );
  }
  const mode = metricMode(metric);
  const delta = es?.minDelta ?? 0;
  const improved =
    !opts.best || isBetter(value, mode === 'max' ? opts.best.value + delta : opts.best.value - delta, mode);
  const epochsWithoutImprovement = improved ? 0 : opts.epochsWithoutImprovement + 1;
  const stop = es !== undefined && epochsWithoutImprovement > es.patience;
  return {
    metric,
    value,
    improved,
    epochsWithoutImprovement,
    stop,
    ...(stop
      ? {
          reason: `early stopping: ${metric} did not improve for ${epochsWithoutImprovement} epochs (patience ${es.patience})`,
        }
      : {}),
  };
}

/** The position of a run before its first step. */
export function startPosition(checkpointKey: string): LoopPosition {
  return {
    step: 0,
    epoch: 0,
    roundInEpoch: 0,
    rounds: 0,
    checkpointKey,
    epochsWithoutImprovement: 0,
    epochLossSum: 0,
    epochLossCount: 0,
    recentCheckpoints: [checkpointKey],
    finished: false,
  };
}

/**
 * The workflow knows a run at segment granularity; the leader of the running segment reports
 * each step in its heartbeat details. This merges the two into what `train` and `runs show`
 * display (the live part only when it belongs to the segment the workflow is running).
 */
export function mergeLiveProgress(p: TrainProgress, live: SegmentProgress | undefined): TrainProgress {
  if (!live || live.generation !== p.generation || live.segment !== p.segments || p.status === 'completed')
    return p;
  const known = new Set(p.history.map((h) => h.epoch));
  const history = [...p.history, ...live.epochs.filter((e) => !known.has(e.epoch))];
  const last = history.at(-1);
  const samples = p.samples + live.samples;
  const seconds = p.trainingSeconds + live.busyMs / 1000;
  const totalRounds = p.roundsPerEpoch * p.epochs;
  return {
    ...p,
    step: live.step,
    rounds: live.rounds,
    epoch: live.epoch,
    roundInEpoch: live.roundInEpoch,
    ...(live.trainLoss !== undefined ? { trainLoss: live.trainLoss } : {}),
    ...(last ? { valLoss: last.valLoss, metrics: last.metrics } : {}),
    ...(live.best ? { best: live.best } : {}),
    history,
    samples,
    samplesPerSec: seconds > 0 ? samples / seconds : p.samplesPerSec,
    ...(live.rounds > 0 && seconds > 0
      ? { etaSeconds: ((totalRounds - live.rounds) * seconds) / live.rounds }
      : {}),
    live: true,
  };
}
