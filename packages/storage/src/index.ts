export type { BlobStore, BlobInfo, ByteRange, ListOptions, PutOptions, BlobStoreStats } from './blob-store';
export { FsBlobStore, BlobExistsError } from './fs-store';
export { S3BlobStore, createS3Client, isTransientS3Error } from './s3-store';
export type { S3StoreOptions } from './s3-store';
export { withRetry, DEFAULT_RETRY } from './retry';
export type { RetryPolicy } from './retry';
export { createBlobStore } from './from-config';
export { sha256Hex } from './hash';
