export { startLocalS3 } from './s3-server';
export type { LocalS3, LocalS3Options } from './s3-server';
export { startTemporal, checkTemporalHealth, terminate, SEARCH_ATTRIBUTES } from './temporal-server';
export type { TemporalServer, TemporalServerOptions } from './temporal-server';
export { ensureTemporalCli, TEMPORAL_CLI_VERSION } from './provision/temporal-cli';
export { startTestStack, resolveTemporalCli, testStackEnv } from './harness';
export type { TestStack, TestStackOptions } from './harness';
export { freePort, isPortOpen, waitFor, isAlive, withLock, which, run } from './exec';
export { ensureChromium } from './provision/chromium';
export { ensureGoTool, goToolPath } from './provision/s3-server-bin';
export type { GoToolOptions } from './provision/s3-server-bin';
export {
  ensureKustomize,
  ensureKubeconform,
  ensureKubernetesSchemas,
  ensureKedaSource,
  KUSTOMIZE_VERSION,
  KUBECONFORM_VERSION,
  KEDA_VERSION,
  KUBERNETES_VALIDATE_VERSION,
  KUBERNETES_SCHEMA_VERSION,
} from './provision/k8s-tools';
export * from './netns';
export * from './provision/toxiproxy';
export { seattleWeatherImport } from './fixtures';
export { ensureStack, stopStack, stackStatus } from './embedded-stack';
export type { EmbeddedStackOptions, StackSummary, StackStatus } from './embedded-stack';
export { readStates, writeState, removeState, logDir, runDir } from './stack-state';
export type { ServiceState } from './stack-state';
export { spawnTs, tsxLoader, s3ServerMainPath } from './node-process';
