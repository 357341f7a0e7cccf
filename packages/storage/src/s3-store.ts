/**
 * S3 adapter over @aws-sdk/client-s3, for AWS S3 and S3-compatible servers (versitygw, MinIO, ...).
 * The SDK's own retries are off: this adapter retries throttling, 5xx and network errors with
 * backoff, and never retries 4xx. Errors name bucket, key and cause, never credentials.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  BadInputError,
  NotFoundError,
  PermissionError,
  SeqtrainError,
  TransientError,
} from '@seqtrain/contracts';
import type { BlobInfo, BlobStore, BlobStoreStats, ByteRange, ListOptions, PutOptions } from './blob-store';
import { BlobExistsError } from './fs-store';
import { assertValidKey, assertValidRange, toBytes } from './keys';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** undefined = AWS */
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Objects at least this large are uploaded in parts. */
  multipartThreshold?: number;
  partSize?: number;
  retry?: RetryPolicy;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
  /** Keys per LIST page (S3 caps it at 1000). */
  listPageSize?: number;
  onRetry?: (message: string) => void;
}

const MiB = 1024 * 1024;

export function createS3Client(o: S3StoreOptions): S3Client {
  return new S3Client({
    region: o.region,
    ...(o.endpoint ? { endpoint: o.endpoint, forcePathStyle: true } : {}),
    ...(o.accessKeyId && o.secretAccessKey
      ? { credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } }
      : {}),
    // Non-AWS servers reject the newer default checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    requestHandler: { requestTimeout: o.requestTimeoutMs ?? 30_000, connectionTimeout: 5_000 },
  });
}

interface AwsLikeError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  code?: string;
}

function statusOf(err: unknown): number | undefined {
  return (err as AwsLikeError | undefined)?.$metadata?.httpStatusCode;
}

/** Throttling, 5xx and network-level failures are transient; every other 4xx is final. */
export function isTransientS3Error(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (err instanceof SeqtrainError) return false;
  const e = err as AwsLikeError;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408 || e.name === 'SlowDown';
  if (e.$retryable) return true;
  const code = e.code ?? '';
  return (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EAI_AGAIN',
      'EHOSTUNREACH',
      'UND_ERR_SOCKET',
    ].includes(code) ||
    ['TimeoutError', 'RequestTimeout', 'NetworkingError', 'AbortError'].includes(e.name ?? '') ||
    /socket hang up|ECONNREFUSED|ECONNRESET|timed? ?out/i.test(
      String((err as Error | undefined)?.message ?? ''),
    )
  );
}

export class S3BlobStore implements BlobStore {
  readonly describe: string;
  readonly stats: BlobStoreStats = { gets: 0, rangeGets: 0, bytesRead: 0, puts: 0, bytesWritten: 0 };
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly threshold: number;
  private readonly partSize: number;
  private readonly retry: RetryPolicy;

  constructor(
    private readonly options: S3StoreOptions,
    client?: S3Client,
  ) {
    this.bucket = options.bucket;
    this.describe = `s3://${options.bucket}`;
    this.client = client ?? createS3Client(options);
    this.threshold = options.multipartThreshold ?? 16 * MiB;
    this.partSize = Math.max(5 * MiB, options.partSize ?? 8 * MiB);
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  private where(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  private async call<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(fn, isTransientS3Error, this.retry, (err, attempt, delay) =>
        this.options.onRetry?.(
          `${op} ${this.where(key)} failed (${describeError(err)}); retry ${attempt} in ${delay} ms`,
        ),
      );
    } catch (err) {
      throw this.mapError(op, key, err);
    }
  }

  private mapError(op: string, key: string, err: unknown): Error {
    if (err instanceof SeqtrainError) return err;
    const status = statusOf(err);
    const what = `${op} ${this.where(key)}`;
    const name = (err as AwsLikeError).name;
    if (name === 'NoSuchBucket')
      return new NotFoundError(`${what}: bucket ${this.bucket} does not exist`, { cause: err });
    // Checked before 404: versitygw answers an unknown access key with 404 XAdminUserNotFound.
    if (
      status === 401 ||
      status === 403 ||
      name === 'AccessDenied' ||
      name === 'InvalidAccessKeyId' ||
      name === 'SignatureDoesNotMatch' ||
      name === 'XAdminUserNotFound'
    )
      return new PermissionError(
        `${what}: access denied (${describeError(err)}); check SEQTRAIN_S3_* credentials and the bucket policy`,
        { cause: err },
      );
    if (status === 404 || name === 'NoSuchKey' || name === 'NotFound')
      return new NotFoundError(`${what}: no such object`, { cause: err });
    if (status === 412) return new BlobExistsError(`${what}: object already exists`, { cause: err });
    if (status === 416)
      return new BadInputError(`${what}: requested range is outside the object`, { cause: err });
    if (isTransientS3Error(err))
      return new TransientError(
        `${what} failed after ${this.retry.attempts} attempts: ${describeError(err)}`,
        { cause: err },
      );
    return new SeqtrainError(`${what} failed: ${describeError(err)}`, { cause: err });
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<BlobInfo> {
    assertValidKey(key);
    const bytes = toBytes(body);
    if (bytes.byteLength >= this.threshold && !options.ifNoneMatch)
      return this.putMultipart(key, bytes, options);
    const res = await this.call('PUT', key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentLength: bytes.byteLength,
          ContentType: options.contentType ?? 'application/octet-stream',
          Metadata: options.metadata,
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      ),
    );
    this.stats.puts++;
    this.stats.bytesWritten += bytes.byteLength;
    return { key, size: bytes.byteLength, ...(res.ETag ? { etag: res.ETag.replaceAll('"', '') } : {}) };
  }

