/**
 * The tfjs layers-model file (model.json) as seqtrain writes it and reads it back from S3 or the
 * registry: parsed with a schema, so that a damaged or foreign file is a CorruptDataError naming
 * the file and the field, never a TypeError half-way through loading. Unknown fields are kept
 * (the registry rewrites weight paths and serves the rest unchanged).
 */
import { z } from 'zod';
import { parseStoredJson } from './stored-json';

const WeightEntrySchema = z.looseObject({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']),
});

export const ModelJsonSchema = z.looseObject({
  modelTopology: z.record(z.string(), z.unknown()),
  format: z.string().optional(),
  generatedBy: z.string().optional(),
  convertedBy: z.string().nullable().optional(),
  weightsManifest: z
    .array(z.looseObject({ paths: z.array(z.string().min(1)).min(1), weights: z.array(WeightEntrySchema) }))
    .min(1),
  userDefinedMetadata: z.record(z.string(), z.unknown()).optional(),
});
export type ModelJson = z.infer<typeof ModelJsonSchema>;

/** Parses model.json bytes; `where` names the file in the error (s3://bucket/key, a URL). */
export function parseModelJson(bytes: Uint8Array, where: string): ModelJson {
  return parseStoredJson(bytes, ModelJsonSchema, where);
}
