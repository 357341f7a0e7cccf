/**
 * Writes a built dataset as a content-addressed version: parts first, then the manifest, then
 * the latest pointer, so a reader never sees a manifest whose parts are missing. An identical
 * import finds its manifest already there and writes nothing.
 */
import {
  MANIFEST_FORMAT,
  type BatchEntry,
  type DatasetImportResult,
  type DatasetManifest,
  type PartEntry,
} from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import { arrowSchemaFor, describeSchema, encodePart, recordBatchOf } from './arrow-codec';
import { elementCount, sliceRows, type BuiltDataset, type ExampleSet } from './examples';
import {
  assertDatasetName,
  datasetPrefix,
  manifestDigest,
  manifestKey,
  partKey,
  pointerKey,
  readPointer,
} from './manifest';
import { canonicalJson } from '@seqtrain/contracts';
import { sha256Hex } from '@seqtrain/storage';

export interface LayoutOptions {
  /** rows per Arrow record batch (the unit of sharding and ranged reads) */
  rowsPerBatch?: number;
  /** parts are closed once they reach about this many bytes */
  targetPartBytes?: number;
}

export const DEFAULT_ROWS_PER_BATCH = 256;
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

interface PendingPart {
  entry: PartEntry;
  bytes: Uint8Array;
}

function chunks(
  set: ExampleSet,
  rowsPerBatch: number,
  split: BatchEntry['split'],
): { set: ExampleSet; split: BatchEntry['split'] }[] {
  const out: { set: ExampleSet; split: BatchEntry['split'] }[] = [];
  for (let from = 0; from < set.rows; from += rowsPerBatch)
    out.push({ set: sliceRows(set, from, Math.min(set.rows, from + rowsPerBatch)), split });
  return out;
}

/** Lays out record batches into parts and computes the manifest (pure, no I/O). */
export function layoutDataset(
  name: string,
  built: BuiltDataset,
  options: LayoutOptions = {},
): { manifest: DatasetManifest; parts: Uint8Array[] } {
  assertDatasetName(name);
  const rowsPerBatch = options.rowsPerBatch ?? DEFAULT_ROWS_PER_BATCH;
  const targetPartBytes = options.targetPartBytes ?? DEFAULT_PART_BYTES;
  const schema = arrowSchemaFor(built.signature);
  // Training batches never mix with validation batches: a split is a set of whole batches.
  const batches = [...chunks(built.train, rowsPerBatch, 'train'), ...chunks(built.val, rowsPerBatch, 'val')];
  const rowBytes =
    4 *
    (elementCount(built.signature.x.shape) +
      elementCount(built.signature.y.shape) +
      schema.fields.length -
      2);
  const perPart = Math.max(1, Math.floor(targetPartBytes / Math.max(1, rowBytes * rowsPerBatch)));
  const parts: PendingPart[] = [];
  for (let i = 0; i < batches.length; i += perPart) {
    const group = batches.slice(i, i + perPart);
    const encoded = encodePart(
      schema,
      group.map((b) => recordBatchOf(schema, b.set)),
    );
    const entries: BatchEntry[] = encoded.blocks.map((blk, j) => ({
      rows: group[j]!.set.rows,
      offset: blk.offset,
      metadataLength: blk.metadataLength,
      bodyLength: blk.bodyLength,
      sha256: sha256Hex(encoded.bytes.subarray(blk.offset, blk.offset + blk.metadataLength + blk.bodyLength)),
      split: group[j]!.split,
    }));
    const key = `part-${String(parts.length).padStart(5, '0')}.arrow`;
    parts.push({
      bytes: encoded.bytes,
      entry: {
        key,
        bytes: encoded.bytes.length,
        sha256: sha256Hex(encoded.bytes),
        rows: entries.reduce((n, b) => n + b.rows, 0),
        schema: encoded.schema,
        batches: entries,
      },
    });
  }
  const content: Omit<DatasetManifest, 'digest'> = {
    format: MANIFEST_FORMAT,
    name,
    signature: built.signature,
    arrowSchema: describeSchema(schema),
    rows: built.train.rows + built.val.rows,
    trainRows: built.train.rows,
    valRows: built.val.rows,
    bytes: parts.reduce((n, p) => n + p.bytes.length, 0),
    parts: parts.map((p) => p.entry),
    source: built.source,
    stats: { ...built.stats, rowsPerBatch, batches: batches.length },
  };
  // Round-trip through JSON so the digest covers exactly what readers will parse.
  const normalized = JSON.parse(canonicalJson(content)) as Omit<DatasetManifest, 'digest'>;
  const manifest: DatasetManifest = { ...normalized, digest: manifestDigest(normalized) };
  return { manifest, parts: parts.map((p) => p.bytes) };
}

