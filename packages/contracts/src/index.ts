export { loadConfig, ConfigSchema, BackendNameSchema, BACKEND_NAMES, formatZodIssues, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, DEFAULT_S3_PORT } from './config';
export type { Config, BackendName, KnownEnvKey } from './config';
export {
  SeqtrainError,
  BadInputError,
  CorruptDataError,
  NotFoundError,
  TransientError,
  NON_RETRYABLE_ERROR_TYPES,
  errorMessage,
} from './errors';
export { SmokeInputSchema } from './smoke';
export type { SmokeInput, SmokeResult } from './smoke';
export {
  DATASET_KINDS,
  DatasetKindSchema,
  TensorDtypeSchema,
  TensorSpecSchema,
  VocabularySchema,
  NormalizationSchema,
  DatasetSignatureSchema,
  BatchEntrySchema,
  PartEntrySchema,
  ArrowFieldSchema,
  MANIFEST_FORMAT,
  DatasetManifestSchema,
  DatasetPointerSchema,
  BatchRefSchema,
  ShardSchema,
  ShardPlanSchema,
} from './dataset';
export type {
  DatasetKind,
  TensorDtype,
  TensorSpec,
  Vocabulary,
  Normalization,
  DatasetSignature,
  BatchEntry,
  PartEntry,
  ArrowField,
  DatasetManifest,
  DatasetPointer,
  BatchRef,
  Shard,
  ShardPlan,
  DatasetImportResult,
  SequenceBatch,
} from './dataset';
