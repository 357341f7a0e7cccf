/**
 * Payloads of the distributed training workflow and its activities. Tensors never travel through
 * Temporal (2 MB payload limit): activities exchange S3 keys (claim checks) and small numbers.
 */
import type { TrainSpec } from './spec';

export const TRAIN_WORKFLOW_TYPE = 'trainModel';
export const PROGRESS_QUERY = 'progress';
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
  /** carried across continue-as-new; absent on the first run */
  resume?: TrainLoopState;
}

/** What prepareRun learned: everything the loop needs, all small. */
export interface RunPlan {
  runId: string;
  datasetName: string;
  datasetDigest: string;
  planKey: string;
  shards: number;
  shardRows: number[];
  valRows: number;
  roundsPerEpoch: number;
  /** examples consumed per round per shard (batchSize x microBatches x syncEvery) */
  examplesPerShardRound: number;
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
  computeMs: number;
  samples: number;
  lastSeen: string;
}

/** Small state carried by the workflow (and across continue-as-new). */
export interface TrainLoopState {
  plan: RunPlan;
  checkpointKey: string;
  step: number;
  epoch: number;
  roundInEpoch: number;
  rounds: number;
  best?: {
    checkpointKey: string;
    epoch: number;
    step: number;
    value: number;
    metrics: Record<string, number>;
  };
  epochsWithoutImprovement: number;
  history: EpochMetrics[];
  /** recent checkpoints kept besides the best */
  recentCheckpoints: string[];
  /** shard index -> worker id that holds it in memory */
  affinity: Record<number, string>;
  trainers: Record<string, TrainerStats>;
  totals: {
    samples: number;
    computeMs: number;
    wallMs: number;
    overheadMs: number;
    trainLossSum: number;
    trainLossCount: number;
  };
  backend?: unknown;
  startedAt: number;
  stopRequested: boolean;
  paused: boolean;
  /** superseded best checkpoints, deleted with the next round */
  pendingDeletes: string[];
  continuedAsNew: number;
}

export interface ComputeGradientsInput {
  runId: string;
  planKey: string;
  spec: TrainSpec;
  checkpointKey: string;
  step: number;
  epoch: number;
  roundInEpoch: number;
  shard: number;
  /** global index of this shard's first micro-batch in the round (exactness across worker counts) */
  firstMicroBatch: number;
  outputKey: string;
}

export interface ComputeGradientsResult {
  key: string;
  sampleCount: number;
  loss: number;
  computeMs: number;
  workerId: string;
  backend: unknown;
}

export interface ApplyGradientsInput {
  runId: string;
  spec: TrainSpec;
  checkpointKey: string;
  /** gradient (or local-update) keys in shard order */
  partKeys: string[];
  outputKey: string;
  mode: 'sync' | 'local';
  /** objects no longer needed once the new checkpoint is written (old checkpoints) */
  deleteKeys: string[];
}

export interface ApplyGradientsResult {
  checkpointKey: string;
  step: number;
  loss: number;
  sampleCount: number;
  gradNorm: number;
  learningRate: number;
  computeMs: number;
  weightsSha256: string;
}

export interface EvaluateInput {
  runId: string;
  planKey: string;
  spec: TrainSpec;
  checkpointKey: string;
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
  backend: unknown;
}

export interface PrepareRunInput {
  runId: string;
  spec: TrainSpec;
}

export interface ExportModelInput {
  runId: string;
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
  backend: unknown;
  stats: {
    rounds: number;
    epochs: number;
    samplesPerSec: number;
    overheadFraction: number;
    weightsSha256: string;
  };
}

export interface EvaluateResult {
  loss: number;
  count: number;
  metrics: Record<string, number>;
  computeMs: number;
}

export interface TrainProgress {
  status: RunStatus;
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
  samplesPerSec: number;
  overheadFraction: number;
  etaSeconds?: number;
  trainers: Record<string, TrainerStats>;
  history: EpochMetrics[];
  error?: string;
}

export interface TrainResult {
  workflowId: string;
  runId: string;
  status: 'completed' | 'stopped';
  model: { name: string; version: number } | null;
  metrics: Record<string, number>;
  weightsSha256: string;
  backend: unknown;
  rounds: number;
  epochs: number;
  samplesPerSec: number;
  overheadFraction: number;
  history: EpochMetrics[];
  dataset: { name: string; digest: string };
  trainers: Record<string, TrainerStats>;
  /** how many times the run continued as new to keep its history bounded */
  continuedAsNew: number;
}

/** S3 layout of a run: everything under runs/<runId>/. */
export const runKeys = {
  prefix: (runId: string): string => `runs/${runId}`,
  plan: (runId: string): string => `runs/${runId}/plan.json`,
  checkpoint: (runId: string, step: number): string =>
    `runs/${runId}/checkpoints/${String(step).padStart(9, '0')}.ckpt`,
  gradient: (runId: string, step: number, shard: number): string =>
    `runs/${runId}/gradients/${String(step).padStart(9, '0')}/${String(shard).padStart(4, '0')}.grad`,
  gradientPrefix: (runId: string, step: number): string =>
    `runs/${runId}/gradients/${String(step).padStart(9, '0')}/`,
  model: (runId: string): string => `runs/${runId}/model`,
};