export function importResult(
  store: BlobStore,
  manifest: DatasetManifest,
  created: boolean,
): DatasetImportResult {
  return {
    name: manifest.name,
    digest: manifest.digest,
    uri: `${store.describe}/${datasetPrefix(manifest.name, manifest.digest)}/`,
    rows: manifest.rows,
    trainRows: manifest.trainRows,
    valRows: manifest.valRows,
    parts: manifest.parts.length,
    bytes: manifest.bytes,
    schema: manifest.signature,
    created,
  };
}

/** Runs fn over items with bounded concurrency; after a failure no new item starts, and it
 * returns only once every started call has settled, so cleanup sees everything written. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

/** Stores a laid-out dataset; returns created=false when that exact version already existed. */
export async function writeDataset(
  store: BlobStore,
  manifest: DatasetManifest,
  parts: readonly Uint8Array[],
  log: (msg: string) => void = () => {},
): Promise<DatasetImportResult> {
  const mKey = manifestKey(manifest.name, manifest.digest);
  const pointerBody = canonicalJson({ name: manifest.name, digest: manifest.digest });
  const partsOf = manifest.parts.map((p, i) => ({
    key: partKey(manifest, p.key),
    bytes: parts[i] as Uint8Array,
  }));
  if (await store.head(mKey)) {
    // Parts are content-addressed and shared by identical imports: one that a failed concurrent
    // import removed (before this fix) or that went missing is written again.
    const missing = [];
    for (const part of partsOf) if (!(await store.head(part.key))) missing.push(part);
    for (const { key, bytes } of missing) {
      await store.put(key, bytes, { contentType: 'application/vnd.apache.arrow.file' });
      log(`repaired ${key} (${bytes.length} bytes): it was missing`);
    }
    const pointer = await readPointer(store, manifest.name);
    if (pointer?.digest !== manifest.digest)
      await store.put(pointerKey(manifest.name), pointerBody, { contentType: 'application/json' });
    log(
      `dataset ${manifest.name}@${manifest.digest.slice(0, 12)} already exists; ${missing.length > 0 ? `${missing.length} missing part(s) repaired` : 'nothing written'}`,
    );
    return importResult(store, manifest, false);
  }
  // Only what this import created may be removed if it fails: a part already there (of the
  // same size, same content address) belongs to an identical import running beside this one.
  const created: string[] = [];
  try {
    await inParallel(partsOf, 4, async ({ key, bytes }) => {
      const have = await store.head(key);
      if (have && have.size === bytes.length) return;
      created.push(key);
      await store.put(key, bytes, { contentType: 'application/vnd.apache.arrow.file' });
      log(`wrote ${key} (${bytes.length} bytes)`);
    });
    await store.put(mKey, JSON.stringify(manifest, null, 2), { contentType: 'application/json' });
  } catch (err) {
    // Nothing partial becomes visible: remove the parts this import created, unless an identical
    // import has meanwhile published the manifest that refers to them.
    const published = await store.head(mKey).catch(() => undefined);
    if (!published) await store.deleteMany(created).catch(() => undefined);
    throw err;
  }
  // The dataset is complete from here; a failed pointer write leaves it complete (and named by
  // its digest) and is repaired by the next identical import.
  await store.put(pointerKey(manifest.name), pointerBody, { contentType: 'application/json' });
  return importResult(store, manifest, true);
}
