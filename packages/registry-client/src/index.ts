export { loadModel, resolveModel } from './load-model';
export type { LoadedModel, RegistryClientOptions } from './load-model';
