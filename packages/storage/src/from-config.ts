import type { Config } from '@seqtrain/contracts';
import { S3BlobStore, type S3StoreOptions } from './s3-store';

/** The store an entry point builds from validated configuration. */
export function createBlobStore(config: Config, extra: Partial<S3StoreOptions> = {}): S3BlobStore {
  return new S3BlobStore({
    bucket: config.s3.bucket,
    region: config.s3.region,
    ...(config.s3.endpoint ? { endpoint: config.s3.endpoint } : {}),
    ...(config.s3.accessKeyId ? { accessKeyId: config.s3.accessKeyId } : {}),
    ...(config.s3.secretAccessKey ? { secretAccessKey: config.s3.secretAccessKey } : {}),
    ...extra,
  });
}
