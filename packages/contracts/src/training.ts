/**
 * Payloads of the distributed training workflow and its activities. Tensors never travel through
 * Temporal (2 MB payload limit): checkpoints are S3 keys (claim checks), gradients travel between
 * trainers over the data plane, and the workflow sees segments, never steps.
 */
import { z } from 'zod';
import type { TrainSpec } from './spec';

/**
 * What a trainer computes on, as results, run state and model cards record it: the backend
 * package's BackendInfo (`name` is the concrete backend), of which only `name` is always there.
 */
export interface BackendSummary {
  name: string;
  requested?: string;
  device?: string;
  tfjsVersion?: string;
  tfjsNodeVersion?: string | null;
  nativeTfVersion?: string | null;
  threads?: { intraOp: number; interOp: number };
  numericsEnv?: Record<string, string>;
  skipped?: { name: string; reason: string }[];
}

export const TRAIN_WORKFLOW_TYPE = 'trainModel';
export const PROGRESS_QUERY = 'progress';
export const CONTROL_QUERY = 'control';
export const SEGMENT_ACTIVITY = 'runSegment';
export const STOP_SIGNAL = 'stop';
export const PAUSE_SIGNAL = 'pause';
export const RESUME_SIGNAL = 'resume';

export type RunStatus =
  'starting' | 'running' | 'paused' | 'stopping' | 'finalizing' | 'completed' | 'stopped' | 'failed';

export interface TrainRunInput {
  spec: TrainSpec;
  /** code version recorded in the model card (git sha in CI) */
  codeVersion?: string;
  /** who started it (model card, alias events) */
  actor?: string;
  /** keep this many most recent checkpoints besides the best (default 2) */
  keepCheckpoints?: number;
  /** register the best model in the registry at the end (default true) */
  register?: boolean;
  /** wall-time budget of one segment in seconds (default 60); the weights do not depend on it */
  segmentSeconds?: number;
  /** host the ranks on at most this many trainer processes (default: one per rank) */
  maxTrainers?: number;
  /** continue as new once the history has this many events (default 8,000; Temporal warns at 10,240) */
  historyLimit?: number;
  /** carried across continue-as-new; absent on the first run */
  resume?: TrainLoopState;
}

/** What prepareRun learned: everything the loop needs, all small. */
export interface RunPlan {
  runId: string;
  datasetName: string;
  datasetDigest: string;
  planKey: string;
  /** data-parallel ranks (spec.workers) */
  ranks: number;
  /**
   * micro-batch slots per round (ranks x microBatches). Each slot reads its own shard, so the
   * data order depends only on the global batch, never on how the slots are spread over ranks.
   */
  shards: number;
  shardRows: number[];
  valRows: number;
  roundsPerEpoch: number;
  /** examples consumed per round per slot (batchSize x syncEvery) */
  examplesPerShardRound: number;
  /** optimizer steps per round (syncEvery) */
  stepsPerRound: number;
  paramCount: number;
  specHash: string;
}

export interface EpochMetrics {
  epoch: number;
  step: number;
  trainLoss: number;
  valLoss: number;
  metrics: Record<string, number>;
}

export interface TrainerStats {
  rounds: number;
  /** time in the training loop (steps, exchange, evaluation) */
  busyMs: number;
  samples: number;
  segments: number;
  lastSeen: string;
}

export interface BestCheckpoint {
  checkpointKey: string;
  epoch: number;
  step: number;
  value: number;
  metrics: Record<string, number>;
}

/** Where a run stands between segments: everything a segment needs to continue exactly. */
export interface LoopPosition {
  /** optimizer steps applied (inner steps in local-SGD mode) */
  step: number;
  epoch: number;
  roundInEpoch: number;
  rounds: number;
  checkpointKey: string;
  best?: BestCheckpoint;
  epochsWithoutImprovement: number;
  /** sum and count of the round losses of the epoch in progress (its mean training loss) */
  epochLossSum: number;
  epochLossCount: number;
  /** most recent checkpoints kept besides the best, oldest first */
  recentCheckpoints: string[];
  /** training is over: the last epoch is done or early stopping ended it */
  finished: boolean;
  /** why, when early stopping ended it */
  stoppedEarly?: string;
}

/** A rank placement: member i hosts ranks firstRank .. firstRank + ranks - 1 and runs them in order. */
export interface GroupMember {
  workerId: string;
  /** data-plane host:port */
  address: string;
  firstRank: number;
  ranks: number;
}

