export { importDataset, buildDataset } from './import-dataset';
export type { ImportOptions } from './import-dataset';
export { layoutDataset, writeDataset, DEFAULT_ROWS_PER_BATCH, DEFAULT_PART_BYTES } from './write-dataset';
export type { LayoutOptions } from './write-dataset';
export {
  loadManifest,
  readManifest,
  readPointer,
  listVersions,
  listDatasetNames,
  parseDatasetRef,
  manifestDigest,
  datasetPrefix,
  manifestKey,
  pointerKey,
  partKey,
} from './manifest';
export { planShards } from './shard-plan';
export { ShardReader, BatchCache, concatBatches } from './shard-reader';
export type { ShardReaderOptions } from './shard-reader';
export { encodeForInference, decodePrediction, assertSignatureFitsTask } from './inference';
export type {
  TaskName,
  InferenceInput,
  InferenceContext,
  EncodedInput,
  DecodedPrediction,
} from './inference';
export { tokenize, buildVocabulary, encodeText, decodeTokens } from './tokenizer';
export type { TokenizerName } from './tokenizer';
export { parseCsv } from './csv';
export { BUILTIN_SOURCES, loadCsvSource } from './sources';
export type { BuiltDataset, ExampleSet } from './examples';
export type {
  SequenceBatch,
  DatasetSignature,
  DatasetManifest,
  ShardPlan,
  DatasetImportResult,
} from '@seqtrain/contracts';
