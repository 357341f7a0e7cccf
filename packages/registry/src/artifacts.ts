/**
 * tfjs LayersModel artifacts as files: model.json (topology + weights manifest) and weight shards.
 * The registry stores them byte for byte; it only checks that model.json is a LayersModel whose
 * weight paths are plain file names in the same directory (so an HTTP client resolving them
 * relative to model.json stays inside the version).
 */
import { CorruptDataError } from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import { assertFileName, CARD_FILE, MODEL_JSON } from './layout';

export interface ModelFiles {
  /** model.json bytes (or text). */
  modelJson: Uint8Array | string;
  /** weight file name -> bytes; names must be those listed in model.json's weightsManifest. */
  weightFiles: Map<string, Uint8Array> | ReadonlyArray<readonly [string, Uint8Array]>;
}

/** The weight file names model.json refers to, validated. */
export function weightPathsOf(modelJsonBytes: Uint8Array | string, where: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      typeof modelJsonBytes === 'string' ? modelJsonBytes : new TextDecoder().decode(modelJsonBytes),
    );
  } catch (err) {
    throw new CorruptDataError(`${where}: model.json is not valid JSON`, { cause: err });
  }
  const m = parsed as { modelTopology?: unknown; weightsManifest?: unknown };
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.modelTopology !== 'object' ||
    !Array.isArray(m.weightsManifest)
  ) {
    throw new CorruptDataError(
      `${where}: model.json has no modelTopology/weightsManifest (not a tfjs LayersModel)`,
    );
  }
  const paths: string[] = [];
  for (const group of m.weightsManifest as unknown[]) {
    const groupPaths = (group as { paths?: unknown }).paths;
    if (!Array.isArray(groupPaths))
      throw new CorruptDataError(`${where}: weightsManifest group without paths`);
    for (const p of groupPaths) {
      if (typeof p !== 'string' || p === MODEL_JSON || p === CARD_FILE) {
        throw new CorruptDataError(`${where}: weight path ${JSON.stringify(p)} is not allowed`);
      }
      try {
        paths.push(assertFileName(p));
      } catch (err) {
        throw new CorruptDataError(`${where}: weight path ${JSON.stringify(p)} must be a plain file name`, {
          cause: err,
        });
      }
    }
  }
  return [...new Set(paths)];
}

/** Writes model.json + weight files under `prefix` (ending in '/'); returns the prefix. */
export async function writeModelFiles(store: BlobStore, prefix: string, files: ModelFiles): Promise<string> {
  const wanted = weightPathsOf(files.modelJson, `${store.describe}/${prefix}`);
  const weights = files.weightFiles instanceof Map ? files.weightFiles : new Map(files.weightFiles);
  for (const name of wanted) {
    if (!weights.has(name))
      throw new CorruptDataError(`model.json refers to weight file ${name}, which was not given`);
  }
  for (const name of wanted) {
    await store.put(`${prefix}${name}`, weights.get(name) as Uint8Array, {
      contentType: 'application/octet-stream',
    });
  }
  await store.put(`${prefix}${MODEL_JSON}`, files.modelJson, { contentType: 'application/json' });
  return prefix;
}
