// The worker's workflow bundle entry: every workflow type is exported from here.
export { smokeWorkflow } from './smoke';
export {
  trainModel,
  progressQuery,
  controlQuery,
  stopSignal,
  pauseSignal,
  resumeSignal,
} from './train-model';
export * from './registry';
export { retrain } from './retrain';
export { runSweep, leaderboardQuery, sweepStopSignal } from './sweep';
