/**
 * Moves a local stack's objects from the folder layout of s3rver (the embedded S3 server before
 * versitygw: `<dir>/<bucket>/<key>._S3rver_object` beside `._S3rver_metadata.json`) into the
 * running versitygw, so a user's datasets, runs and registry survive the switch. The old folder
 * is renamed aside first and removed only after every object was written and read back.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const OBJECT_SUFFIX = '._S3rver_object';
const METADATA_SUFFIX = '._S3rver_metadata.json';

/** Where the old folder is kept while its objects are copied. */
export function legacyDir(dir: string): string {
  return `${dir}.s3rver-migration`;
}

/**
 * Whether `dir` holds s3rver data for `bucket` (or an interrupted migration does); if so, the old
 * files are moved to legacyDir(dir) so the new server starts on an empty folder.
 */
export async function prepareS3rverMigration(dir: string, bucket: string): Promise<boolean> {
  const aside = legacyDir(dir);
  if (await exists(aside)) return true;
  if (!(await exists(path.join(dir, bucket)))) return false;
  if (!(await containsS3rverObject(path.join(dir, bucket)))) return false;
  await fsp.rename(dir, aside);
  return true;
}

export async function migrateFromS3rver(o: {
  dir: string;
  bucket: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  log?: (msg: string) => void;
}): Promise<number> {
  const root = path.join(legacyDir(o.dir), o.bucket);
  const client = new S3Client({
    endpoint: o.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: o.credentials,
  });
  let copied = 0;
  try {
    for await (const file of walk(root)) {
      if (!file.endsWith(OBJECT_SUFFIX)) continue;
      const key = path.relative(root, file).slice(0, -OBJECT_SUFFIX.length).split(path.sep).join('/');
      const body = await fsp.readFile(file);
      const meta = await readMetadata(file.slice(0, -OBJECT_SUFFIX.length) + METADATA_SUFFIX);
      await client.send(
        new PutObjectCommand({
          Bucket: o.bucket,
          Key: key,
          Body: body,
          ...(meta['content-type'] ? { ContentType: meta['content-type'] } : {}),
        }),
      );
      const head = await client.send(new HeadObjectCommand({ Bucket: o.bucket, Key: key }));
      if (head.ContentLength !== body.byteLength)
        throw new Error(`copy of ${key} has ${head.ContentLength} bytes, the original ${body.byteLength}`);
      copied += 1;
      if (copied % 500 === 0) o.log?.(`migrating the local S3 folder: ${copied} objects copied`);
    }
  } finally {
    client.destroy();
  }
  await fsp.rm(legacyDir(o.dir), { recursive: true, force: true });
  return copied;
}

async function readMetadata(file: string): Promise<Record<string, string>> {
  try {
    const parsed: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

async function containsS3rverObject(dir: string): Promise<boolean> {
  for await (const f of walk(dir)) if (f.endsWith(OBJECT_SUFFIX)) return true;
  return false;
}

async function* walk(dir: string): AsyncGenerator<string> {
  const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

async function exists(p: string): Promise<boolean> {
  return fsp.access(p).then(
    () => true,
    () => false,
  );
}
