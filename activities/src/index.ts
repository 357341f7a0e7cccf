export { createSmokeActivities } from './smoke';
export type { SmokeActivities, SmokeDeps } from './smoke';
export { withBoundary, toActivityFailure } from './boundary';
export {
  createLightTrainingActivities,
  createTrainerActivities,
  createRegisterActivities,
  roundRows,
  selectRows,
} from './training';
export type {
  LightTrainingActivities,
  TrainerActivities,
  TrainingDeps,
  RegisterActivities,
  RegisterDeps,
} from './training';
export type { RegistryActivities } from '@seqtrain/registry';
export { createSweepActivities } from './sweep';
export type { SweepActivities, SweepDeps } from './sweep';
