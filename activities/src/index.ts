export { createSmokeActivities } from './smoke';
export type { SmokeActivities, SmokeDeps } from './smoke';
export * from './registry';
