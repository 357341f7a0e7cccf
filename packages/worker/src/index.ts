export { createSeqtrainWorker } from './worker';
export type { SeqtrainWorker, SeqtrainWorkerOptions, WorkerRole } from './worker';
export { getWorkflowBundle, workflowsPath } from './workflow-bundle';
export { installRuntimeLogging } from './runtime-logging';
export { readRunProgress } from './run-progress';
export { temporalConnectOptions, type TemporalConnectOptions } from './temporal-connection';
