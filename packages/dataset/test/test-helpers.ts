/** Shared fixtures for this package's tests: a real local S3 server and a fresh store on it. */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY } from '@seqtrain/contracts';
import { startLocalS3, type LocalS3 } from '@seqtrain/local-stack';
import { S3BlobStore } from '@seqtrain/storage';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');

export interface S3Fixture {
  s3: LocalS3;
  dir: string;
  store(): S3BlobStore;
  stop(): Promise<void>;
}

export async function startS3(): Promise<S3Fixture> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-dataset-'));
  const s3 = await startLocalS3({ dir, port: 0, bucket: 'seqtrain' });
  const stores: S3BlobStore[] = [];
  return {
    s3,
    dir,
    store: () => {
      const s = new S3BlobStore({
        bucket: 'seqtrain',
        region: 'us-east-1',
        endpoint: s3.endpoint,
        accessKeyId: LOCAL_ACCESS_KEY,
        secretAccessKey: LOCAL_SECRET_KEY,
      });
      stores.push(s);
      return s;
    },
    stop: async () => {
      stores.forEach((s) => s.destroy());
      await s3.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

export async function tempDir(): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-dataset-in-'));
}
