/**
 * The interface between datasets and models: what a dataset version is (its manifest), what one
 * example looks like (the signature), how a dataset is split into shards, and the in-memory batch
 * a shard reader yields. JSON-safe schemas cross process boundaries (activities, Temporal
 * payloads, S3 objects); `SequenceBatch` is an in-process type only.
 */
import { z } from 'zod';

export const DATASET_KINDS = ['timeseries', 'text-class', 'sequence', 'seq2seq'] as const;
export const DatasetKindSchema = z.enum(DATASET_KINDS);
export type DatasetKind = z.infer<typeof DatasetKindSchema>;

export const TensorDtypeSchema = z.enum(['float32', 'int32']);
export type TensorDtype = z.infer<typeof TensorDtypeSchema>;

const dim = z.number().int().nonnegative();

/** Shape and dtype of one example's tensor (no batch dimension). */
export const TensorSpecSchema = z.object({ dtype: TensorDtypeSchema, shape: z.array(dim) });
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

/**
 * Token ids: index in `tokens` = id. Id 0 is always '<pad>'. `bos`/`eos`/`unk` are present when
 * the dataset uses them. `lowercase`: text was lower-cased before tokenising (apply at inference).
 */
export const VocabularySchema = z.object({
  tokenizer: z.enum(['char', 'word']),
  tokens: z.array(z.string()).min(1),
  pad: z.literal(0),
  bos: z.number().int().positive().optional(),
  eos: z.number().int().positive().optional(),
  unk: z.number().int().positive().optional(),
  lowercase: z.boolean().optional(),
});
export type Vocabulary = z.infer<typeof VocabularySchema>;

/**
 * Scaling of numeric windows; statistics come from training rows only.
 * - 'zscore': x[t][f] = (v - mean[f]) / std[f]; y = (target - targetMean) / targetStd.
 *   Prediction back to units: value = y * targetStd + targetMean.
 * - 'last-value': x[t][f] = (v - last[f]) / std[f], where last[f] is feature f at the window's last
 *   step; y = (target - lastTarget) / targetStd, lastTarget = the target column at the window's last
 *   step (the "anchor"). Prediction back to units: value = anchor + y * targetStd.
 */
export const NormalizationSchema = z.object({
  mode: z.enum(['zscore', 'last-value']),
  featureColumns: z.array(z.string()).min(1),
  targetColumn: z.string(),
  mean: z.array(z.number()),
  std: z.array(z.number().positive()),
  targetMean: z.number(),
  targetStd: z.number().positive(),
});
export type Normalization = z.infer<typeof NormalizationSchema>;

/** Everything a model builder and inference need to know about one example. */
export const DatasetSignatureSchema = z.object({
  kind: DatasetKindSchema,
  x: TensorSpecSchema,
  y: TensorSpecSchema,
  /** one-to-many generation conditioned on a class (e.g. female/male); condition int32 [] per example */
  condition: z.object({ numValues: z.number().int().positive(), labels: z.array(z.string()) }).optional(),
  vocab: VocabularySchema.optional(),
  targetVocab: VocabularySchema.optional(),
  classes: z.array(z.string()).optional(),
  normalization: NormalizationSchema.optional(),
  /** timeseries only: y holds one target per input step (many-to-many aligned) */
  perStep: z.boolean().optional(),
});
export type DatasetSignature = z.infer<typeof DatasetSignatureSchema>;

/** One Arrow IPC record batch inside a part: its encapsulated message (metadata + body). */
export const BatchEntrySchema = z.object({
  rows: z.number().int().positive(),
  /** byte offset of the message within the part (from the IPC footer Block) */
  offset: z.number().int().nonnegative(),
  metadataLength: z.number().int().positive(),
  bodyLength: z.number().int().nonnegative(),
  /** sha256 (hex) of bytes [offset, offset + metadataLength + bodyLength) */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  split: z.enum(['train', 'val']),
});
export type BatchEntry = z.infer<typeof BatchEntrySchema>;

export const PartEntrySchema = z.object({
  /** key relative to the dataset version prefix, e.g. 'part-00000.arrow' */
  key: z.string().min(1),
  bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  rows: z.number().int().nonnegative(),
  /** the schema message (read once per part to decode ranged batches) */
  schema: z.object({ offset: z.number().int().nonnegative(), length: z.number().int().positive() }),
  batches: z.array(BatchEntrySchema),
});
export type PartEntry = z.infer<typeof PartEntrySchema>;

export const ArrowFieldSchema = z.object({ name: z.string(), type: z.string(), nullable: z.boolean() });
export type ArrowField = z.infer<typeof ArrowFieldSchema>;

export const MANIFEST_FORMAT = 'seqtrain.dataset/v1' as const;

export const DatasetManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  name: z.string(),
  /** sha256 of the canonical JSON of this manifest without `digest`: the dataset version */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  signature: DatasetSignatureSchema,
  arrowSchema: z.array(ArrowFieldSchema),
  rows: z.number().int().nonnegative(),
  trainRows: z.number().int().nonnegative(),
  valRows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  parts: z.array(PartEntrySchema),
  /** where the data came from and the options used (no timestamps: the digest must be reproducible) */
  source: z.record(z.string(), z.unknown()),
  /** kind-specific statistics (counts, lengths, column stats) for `dataset inspect` */
  stats: z.record(z.string(), z.unknown()),
});
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

/** `datasets/<name>/latest.json` */
export const DatasetPointerSchema = z.object({
  name: z.string(),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});
export type DatasetPointer = z.infer<typeof DatasetPointerSchema>;

/** A reference to one record batch of a dataset version. */
export const BatchRefSchema = z.object({
  part: z.number().int().nonnegative(),
  batch: z.number().int().nonnegative(),
});
export type BatchRef = z.infer<typeof BatchRefSchema>;

export const ShardSchema = z.object({
  index: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative(),
  batches: z.array(BatchRefSchema),
});
export type Shard = z.infer<typeof ShardSchema>;

/** Output of the shard planner: a pure function of (manifest, shardCount, seed). */
export const ShardPlanSchema = z.object({
  name: z.string(),
  digest: z.string(),
  seed: z.number().int(),
  shards: z.array(ShardSchema),
  /** every validation batch, in manifest order */
  validation: z.object({ rows: z.number().int().nonnegative(), batches: z.array(BatchRefSchema) }),
});
export type ShardPlan = z.infer<typeof ShardPlanSchema>;

/** What `dataset import --json` prints. */
export interface DatasetImportResult {
  name: string;
  digest: string;
  uri: string;
  rows: number;
  trainRows: number;
  valRows: number;
  parts: number;
  bytes: number;
  schema: DatasetSignature;
  /** false when an identical version already existed and nothing was written */
  created: boolean;
}

/**
 * In-memory batch yielded by the shard reader and consumed by the model (not JSON).
 * x.shape / y.shape = [rows, ...signature shape]; data is row-major.
 */
export interface SequenceBatch {
  rows: number;
  x: { data: Float32Array | Int32Array; shape: number[] };
  y: { data: Float32Array | Int32Array; shape: number[] };
  condition?: { data: Int32Array; shape: [number] };
}
