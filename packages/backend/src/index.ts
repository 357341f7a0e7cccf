export { initBackend, getTf, BackendUnavailableError, BACKEND_PREFERENCE } from './init-backend';
export type { BackendInfo, InitBackendOptions, ConcreteBackend, Tf } from './init-backend';
export { probeWebGpu, isHardwareAdapter, describeAdapter } from './webgpu';
export type { AdapterInfoLike, WebGpuProbe } from './webgpu';
