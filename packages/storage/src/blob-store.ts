/**
 * The BlobStore port: everything seqtrain persists goes through it. Adapters: S3 (any
 * S3-compatible server) and the local filesystem (unit tests, single-machine use).
 * Keys are '/'-separated, relative, without '..' segments.
 */
export interface ByteRange {
  /** first byte, inclusive */
  start: number;
  /** last byte, inclusive (HTTP Range semantics) */
  end: number;
}

export interface BlobInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface ListOptions {
  /** Only keys that sort after this one (S3 Marker / StartAfter). */
  startAfter?: string;
  /** Keys per page (default 1000, the S3 maximum). */
  pageSize?: number;
}

export interface PutOptions {
  contentType?: string;
  /** Fail with BlobExistsError instead of overwriting (If-None-Match: * where supported). */
  ifNoneMatch?: boolean;
  metadata?: Record<string, string>;
}

export interface BlobStore {
  /** Human-readable location for messages, e.g. s3://bucket or file:///dir. */
  readonly describe: string;
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<BlobInfo>;
  /** Throws NotFoundError when the key does not exist. */
  get(key: string): Promise<Uint8Array>;
  /** Reads bytes [start, end] inclusive. Throws NotFoundError / BadInputError (range outside object). */
  getRange(key: string, range: ByteRange): Promise<Uint8Array>;
  /** Returns undefined when the key does not exist. */
  head(key: string): Promise<BlobInfo | undefined>;
  /** All keys under a prefix, following pagination, in lexicographic order. */
  list(prefix: string): Promise<BlobInfo[]>;
  /**
   * The same keys one page at a time, so a caller that keeps only what it needs holds one page in
   * memory, not the whole listing (long-lived servers over large prefixes).
   */
  listPages(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo[]>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  deleteMany(keys: readonly string[]): Promise<void>;
}

/** Counts requests and bytes, for tests and benchmarks that must prove what was read. */
export interface BlobStoreStats {
  gets: number;
  rangeGets: number;
  bytesRead: number;
  puts: number;
  bytesWritten: number;
}
