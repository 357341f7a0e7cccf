export { createLightTrainingActivities, createTrainerActivities } from './train-activities';
export type {
  LightTrainingActivities,
  LightTrainingDeps,
  TrainerActivities,
  TrainingDeps,
} from './train-activities';
export { createRegisterActivities } from './register';
export type { RegisterActivities, RegisterDeps } from './register';
export { DataOrder } from './data-order';
export { selectRows } from './rows';
export { TrainingLoop } from './training-loop';
export type { LoopSetup, LoopHooks } from './training-loop';
export { soloExchange } from './exchange';
export { prepareLocalRun } from './local-training';
export type { LocalRun } from './local-training';
export type { TrainingTelemetry, RoundReport, SegmentReport } from './telemetry';
