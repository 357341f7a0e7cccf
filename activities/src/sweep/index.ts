export { createSweepActivities } from './sweep-activities';
export type { SweepActivities, SweepDeps } from './sweep-activities';
