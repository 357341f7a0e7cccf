// The registry's activities are implemented in @seqtrain/registry (beside the library they drive,
// so its Temporal-tier test needs no dependency on this package); the worker registers them from here.
export { createRegistryActivities } from '@seqtrain/registry';
export type { RegistryActivities, RegistryActivityDeps } from '@seqtrain/registry';
