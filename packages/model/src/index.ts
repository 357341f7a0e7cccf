export { buildModel, getFlatWeights, setFlatWeights, specHashOf } from './build-model';
export type { SeqModel, ModelDefinition, WeightSpec } from './build-model';
export { validateDefinition, TASK_FOR_KIND } from './validate';
export { batchTensors, lossSum } from './batch-tensors';
export type { BatchTensors, LossSum } from './batch-tensors';
export {
  computeGradients,
  averageGradients,
  microBatchGradient,
  addRows,
  emptySum,
  finishAverage,
} from './gradients';
export type { GradientPart, AveragedGradient, ComputeOptions, GradientSum } from './gradients';
export { initOptimizerState, learningRateAt, clipByGlobalNorm, optimizerStep } from './optimizers';
export type { OptimizerState } from './optimizers';
export { initCheckpoint, applyGradients } from './checkpoint';
export type { Checkpoint, ApplyResult } from './checkpoint';
export { encodeCheckpoint, decodeCheckpoint, encodeGradients, decodeGradients } from './codec';
export { runLocalSteps, applyLocalUpdates } from './local-sgd';
export type { LocalUpdate } from './local-sgd';
export { mixSeed, createRng } from './seeded';
export type { Rng } from './seeded';
export { evaluate, Evaluator } from './evaluate';
export type { EvalResult } from './evaluate';
export { blobStoreIOHandler, layersModelFiles, saveModel, loadModel, MODEL_WEIGHTS_FILE } from './io-handler';
export {
  forecast,
  classify,
  generate,
  decode,
  decodeIds,
  decodeIdsBatch,
  tokenize,
  detokenize,
} from './inference';
export type { GenerateOptions, DecodeOptions } from './inference';
export { runGraph } from './run-graph';