  private async putMultipart(key: string, bytes: Uint8Array, options: PutOptions): Promise<BlobInfo> {
    const created = await this.call('CreateMultipartUpload', key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ContentType: options.contentType ?? 'application/octet-stream',
          Metadata: options.metadata,
        }),
      ),
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new SeqtrainError(`CreateMultipartUpload ${this.where(key)} returned no UploadId`);
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let offset = 0, n = 1; offset < bytes.byteLength; offset += this.partSize, n++) {
        const chunk = bytes.subarray(offset, Math.min(offset + this.partSize, bytes.byteLength));
        const res = await this.call(`UploadPart ${n}`, key, () =>
          this.client.send(
            new UploadPartCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: n,
              Body: chunk,
              ContentLength: chunk.byteLength,
            }),
          ),
        );
        parts.push({ ETag: res.ETag ?? '', PartNumber: n });
      }
      const done = await this.call('CompleteMultipartUpload', key, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        ),
      );
      this.stats.puts++;
      this.stats.bytesWritten += bytes.byteLength;
      return { key, size: bytes.byteLength, ...(done.ETag ? { etag: done.ETag.replaceAll('"', '') } : {}) };
    } catch (err) {
      // Leave no orphaned parts behind; the original error is what matters.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
        .catch(() => undefined);
      throw err;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    assertValidKey(key);
    const bytes = await this.call('GET', key, async () => {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!res.Body) throw new SeqtrainError(`GET ${this.where(key)} returned no body`);
      return res.Body.transformToByteArray();
    });
    this.stats.gets++;
    this.stats.bytesRead += bytes.byteLength;
    return bytes;
  }

  async getRange(key: string, { start, end }: ByteRange): Promise<Uint8Array> {
    assertValidKey(key);
    assertValidRange(key, start, end);
    const bytes = await this.call(`GET bytes=${start}-${end}`, key, async () => {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end}` }),
      );
      if (!res.Body) throw new SeqtrainError(`GET ${this.where(key)} returned no body`);
      const body = await res.Body.transformToByteArray();
      // A server that ignores Range would send the whole object: never hand that out as the range.
      if (res.ContentRange === undefined && body.byteLength > end - start + 1) {
        return body.subarray(start, end + 1);
      }
      return body;
    });
    this.stats.rangeGets++;
    this.stats.bytesRead += bytes.byteLength;
    return bytes;
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    assertValidKey(key);
    try {
      const res = await this.call('HEAD', key, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })),
      );
      return {
        key,
        size: res.ContentLength ?? 0,
        ...(res.ETag ? { etag: res.ETag.replaceAll('"', '') } : {}),
        ...(res.LastModified ? { lastModified: res.LastModified } : {}),
      };
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for await (const page of this.listPages(prefix)) out.push(...page);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async *listPages(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo[]> {
    // ListObjects (v1) with Marker = last key seen: equivalent to v2 on AWS, and served by every
    // S3-compatible server (s3rver, the earlier local server, failed v2 pages under OpenSSL 3).
    let startAfter = options.startAfter;
    let truncated: boolean | undefined;
    const pageSize = options.pageSize ?? this.options.listPageSize ?? 1000;
    do {
      const after = startAfter;
      const res = await this.call('LIST', `${prefix}*`, () =>
        this.client.send(
          new ListObjectsCommand({ Bucket: this.bucket, Prefix: prefix, Marker: after, MaxKeys: pageSize }),
        ),
      );
      const page: BlobInfo[] = [];
      for (const o of res.Contents ?? []) {
        if (o.Key === undefined) continue;
        page.push({
          key: o.Key,
          size: o.Size ?? 0,
          ...(o.ETag ? { etag: o.ETag.replaceAll('"', '') } : {}),
          ...(o.LastModified ? { lastModified: o.LastModified } : {}),
        });
      }
      truncated = res.IsTruncated === true && (res.Contents?.length ?? 0) > 0;
      startAfter = res.Contents?.at(-1)?.Key;
      if (page.length > 0) yield page;
    } while (truncated && startAfter !== undefined);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.call('DELETE', key, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })),
    );
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      batch.forEach(assertValidKey);
      const res = await this.call('DELETE (batch)', batch[0] ?? '', () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        ),
      );
      const failed = res.Errors ?? [];
      if (failed.length > 0) {
        throw new SeqtrainError(
          `DELETE ${failed.length} objects in ${this.describe} failed, first: ${failed[0]?.Key}: ${failed[0]?.Message}`,
        );
      }
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}

function describeError(err: unknown): string {
  const e = err as AwsLikeError & Error;
  const status = statusOf(err);
  const parts = [e?.name, e?.code, status !== undefined ? `HTTP ${status}` : undefined, e?.message].filter(
    Boolean,
  );
  // The SDK's messages never include secrets, but signatures can appear in raw XML bodies.
  return parts.join(': ').replace(/(Signature|Credential|X-Amz-Security-Token)=[^&\s]+/gi, '$1=<redacted>');
}
