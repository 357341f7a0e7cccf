// The worker's workflow bundle entry: every workflow type is exported from here.
export { smokeWorkflow } from './smoke';
export * from './registry';
