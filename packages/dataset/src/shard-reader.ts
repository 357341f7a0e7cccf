/**
 * Reads a shard's record batches with ranged GETs: the schema message once per part, then each
 * batch's own bytes as located by the manifest (taken from the part's IPC footer at import).
 * Every ranged read is checked against the batch's sha256 before decoding; whole-part reads
 * (verifyParts) check the part's sha256. Decoded batches are kept in a byte-bounded LRU cache
 * that can be shared by all readers of a process.
 */
import {
  BadInputError,
  CorruptDataError,
  NotFoundError,
  SeqtrainError,
  type BatchRef,
  type DatasetManifest,
  type SequenceBatch,
} from '@seqtrain/contracts';
import { sha256Hex, type BlobStore } from '@seqtrain/storage';
import { tableFromIPC } from 'apache-arrow';
import { decodeBatch, describeSchema } from './arrow-codec';
import { partKey } from './manifest';

function batchBytes(b: SequenceBatch): number {
  return b.x.data.byteLength + b.y.data.byteLength + (b.condition?.data.byteLength ?? 0);
}

/** Least-recently-used cache of decoded batches, bounded by their bytes. */
export class BatchCache {
  private readonly entries = new Map<string, SequenceBatch>();
  private used = 0;
  hits = 0;
  misses = 0;
  constructor(readonly maxBytes: number = 256 * 1024 * 1024) {}

  get(key: string): SequenceBatch | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      // Re-insert to mark as most recently used.
      this.entries.delete(key);
      this.entries.set(key, hit);
      this.hits++;
    } else this.misses++;
    return hit;
  }

  set(key: string, batch: SequenceBatch): void {
    const size = batchBytes(batch);
    if (size > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.used -= batchBytes(old);
      this.entries.delete(key);
    }
    this.entries.set(key, batch);
    this.used += size;
    for (const [k, v] of this.entries) {
      if (this.used <= this.maxBytes) break;
      this.entries.delete(k);
      this.used -= batchBytes(v);
    }
  }

  get bytes(): number {
    return this.used;
  }
  get size(): number {
    return this.entries.size;
  }
}

export interface ShardReaderOptions {
  cache?: BatchCache;
  /** ranged GETs in flight while streaming */
  prefetch?: number;
}

export class ShardReader {
  private readonly schemas = new Map<number, Promise<Uint8Array>>();
  readonly cache: BatchCache;
  private readonly prefetch: number;

  constructor(
    private readonly store: BlobStore,
    readonly manifest: DatasetManifest,
    options: ShardReaderOptions = {},
  ) {
    this.cache = options.cache ?? new BatchCache();
    this.prefetch = Math.max(1, options.prefetch ?? 4);
  }

  private where(part: number, batch?: number): string {
    const p = this.manifest.parts[part];
    const name = p ? partKey(this.manifest, p.key) : `part #${part}`;
    return `${this.store.describe}/${name}${batch !== undefined ? ` record batch ${batch}` : ''}`;
  }

  private async range(part: number, offset: number, length: number, what: string): Promise<Uint8Array> {
    const p = this.manifest.parts[part]!;
    let bytes: Uint8Array;
    try {
      bytes = await this.store.getRange(partKey(this.manifest, p.key), {
        start: offset,
        end: offset + length - 1,
      });
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new CorruptDataError(`${what}: the part is missing from the store`, { cause: err });
      // A range past the end means the stored part is shorter than the manifest says.
      if (err instanceof BadInputError)
        throw new CorruptDataError(
          `${what}: the part is truncated (bytes ${offset}-${offset + length - 1} not available)`,
          { cause: err },
        );
      throw err;
    }
    if (bytes.length !== length) {
      throw new CorruptDataError(
        `${what}: the part is truncated (expected ${length} bytes at offset ${offset}, got ${bytes.length})`,
      );
    }
    return bytes;
  }

  private schemaMessage(part: number): Promise<Uint8Array> {
    let pending = this.schemas.get(part);
    if (!pending) {
      const p = this.manifest.parts[part]!;
      const where = `${this.where(part)} schema`;
      pending = this.range(part, p.schema.offset, p.schema.length, where).then((bytes) => {
        const eos = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let fields: string;
        try {
          const stream = new Uint8Array(bytes.length + 8);
          stream.set(bytes);
          stream.set(eos, bytes.length);
          fields = JSON.stringify(describeSchema(tableFromIPC(stream).schema));
        } catch (err) {
          throw new CorruptDataError(
            `${where}: not a decodable Arrow schema message: ${(err as Error).message}`,
            { cause: err },
          );
        }
        if (fields !== JSON.stringify(this.manifest.arrowSchema)) {
          throw new CorruptDataError(
            `${where}: the part's schema ${fields} differs from the manifest's ${JSON.stringify(this.manifest.arrowSchema)}`,
          );
        }
        return bytes;
      });
      // Failed reads must not poison the cache: the next call retries.
      pending.catch(() => this.schemas.delete(part));
      this.schemas.set(part, pending);
    }
    return pending;
  }

