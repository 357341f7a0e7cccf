export { initBackend, getTf, BackendUnavailableError, BACKEND_PREFERENCE } from './init-backend';
export type { BackendInfo, InitBackendOptions, ConcreteBackend, Tf } from './init-backend';
export { probeWebGpu, isHardwareAdapter, describeAdapter } from './webgpu';
export type { AdapterInfoLike, WebGpuProbe } from './webgpu';
export {
  registerFusedRnnKernels,
  setFusedRnnKernels,
  useSeqtrainKernels,
  fusedRnnStats,
} from './fused/patch-layers';
export type { FusedCell, FusedRnnStats, FusedRnnOptions } from './fused/patch-layers';
export { rnnKernelsPath, RNN_KERNELS_SOURCE, RNN_KERNELS_FLAGS } from './fused/seqtrain-kernels';
export { TRAINER_NODE_FLAGS } from './process-flags';
export {
  cudaKernelsStatus,
  cudaMissing,
  nvidiaDeviceMissing,
  loadCudaKernels,
  loadCudaAddon,
  readCudaManifest,
  cudaManifestPath,
  cudaKernelsPath,
  cudaSourceHash,
  nvidiaWheelDirs,
  CUDA_KERNELS_DIR,
  CUDA_KERNELS_SOURCES,
  CUDA_KERNELS_FLAGS,
  CUDA_ABI_VERSION,
} from './cuda/cuda-kernels';
export type {
  CudaKernels,
  CudaKernelsStatus,
  CudaManifest,
  CudaTrainerArgs,
  CudaBatch,
  CudaWeights,
  CudaTrainer,
  CudaEnvironment,
} from './cuda/cuda-kernels';
export { TENSORFLOW_GPU_RETIRED } from './tensorflow-backend';