export interface TrainerGroup {
  /** increases every time the workflow re-forms the group; peers of older ones are refused */
  generation: number;
  /** proves membership at the data-plane handshake (never sent over the data plane) */
  secret: string;
  /** in rank order: member 0 hosts rank 0 and leads (control, evaluation, checkpoints) */
  members: GroupMember[];
}

export interface JoinGroupInput {
  runId: string;
  generation: number;
  /** what to load while the group forms (the model, the validation rows; a small dataset whole) */
  prefetch?: { planKey: string; spec: TrainSpec };
}

export type JoinGroupResult =
  | { joined: true; workerId: string; address: string; backend: BackendSummary | null }
  | { joined: false; workerId: string; busyWith: string };

export interface LeaveGroupInput {
  runId: string;
}

export interface SegmentInput {
  runId: string;
  /**
   * the workflow's first execution run id: a later run that reuses the workflow id (and so the
   * S3 prefix) never replays this run's segment records
   */
  execution: string;
  planKey: string;
  spec: TrainSpec;
  group: TrainerGroup;
  /** index into group.members of the trainer this activity runs on */
  member: number;
  /** sequence number of the segment within the run (a retry after a failure keeps it) */
  segment: number;
  start: LoopPosition;
  budgetMs: number;
  keepCheckpoints: number;
}

export type SegmentEndReason = 'budget' | 'finished' | 'stopped' | 'paused';

export interface SegmentResult {
  execution: string;
  member: number;
  workerId: string;
  backend: BackendSummary | null;
  reason: SegmentEndReason;
  end: LoopPosition;
  /** epochs evaluated in this segment */
  epochs: EpochMetrics[];
  rounds: number;
  samples: number;
  /** time in the training loop, on the leader */
  busyMs: number;
  lastLoss?: number;
  /** loading the shards, the model and the checkpoint, and connecting to the peers */
  setupMs: number;
  /** sha256 of the weights at the end (every member checked it against the leader's) */
  weightsSha256: string;
  /** an earlier attempt of this segment had finished: its recorded result */
  replayed: boolean;
}

/** Heartbeat details of the leader of a segment: how progress stays live without history events. */
export interface SegmentProgress {
  kind: 'segment';
  generation: number;
  segment: number;
  member: number;
  step: number;
  epoch: number;
  roundInEpoch: number;
  rounds: number;
  trainLoss?: number;
  samples: number;
  busyMs: number;
  /** epochs evaluated in this segment so far (most recent last, at most 50) */
  epochs: EpochMetrics[];
  best?: { epoch: number; value: number };
}

/** What the leader of a running segment polls (a query: no history events). */
export interface RunControl {
  stop: boolean;
  pause: boolean;
  generation: number;
  segment: number;
}

/** Small state carried by the workflow (and across continue-as-new). */
export interface TrainLoopState {
  plan: RunPlan;
  position: LoopPosition;
  history: EpochMetrics[];
  /** the group of the next segment; undefined when it must be (re-)formed */
  group?: TrainerGroup;
  /** members of the last group, kept as the preferred placement when re-forming */
  lastMembers: GroupMember[];
  generation: number;
  segments: number;
  trainers: Record<string, TrainerStats>;
  totals: {
    samples: number;
    busyMs: number;
    wallMs: number;
    overheadMs: number;
  };
  lastLoss?: number;
  backend?: BackendSummary | null;
  startedAt: number;
  stopRequested: boolean;
  paused: boolean;
  /** consecutive failed segments (reset by a completed one), all of them, the last few reasons */
  failures: { consecutive: number; total: number; last?: string; recent: string[] };
  continuedAsNew: number;
  /**
   * trainers whose data plane a peer could not reach, left out of new groups until the time
   * (workflow ms) given, unless no other trainer joins
   */
  avoid?: Record<string, number>;
  /** the trainers the current group was formed from (listed or answering): newer ones grow it */
  formedFrom?: string[];
}

export interface InitCheckpointInput {
  runId: string;
  planKey: string;
  spec: TrainSpec;
  outputKey: string;
}

export interface InitCheckpointResult {
  checkpointKey: string;
  paramCount: number;
  specHash: string;
  backend: BackendSummary | null;
}

export interface PrepareRunInput {
  runId: string;
  /** the workflow's first execution run id: with runId, the run's S3 prefix */
  execution: string;
  spec: TrainSpec;
}