  private checkRef(ref: BatchRef): void {
    const p = this.manifest.parts[ref.part];
    if (!p || !p.batches[ref.batch]) {
      throw new BadInputError(
        `dataset ${this.manifest.name}@${this.manifest.digest.slice(0, 12)} has no record batch ${ref.batch} in part ${ref.part}`,
      );
    }
  }

  /** One record batch, from the cache or by one ranged GET (plus the part's schema once). */
  async readBatch(ref: BatchRef): Promise<SequenceBatch> {
    this.checkRef(ref);
    const key = `${this.manifest.digest}/${ref.part}/${ref.batch}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const entry = this.manifest.parts[ref.part]!.batches[ref.batch]!;
    const where = this.where(ref.part, ref.batch);
    const [schema, message] = await Promise.all([
      this.schemaMessage(ref.part),
      this.range(ref.part, entry.offset, entry.metadataLength + entry.bodyLength, where),
    ]);
    const actual = sha256Hex(message);
    if (actual !== entry.sha256)
      throw new CorruptDataError(
        `${where}: sha256 mismatch (stored bytes hash to ${actual}, manifest says ${entry.sha256})`,
      );
    const batch = decodeBatch(schema, message, this.manifest.signature, where);
    if (batch.rows !== entry.rows)
      throw new CorruptDataError(`${where}: ${batch.rows} rows, manifest says ${entry.rows}`);
    this.cache.set(key, batch);
    return batch;
  }

  /** Streams the batches in the given order, keeping up to `prefetch` reads in flight. */
  async *read(refs: readonly BatchRef[]): AsyncGenerator<SequenceBatch> {
    refs.forEach((r) => this.checkRef(r));
    const inflight: Promise<SequenceBatch>[] = [];
    let next = 0;
    const fill = (): void => {
      while (inflight.length < this.prefetch && next < refs.length) {
        const p = this.readBatch(refs[next++]!);
        // Errors surface when the batch is awaited; this only avoids an unhandled rejection.
        p.catch(() => undefined);
        inflight.push(p);
      }
    };
    fill();
    while (inflight.length > 0) {
      const batch = await inflight.shift()!;
      fill();
      yield batch;
    }
  }

  /** Downloads every part whole and checks its sha256 (and size). */
  async verifyParts(): Promise<void> {
    for (let i = 0; i < this.manifest.parts.length; i++) {
      const p = this.manifest.parts[i]!;
      let bytes: Uint8Array;
      try {
        bytes = await this.store.get(partKey(this.manifest, p.key));
      } catch (err) {
        if (err instanceof NotFoundError)
          throw new CorruptDataError(`${this.where(i)}: the part is missing from the store`, { cause: err });
        throw err instanceof SeqtrainError ? err : new SeqtrainError(String(err), { cause: err });
      }
      if (bytes.length !== p.bytes)
        throw new CorruptDataError(
          `${this.where(i)}: ${bytes.length} bytes, manifest says ${p.bytes} (truncated or replaced)`,
        );
      const actual = sha256Hex(bytes);
      if (actual !== p.sha256)
        throw new CorruptDataError(
          `${this.where(i)}: sha256 mismatch (stored bytes hash to ${actual}, manifest says ${p.sha256})`,
        );
    }
  }
}

/** Concatenates batches (e.g. a whole validation split) into one. */
export function concatBatches(batches: readonly SequenceBatch[]): SequenceBatch {
  const first = batches[0];
  if (!first) throw new BadInputError('concatBatches needs at least one batch');
  const rows = batches.reduce((n, b) => n + b.rows, 0);
  const join = <T extends Float32Array | Int32Array>(parts: T[]): T => {
    const out = new (parts[0]!.constructor as new (n: number) => T)(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const out: SequenceBatch = {
    rows,
    x: { data: join(batches.map((b) => b.x.data)), shape: [rows, ...first.x.shape.slice(1)] },
    y: { data: join(batches.map((b) => b.y.data)), shape: [rows, ...first.y.shape.slice(1)] },
  };
  if (first.condition) out.condition = { data: join(batches.map((b) => b.condition!.data)), shape: [rows] };
  return out;
}
