export { ModelRegistry } from './model-registry';
export type { RegisterModelInput, AliasMoveOptions } from './model-registry';
export { RegistryReader } from './reader';
export type { AliasPointer, ModelSummary, ModelDetails, ResolvedModel } from './reader';
export { InProcessCoordinator } from './coordinator';
export type { RegistryCoordinator, InProcessCoordinatorOptions } from './coordinator';
export { publishVersion, writeAliasEvent, loadRegistryState, readCard } from './publish';
export type { PublishVersionInput, PublishOptions } from './publish';
export { writeModelFiles, weightPathsOf } from './artifacts';
export type { ModelFiles } from './artifacts';
export {
  versionPrefix,
  versionFileKey,
  aliasEventKey,
  modelPrefix,
  REGISTRY_ROOT,
  CARD_FILE,
  MODEL_JSON,
} from './layout';
export { createRegistryHandler, startRegistryServer } from './http/server';
export type { RegistryServerOptions, RunningRegistryServer } from './http/server';
export { parseRegistryTokens, authorize } from './http/auth';
export type { Scope, TokenTable, TokenEntry } from './http/auth';
export { openApiDocument } from './http/openapi';
export { TemporalCoordinator } from './temporal-coordinator';
export type { TemporalCoordinatorOptions } from './temporal-coordinator';
export { createRegistryActivities } from './activities';
export type { RegistryActivities, RegistryActivityDeps } from './activities';
