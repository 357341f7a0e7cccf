/**
 * Dataset versions in the store:
 *   datasets/<name>/<digest>/part-NNNNN.arrow   Arrow IPC files
 *   datasets/<name>/<digest>/manifest.json      written after every part
 *   datasets/<name>/latest.json                 {name, digest}, written after the manifest
 * The digest is the sha256 of the canonical JSON of the manifest without its `digest` field.
 */
import {
  canonicalJson,
  BadInputError,
  CorruptDataError,
  DatasetManifestSchema,
  DatasetPointerSchema,
  NotFoundError,
  formatZodIssues,
  type DatasetManifest,
  type DatasetPointer,
} from '@seqtrain/contracts';
import { sha256Hex, type BlobStore } from '@seqtrain/storage';

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export function assertDatasetName(name: string): void {
  if (!NAME_RE.test(name) || name.includes('..')) {
    throw new BadInputError(
      `--name ${JSON.stringify(name)}: dataset names are 1-100 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit`,
    );
  }
}

export const datasetPrefix = (name: string, digest: string): string => `datasets/${name}/${digest}`;
export const manifestKey = (name: string, digest: string): string =>
  `${datasetPrefix(name, digest)}/manifest.json`;
export const pointerKey = (name: string): string => `datasets/${name}/latest.json`;
export const partKey = (manifest: Pick<DatasetManifest, 'name' | 'digest'>, relative: string): string =>
  `${datasetPrefix(manifest.name, manifest.digest)}/${relative}`;

export function manifestDigest(manifest: Omit<DatasetManifest, 'digest'> & { digest?: string }): string {
  const { digest: _ignored, ...content } = manifest;
  return sha256Hex(canonicalJson(content));
}

/** NAME or NAME@DIGEST (a unique digest prefix of at least 8 characters is accepted). */
export function parseDatasetRef(ref: string): { name: string; digest?: string } {
  const at = ref.indexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  assertDatasetName(name);
  if (at < 0) return { name };
  const digest = ref.slice(at + 1);
  if (!/^[0-9a-f]{8,64}$/.test(digest))
    throw new BadInputError(
      `dataset ${JSON.stringify(ref)}: the digest after '@' must be 8-64 hex characters`,
    );
  return { name, digest };
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (err) {
    throw new CorruptDataError(`${where} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads and validates a manifest, and checks that its content still hashes to its digest. */
export async function readManifest(store: BlobStore, name: string, digest: string): Promise<DatasetManifest> {
  const key = manifestKey(name, digest);
  const raw = parseJson(await store.get(key), `${store.describe}/${key}`);
  const parsed = DatasetManifestSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptDataError(
      `${store.describe}/${key} is not a valid manifest: ${formatZodIssues(parsed.error, raw)}`,
    );
  const m = parsed.data;
  const actual = manifestDigest(m);
  if (actual !== digest || m.digest !== digest || m.name !== name) {
    throw new CorruptDataError(
      `${store.describe}/${key}: content hashes to ${actual}, expected ${digest} (manifest edited or damaged)`,
    );
  }
  return m;
}

export async function readPointer(store: BlobStore, name: string): Promise<DatasetPointer | undefined> {
  const key = pointerKey(name);
  if (!(await store.head(key))) return undefined;
  const raw = parseJson(await store.get(key), `${store.describe}/${key}`);
  const parsed = DatasetPointerSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptDataError(
      `${store.describe}/${key} is not a valid pointer: ${formatZodIssues(parsed.error, raw)}`,
    );
  return parsed.data;
}

/** All stored versions (digests) of a dataset name. */
export async function listVersions(store: BlobStore, name: string): Promise<string[]> {
  const infos = await store.list(`datasets/${name}/`);
  return infos
    .map((i) => /^datasets\/[^/]+\/([0-9a-f]{64})\/manifest\.json$/.exec(i.key)?.[1])
    .filter((d): d is string => d !== undefined);
}

/** Resolves NAME (latest) or NAME@DIGEST (full or unique prefix) to a verified manifest. */
export async function loadManifest(store: BlobStore, ref: string): Promise<DatasetManifest> {
  const { name, digest } = parseDatasetRef(ref);
  if (digest === undefined) {
    const pointer = await readPointer(store, name);
    if (!pointer)
      throw new NotFoundError(
        `dataset ${JSON.stringify(name)} not found in ${store.describe} (no ${pointerKey(name)}); import it with 'seqtrain dataset import'`,
      );
    return readManifest(store, name, pointer.digest);
  }
  if (digest.length === 64) {
    if (!(await store.head(manifestKey(name, digest))))
      throw new NotFoundError(`dataset ${name}@${digest} not found in ${store.describe}`);
    return readManifest(store, name, digest);
  }
  const matches = (await listVersions(store, name)).filter((d) => d.startsWith(digest));
  if (matches.length === 0)
    throw new NotFoundError(`dataset ${name}@${digest} not found in ${store.describe}`);
  if (matches.length > 1)
    throw new BadInputError(`dataset ${name}@${digest} is ambiguous: ${matches.join(', ')}`);
  return readManifest(store, name, matches[0] as string);
}

/** Names that have a latest pointer, sorted. */
export async function listDatasetNames(store: BlobStore): Promise<string[]> {
  const infos = await store.list('datasets/');
  return infos
    .map((i) => /^datasets\/([^/]+)\/latest\.json$/.exec(i.key)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}
