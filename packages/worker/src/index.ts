export { createSeqtrainWorker } from './worker';
export type { SeqtrainWorker, SeqtrainWorkerOptions, WorkerRole } from './worker';
export { getWorkflowBundle, workflowsPath } from './workflow-bundle';
export { installRuntime } from './telemetry';
export { readRunProgress } from './run-progress';
export { temporalConnectOptions, type TemporalConnectOptions } from './temporal-connection';
