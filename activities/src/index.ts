export { createSmokeActivities } from './smoke';
export type { SmokeActivities, SmokeDeps } from './smoke';
export { withBoundary, toActivityFailure } from './boundary';
export { currentActivity, runRelayed } from './activity-io';
export type { ActivityIo } from './activity-io';
export {
  createLightTrainingActivities,
  createTrainerActivities,
  createRegisterActivities,
  DataOrder,
  selectRows,
  TrainingLoop,
  soloExchange,
  prepareLocalRun,
} from './training';
export type {
  LoopSetup,
  LoopHooks,
  LocalRun,
  LightTrainingDeps,
  LightTrainingActivities,
  TrainerActivities,
  TrainingDeps,
  RegisterActivities,
  RegisterDeps,
  TrainingTelemetry,
  RoundReport,
  SegmentReport,
} from './training';
export type { RegistryActivities } from '@seqtrain/registry';
export { createSweepActivities } from './sweep';
export type { SweepActivities, SweepDeps } from './sweep';
