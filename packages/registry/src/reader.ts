/**
 * The reading half of the registry. A version exists for readers only once its card.json exists
 * (the card is written last), so a half-published version is never listed, resolved or served.
 */
import {
  AliasEventSchema,
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
import type { BlobStore } from '@seqtrain/storage';
import { sha256Hex } from './artifacts';
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

export class RegistryReader {
  /** Cards never change once written, so they are cached for the life of the reader. */
  private readonly cards = new Map<string, ModelCard>();

  constructor(readonly store: BlobStore) {}

  async listModels(): Promise<ModelSummary[]> {
    const byName = new Map<string, number[]>();
    for (const { key } of await this.store.list(`${REGISTRY_ROOT}/`)) {
      const c = parseCardKey(key);
      if (c) byName.set(c.name, [...(byName.get(c.name) ?? []), c.version]);
    }
    return [...byName.entries()]
      .map(([name, vs]) => ({ name, versions: vs.length, latest: Math.max(...vs) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Complete versions, ascending. */
  async listVersions(name: string): Promise<number[]> {
    const prefix = `${modelPrefix(name)}versions/`;
    const out: number[] = [];
    for (const { key } of await this.store.list(prefix)) {
      const c = parseCardKey(key);
      if (c) out.push(c.version);
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

  /** Alias events in sequence order. */
  async aliasHistory(name: string, alias: string): Promise<AliasEvent[]> {
    const keys = (await this.store.list(aliasEventsPrefix(name, alias)))
      .map((b) => b.key)
      .filter((k) => k.endsWith('.json'));
    return Promise.all(keys.map((k) => this.readEvent(k)));
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
    const keys = (await this.store.list(aliasEventsPrefix(name, alias)))
      .map((b) => b.key)
      .filter((k) => k.endsWith('.json'));
    const last = keys.at(-1);
    if (last === undefined) return undefined;
    const e = await this.readEvent(last);
    return { alias: e.alias, version: e.to, seq: e.seq, at: e.at };
  }

  async aliases(name: string): Promise<AliasPointer[]> {
    const prefix = `${modelPrefix(name)}aliases/`;
    const names = new Set<string>();
    for (const { key } of await this.store.list(prefix)) {
      const alias = key.slice(prefix.length).split('/')[0];
      if (alias) names.add(alias);
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
    const cards = await Promise.all(versions.map((v) => this.getCard(name, v)));
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

  private async readEvent(key: string): Promise<AliasEvent> {
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
    return parsed.data;
  }
}
