export { initBackend, getTf, BackendUnavailableError, BACKEND_PREFERENCE } from './init-backend';
export type { BackendInfo, InitBackendOptions, ConcreteBackend, Tf } from './init-backend';
export { probeWebGpu, isHardwareAdapter, describeAdapter } from './webgpu';
export type { AdapterInfoLike, WebGpuProbe } from './webgpu';
export { registerFusedRnnKernels, setFusedRnnKernels, fusedRnnStats } from './fused/patch-layers';
export type { FusedCell, FusedRnnStats } from './fused/patch-layers';
