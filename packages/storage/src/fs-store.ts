/**
 * Filesystem adapter: one file per key under a root directory. Writes go to a temporary file
 * and are renamed into place, so a reader never sees half an object.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BadInputError, NotFoundError, PermissionError, SeqtrainError } from '@seqtrain/contracts';
import type { BlobInfo, BlobStore, ByteRange, ListOptions, PutOptions } from './blob-store';
import { assertValidKey, assertValidRange, toBytes } from './keys';

const TMP_DIR = '.tmp-uploads';

export class BlobExistsError extends SeqtrainError {
  override readonly name = 'BlobExistsError';
}

export class FsBlobStore implements BlobStore {
  readonly describe: string;
  constructor(private readonly root: string) {
    this.describe = `file://${path.resolve(root)}`;
  }

  private file(key: string): string {
    assertValidKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<BlobInfo> {
    const target = this.file(key);
    const bytes = toBytes(body);
    const tmpDir = path.join(this.root, TMP_DIR);
    await fsp.mkdir(tmpDir, { recursive: true });
    await fsp.mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(tmpDir, randomUUID());
    await fsp.writeFile(tmp, bytes);
    try {
      if (options.ifNoneMatch) {
        // link() fails with EEXIST atomically, unlike rename().
        try {
          await fsp.link(tmp, target);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST')
            throw new BlobExistsError(`${this.describe}/${key} already exists`);
          throw err;
        }
      } else {
        await fsp.rename(tmp, target);
      }
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    return { key, size: bytes.byteLength, etag: createHash('md5').update(bytes).digest('hex') };
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await fsp.readFile(this.file(key)));
    } catch (err) {
      throw this.mapError(key, err);
    }
  }

  async getRange(key: string, { start, end }: ByteRange): Promise<Uint8Array> {
    assertValidRange(key, start, end);
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(this.file(key), 'r');
      const { size } = await handle.stat();
      if (start >= size)
        throw new BadInputError(
          `byte range [${start}, ${end}] is outside ${this.describe}/${key} (${size} bytes)`,
        );
      const length = Math.min(end, size - 1) - start + 1;
      const out = new Uint8Array(length);
      const { bytesRead } = await handle.read(out, 0, length, start);
      return out.subarray(0, bytesRead);
    } catch (err) {
      throw this.mapError(key, err);
    } finally {
      await handle?.close();
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      const st = await fsp.stat(this.file(key));
      return st.isFile() ? { key, size: st.size, lastModified: st.mtime } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.mapError(key, err);
    }
  }

  async list(prefix: string): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const childRel = rel ? `${rel}/${e.name}` : e.name;
        if (!rel && e.name === TMP_DIR) continue;
        if (e.isDirectory()) await walk(path.join(dir, e.name), childRel);
        else if (e.isFile() && childRel.startsWith(prefix)) {
          const st = await fsp.stat(path.join(dir, e.name));
          out.push({ key: childRel, size: st.size, lastModified: st.mtime });
        }
      }
    };
    // Walk only the directory that can contain the prefix.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(dirPart ? path.join(this.root, ...dirPart.split('/')) : this.root, dirPart);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The filesystem adapter walks the directory once and hands the sorted result out in pages. */
  async *listPages(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo[]> {
    const after = options.startAfter;
    const all = (await this.list(prefix)).filter((b) => after === undefined || b.key > after);
    const size = options.pageSize ?? 1000;
    for (let i = 0; i < all.length; i += size) yield all.slice(i, i + size);
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.file(key), { force: true });
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const k of keys) await this.delete(k);
  }

  private mapError(key: string, err: unknown): Error {
    if (err instanceof BadInputError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR')
      return new NotFoundError(`${this.describe}/${key} does not exist`, { cause: err });
    if (code === 'EACCES' || code === 'EPERM')
      return new PermissionError(`${this.describe}/${key}: permission denied`, { cause: err });
    return new SeqtrainError(`${this.describe}/${key}: ${(err as Error).message}`, { cause: err });
  }
}
