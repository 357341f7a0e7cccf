/**
 * The reading half of the registry. A version exists for readers only once its card.json exists
 * (the card is written last), so a half-published version is never listed, resolved or served.
 */
import {
  AliasEventSchema,
  BoundedMap,
  mapLimit,
  BadInputError,
  assertAliasName,
  assertModelName,
  CorruptDataError,
  NotFoundError,
  parseModelRef,
  type AliasEvent,
  type ModelCard,
  type ModelRef,
} from '@seqtrain/contracts';
import { createHash } from 'node:crypto';
import { sha256Hex, type BlobStore } from '@seqtrain/storage';
import {
  aliasEventsPrefix,
  assertFileName,
  CARD_FILE,
  modelPrefix,
  parseCardKey,
  REGISTRY_ROOT,
  versionPrefix,
} from './layout';
import { readCard } from './publish';

export interface AliasPointer {
  alias: string;
  version: number;
  seq: number;
  at: string;
}

export interface ModelSummary {
  name: string;
  versions: number;
  latest: number;
}

export interface ModelDetails {
  name: string;
  versions: { version: number; createdAt: string; metrics: Record<string, number> }[];
  aliases: AliasPointer[];
}

export interface ResolvedModel {
  name: string;
  version: number;
  card: ModelCard;
  /** Set when resolved through an alias. */
  alias?: string;
}

/** How much a reader may keep: every cache is bounded by count, every fan-out by concurrency. */
export interface ReaderLimits {
  /** Parsed cards kept (immutable once written). Default 1024. */
  cards?: number;
  /** Parsed alias events kept (immutable once written). Default 4096. */
  events?: number;
  /** Aliases whose newest event key is remembered, so a lookup lists only newer events. Default 4096. */
  aliasHeads?: number;
  /** Version files whose bytes were checked against the card's sha256 (by key, size and ETag). Default 4096. */
  verifiedFiles?: number;
  /** Store reads in flight for one request. Default 8. */
  concurrency?: number;
  /** Files up to this size are read whole; larger ones are checked and served in chunks. Default 1 MiB. */
  chunkBytes?: number;
}

