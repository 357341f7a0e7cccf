export { initBackend, getTf, BackendUnavailableError, BACKEND_PREFERENCE } from './init-backend';
export type { BackendInfo, InitBackendOptions, ConcreteBackend, Tf } from './init-backend';
export { probeWebGpu, isHardwareAdapter, describeAdapter } from './webgpu';
export type { AdapterInfoLike, WebGpuProbe } from './webgpu';
export {
  registerFusedRnnKernels,
  setFusedRnnKernels,
  setOwnRnnKernels,
  fusedRnnStats,
} from './fused/patch-layers';
export type { FusedCell, FusedRnnStats, FusedRnnOptions } from './fused/patch-layers';
export { rnnKernelsPath, RNN_KERNELS_SOURCE, RNN_KERNELS_FLAGS } from './fused/rnn-kernels';
export { TRAINER_NODE_FLAGS } from './process-flags';
