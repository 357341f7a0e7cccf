export { createLightTrainingActivities, createTrainerActivities } from './train-activities';
export type { LightTrainingActivities, TrainerActivities, TrainingDeps } from './train-activities';
export { createRegisterActivities } from './register';
export type { RegisterActivities, RegisterDeps } from './register';
export { roundRows } from './data-order';
export { selectRows } from './rows';