/** A version file ready to send: its length, its sha256, and its bytes in order, chunk by chunk. */
export interface VersionFileStream {
  size: number;
  sha256: string;
  chunks(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

export class RegistryReader {
  private readonly limits: Required<ReaderLimits>;
  private readonly cards: BoundedMap<string, ModelCard>;
  private readonly events: BoundedMap<string, AliasEvent>;
  private readonly aliasHeads: BoundedMap<string, string>;
  private readonly verified: BoundedMap<string, string>;

  constructor(
    readonly store: BlobStore,
    limits: ReaderLimits = {},
  ) {
    this.limits = {
      cards: 1024,
      events: 4096,
      aliasHeads: 4096,
      verifiedFiles: 4096,
      concurrency: 8,
      chunkBytes: 1024 * 1024,
      ...limits,
    };
    this.cards = new BoundedMap(this.limits.cards);
    this.events = new BoundedMap(this.limits.events);
    this.aliasHeads = new BoundedMap(this.limits.aliasHeads);
    this.verified = new BoundedMap(this.limits.verifiedFiles);
  }

  /** Entries held by each cache (for tests and `registry serve` diagnostics). */
  cacheSizes(): Record<'cards' | 'events' | 'aliasHeads' | 'verifiedFiles', number> {
    return {
      cards: this.cards.size,
      events: this.events.size,
      aliasHeads: this.aliasHeads.size,
      verifiedFiles: this.verified.size,
    };
  }

  async listModels(): Promise<ModelSummary[]> {
    // Page by page, keeping only card keys: memory follows the number of models, not of objects.
    const byName = new Map<string, { versions: number; latest: number }>();
    for await (const page of this.store.listPages(`${REGISTRY_ROOT}/`)) {
      for (const { key } of page) {
        const c = parseCardKey(key);
        if (!c) continue;
        const s = byName.get(c.name) ?? { versions: 0, latest: 0 };
        byName.set(c.name, { versions: s.versions + 1, latest: Math.max(s.latest, c.version) });
      }
    }
    return [...byName.entries()]
      .map(([name, s]) => ({ name, ...s }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Complete versions, ascending. */
  async listVersions(name: string): Promise<number[]> {
    const prefix = `${modelPrefix(name)}versions/`;
    const out: number[] = [];
    for await (const page of this.store.listPages(prefix)) {
      for (const { key } of page) {
        const c = parseCardKey(key);
        if (c) out.push(c.version);
      }
    }
    return out.sort((a, b) => a - b);
  }

  async getCard(name: string, version: number): Promise<ModelCard> {
    assertModelName(name);
    const cacheKey = `${name}@${version}`;
    const cached = this.cards.get(cacheKey);
    if (cached) return cached;
    const card = await readCard(this.store, name, version);
    if (!card) throw new NotFoundError(`model ${name} has no version ${version}`);
    this.cards.set(cacheKey, card);
    return card;
  }

  /** Alias events in sequence order (read at most `concurrency` at a time). */
  async aliasHistory(name: string, alias: string): Promise<AliasEvent[]> {
    const keys: string[] = [];
    for await (const page of this.store.listPages(aliasEventsPrefix(name, alias)))
      for (const { key } of page) if (key.endsWith('.json')) keys.push(key);
    return mapLimit(keys, this.limits.concurrency, (k) => this.readEvent(k));
  }

  /** The version an alias pointed to at time `at` (events at exactly `at` count), or null. */
  async aliasAt(name: string, alias: string, at: Date): Promise<number | null> {
    if (Number.isNaN(at.getTime())) throw new BadInputError(`alias lookup time is not a valid date`);
    let version: number | null = null;
    for (const e of await this.aliasHistory(name, alias)) {
      if (Date.parse(e.at) <= at.getTime()) version = e.to;
    }
    return version;
  }

  async currentAlias(name: string, alias: string): Promise<AliasPointer | undefined> {
    // Events are written once each, in sequence order (zero-padded keys), and never deleted: the
    // newest key seen so far stays valid, and only keys after it need listing.
    const prefix = aliasEventsPrefix(name, alias);
    let last = this.aliasHeads.get(prefix);
    for await (const page of this.store.listPages(prefix, last === undefined ? {} : { startAfter: last }))
      for (const { key } of page) if (key.endsWith('.json')) last = key;
    if (last === undefined) return undefined;
    this.aliasHeads.set(prefix, last);
    const e = await this.readEvent(last);
    return { alias: e.alias, version: e.to, seq: e.seq, at: e.at };
  }

  async aliases(name: string): Promise<AliasPointer[]> {
    const prefix = `${modelPrefix(name)}aliases/`;
    const names = new Set<string>();
    for await (const page of this.store.listPages(prefix)) {
      for (const { key } of page) {
        const alias = key.slice(prefix.length).split('/')[0];
        if (alias) names.add(alias);
      }
    }
    const out: AliasPointer[] = [];
    for (const alias of [...names].sort()) {
      const p = await this.currentAlias(name, alias);
      if (p) out.push(p);
    }
    return out;
  }

  async describeModel(name: string): Promise<ModelDetails> {
    const versions = await this.listVersions(name);
    if (versions.length === 0) throw new NotFoundError(`model ${name} is not registered`);
    const cards = await mapLimit(versions, this.limits.concurrency, (v) => this.getCard(name, v));
    return {
      name,
      versions: cards.map((c) => ({ version: c.version, createdAt: c.createdAt, metrics: c.metrics })),
      aliases: await this.aliases(name),
    };
  }

  /** `name`, `name@3`, `name@production`, `name@latest` -> a complete version and its card. */
  async resolve(ref: string | ModelRef): Promise<ResolvedModel> {
    const r = typeof ref === 'string' ? parseModelRef(ref) : ref;
    switch (r.target.kind) {
      case 'version':
        return {
          name: r.name,
          version: r.target.version,
          card: await this.getCard(r.name, r.target.version),
        };
      case 'latest': {
        const latest = (await this.listVersions(r.name)).at(-1);
        if (latest === undefined) throw new NotFoundError(`model ${r.name} is not registered`);
        return { name: r.name, version: latest, card: await this.getCard(r.name, latest) };
      }
      case 'alias': {
        const p = await this.currentAlias(r.name, assertAliasName(r.target.alias));
        if (!p) throw new NotFoundError(`model ${r.name} has no alias ${r.target.alias}`);
        return {
          name: r.name,
          version: p.version,
          card: await this.getCard(r.name, p.version),
          alias: p.alias,
        };
      }
    }
  }

  /** A file of a complete version, checked against the card's sha256. */
  async readFile(
    name: string,
    version: number,
    file: string,
  ): Promise<{ bytes: Uint8Array; sha256: string }> {
    assertFileName(file);
    const card = await this.getCard(name, version);
    if (file === CARD_FILE) {
      const bytes = await this.store.get(`${versionPrefix(name, version)}${CARD_FILE}`);
      return { bytes, sha256: sha256Hex(bytes) };
    }
    const entry = card.files.find((f) => f.name === file);
    if (!entry) throw new NotFoundError(`model ${name} version ${version} has no file ${file}`);
    const bytes = await this.store.get(`${versionPrefix(name, version)}${file}`);
    if (sha256Hex(bytes) !== entry.sha256) {
      throw new CorruptDataError(
        `${this.store.describe}/${versionPrefix(name, version)}${file} does not match its card's sha256`,
      );
    }
    return { bytes, sha256: entry.sha256 };
  }

  /**
   * A version file for sending without holding it whole: small files are read and checked at once;
   * a larger one is checked against the card's sha256 chunk by chunk the first time (nothing is sent
   * from a file that does not match), remembered as checked by key, size and ETag, then streamed in
   * chunks, so a request holds one chunk however large the weights are.
   */
  async openFile(name: string, version: number, file: string): Promise<VersionFileStream> {
    assertFileName(file);
    const card = await this.getCard(name, version);
    const key = `${versionPrefix(name, version)}${file}`;
    const entry = file === CARD_FILE ? undefined : card.files.find((f) => f.name === file);
    if (file !== CARD_FILE && !entry)
      throw new NotFoundError(`model ${name} version ${version} has no file ${file}`);
    // The card knows every file's size: small ones (model.json, the card) cost one GET, no HEAD.
    if (!entry || entry.size <= this.limits.chunkBytes) {
      const { bytes, sha256 } = await this.readFile(name, version, file);
      return { size: bytes.byteLength, sha256, chunks: () => [bytes] };
    }
    const info = await this.store.head(key);
    if (!info) throw new NotFoundError(`${this.store.describe}/${key} is missing`);
    const expected = entry.sha256;
    const stamp = `${info.size}:${info.etag ?? info.lastModified?.toISOString() ?? ''}`;
    if (this.verified.get(key) !== stamp) {
      const hash = createHash('sha256');
      for await (const chunk of this.chunksOf(key, info.size)) hash.update(chunk);
      if (hash.digest('hex') !== expected) {
        throw new CorruptDataError(`${this.store.describe}/${key} does not match its card's sha256`);
      }
      this.verified.set(key, stamp);
    }
    return { size: info.size, sha256: expected, chunks: () => this.chunksOf(key, info.size) };
  }

  private async *chunksOf(key: string, size: number): AsyncIterable<Uint8Array> {
    const step = this.limits.chunkBytes;
    for (let start = 0; start < size; start += step) {
      const end = Math.min(size, start + step) - 1;
      const chunk = await this.store.getRange(key, { start, end });
      if (chunk.byteLength !== end - start + 1)
        throw new CorruptDataError(`${this.store.describe}/${key} changed size while being read`);
      yield chunk;
    }
  }

  private async readEvent(key: string): Promise<AliasEvent> {
    const cached = this.events.get(key);
    if (cached) return cached;
    const bytes = await this.store.get(key);
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new CorruptDataError(`${this.store.describe}/${key} is not valid JSON`, { cause: err });
    }
    const parsed = AliasEventSchema.safeParse(raw);
    if (!parsed.success)
      throw new CorruptDataError(`${this.store.describe}/${key} is not a valid alias event`);
    this.events.set(key, parsed.data);
    return parsed.data;
  }
}