export interface ExportModelInput {
  runId: string;
  execution: string;
  planKey: string;
  spec: TrainSpec;
  checkpointKey: string;
}

export interface ExportModelResult {
  modelPrefix: string;
  weightsSha256: string;
  files: string[];
}

export interface RegisterRunModelInput {
  workflowId: string;
  runId: string;
  spec: TrainSpec;
  plan: RunPlan;
  modelPrefix: string;
  metrics: Record<string, number>;
  codeVersion?: string;
  backend: BackendSummary | null;
  stats: {
    rounds: number;
    epochs: number;
    samplesPerSec: number;
    overheadFraction: number;
    weightsSha256: string;
  };
}

export type RunPhase = 'preparing' | 'forming group' | 'waiting for trainers' | 'training' | 'finalizing';

export interface TrainProgress {
  status: RunStatus;
  phase: RunPhase;
  workflowId: string;
  model: string;
  dataset?: string;
  step: number;
  rounds: number;
  epoch: number;
  epochs: number;
  roundInEpoch: number;
  roundsPerEpoch: number;
  trainLoss?: number;
  valLoss?: number;
  metrics?: Record<string, number>;
  best?: { epoch: number; value: number };
  /** examples trained on so far, and the training wall time they took */
  samples: number;
  trainingSeconds: number;
  samplesPerSec: number;
  overheadFraction: number;
  etaSeconds?: number;
  trainers: Record<string, TrainerStats>;
  history: EpochMetrics[];
  generation: number;
  segments: number;
  group?: { workerId: string; firstRank: number; ranks: number }[];
  /** the last segment failure, while the group re-forms */
  lastFailure?: string;
  /** set when the live step of the running segment (heartbeat details) was merged in */
  live?: boolean;
  error?: string;
}

export interface TrainResult {
  workflowId: string;
  runId: string;
  /** the first execution's run id (the run's S3 prefix is runs/<workflowId>/<execution>) */
  execution: string;
  status: 'completed' | 'stopped';
  model: { name: string; version: number } | null;
  metrics: Record<string, number>;
  weightsSha256: string;
  backend: BackendSummary | null;
  rounds: number;
  epochs: number;
  samplesPerSec: number;
  overheadFraction: number;
  history: EpochMetrics[];
  dataset: { name: string; digest: string };
  trainers: Record<string, TrainerStats>;
  steps: number;
  segments: number;
  /** how many groups were formed (1 + re-formations after faults) */
  generations: number;
  /** why segments failed and the group was re-formed (the last 10) */
  faults: string[];
  /** how many times the run continued as new to keep its history bounded */
  continuedAsNew: number;
}

/**
 * S3 layout of a run: everything under runs/<workflowId>/<first execution run id>/. A later run
 * that reuses the workflow id (Temporal allows it once the first has closed) has its own prefix,
 * so it never adopts the plan, checkpoints or segment records of the earlier one.
 */
export const runKeys = {
  prefix: (runId: string, execution: string): string => `runs/${runId}/${execution}`,
  plan: (runId: string, execution: string): string => `runs/${runId}/${execution}/plan.json`,
  checkpoint: (runId: string, execution: string, step: number): string =>
    `runs/${runId}/${execution}/checkpoints/${String(step).padStart(9, '0')}.ckpt`,
  model: (runId: string, execution: string): string => `runs/${runId}/${execution}/model`,
  /** the result of a finished segment, so that a retry of it returns the same thing */
  segmentRecord: (runId: string, execution: string, segment: number): string =>
    `runs/${runId}/${execution}/segments/${String(segment).padStart(7, '0')}.json`,
};

/**
 * A segment's record (runs/<id>/<execution>/segments/<n>.json) as read back: the fields a replay
 * and the run page rely on, checked; the rest of SegmentResult passes through.
 */
export const SegmentRecordSchema = z.looseObject({
  execution: z.string(),
  workerId: z.string(),
  reason: z.enum(['budget', 'finished', 'stopped', 'paused']),
  end: z.looseObject({ step: z.number().int().min(0), checkpointKey: z.string() }),
  epochs: z.array(z.unknown()),
  rounds: z.number().int().min(0),
  samples: z.number().min(0),
  busyMs: z.number().min(0),
  setupMs: z.number().min(0),
  weightsSha256: z.string(),
});
