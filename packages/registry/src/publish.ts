/**
 * The writing half of the registry: publishing a version and appending an alias event. Only the
 * serialisation point (the registry entity workflow through its activities, or the in-process
 * coordinator) calls these, always with a version / sequence number it has already allocated.
 */
import {
  AliasEventSchema,
  CorruptDataError,
  emptyRegistryState,
  ModelCardInputSchema,
  ModelCardSchema,
  NotFoundError,
  TransientError,
  type AliasEvent,
  type ModelCard,
  type ModelCardInput,
  type ModelFile,
  type RegistryState,
} from '@seqtrain/contracts';
import { BlobExistsError, sha256Hex, type BlobStore } from '@seqtrain/storage';
import { weightPathsOf } from './artifacts';
import { aliasEventKey, CARD_FILE, MODEL_JSON, modelPrefix, parseCardKey, versionPrefix } from './layout';

export interface PublishVersionInput {
  name: string;
  version: number;
  runKey: string;
  /** Prefix holding model.json and its weight files. */
  sourcePrefix: string;
  card: ModelCardInput;
  /** ISO time recorded in the card. */
  createdAt: string;
}

export interface PublishOptions {
  /** Use If-None-Match: * on card.json and alias events as a second guard (default true). */
  conditionalWrites?: boolean;
  /**
   * Epoch ms after which publishVersion starts no further write (TransientError instead): the
   * caller's time is up and another publish of this version may follow.
   */
  deadlineMs?: number;
}

const encoder = new TextEncoder();

export function normalisePrefix(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

async function readJson(store: BlobStore, key: string): Promise<unknown> {
  const bytes = await store.get(key);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new CorruptDataError(`${store.describe}/${key} is not valid JSON`, { cause: err });
  }
}

export async function readCard(
  store: BlobStore,
  name: string,
  version: number,
): Promise<ModelCard | undefined> {
  const key = `${versionPrefix(name, version)}${CARD_FILE}`;
  let raw: unknown;
  try {
    raw = await readJson(store, key);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
  const parsed = ModelCardSchema.safeParse(raw);
  if (!parsed.success)
    throw new CorruptDataError(`${store.describe}/${key} is not a valid model card: ${parsed.error.message}`);
  return parsed.data;
}

function sameRunOrThrow(card: ModelCard, input: PublishVersionInput, where: string): ModelCard {
  if (card.runKey === input.runKey) return card;
  throw new CorruptDataError(
    `${where}: version ${input.version} already belongs to run ${JSON.stringify(card.runKey)}, not ${JSON.stringify(input.runKey)}`,
  );
}

/**
 * Copies the model into `registry/<name>/versions/<n>/` and writes card.json last: a reader that
 * sees the card sees every file. Idempotent for the same runKey (retries, replays).
 */
export async function publishVersion(
  store: BlobStore,
  input: PublishVersionInput,
  options: PublishOptions = {},
): Promise<ModelCard> {
  const prefix = versionPrefix(input.name, input.version);
  const where = `${store.describe}/${prefix}`;
  const existing = await readCard(store, input.name, input.version);
  if (existing) return sameRunOrThrow(existing, input, where);

  const cardInput = ModelCardInputSchema.parse(input.card);
  const source = normalisePrefix(input.sourcePrefix);
  const modelJson = await store.get(`${source}${MODEL_JSON}`);
  const paths = weightPathsOf(modelJson, `${store.describe}/${source}${MODEL_JSON}`);
  const files: ModelFile[] = [];
  const inTime = (next: string): void => {
    if (options.deadlineMs !== undefined && Date.now() > options.deadlineMs)
      throw new TransientError(
        `${where}: out of time, stopped before writing ${next} (a later publish of version ${input.version} must not race with this one)`,
      );
  };
  for (const path of paths) {
    const bytes = await store.get(`${source}${path}`);
    inTime(path);
    await store.put(`${prefix}${path}`, bytes, { contentType: 'application/octet-stream' });
    files.push({ name: path, size: bytes.byteLength, sha256: sha256Hex(bytes) });
  }
  inTime(MODEL_JSON);
  await store.put(`${prefix}${MODEL_JSON}`, modelJson, { contentType: 'application/json' });
  files.push({ name: MODEL_JSON, size: modelJson.byteLength, sha256: sha256Hex(modelJson) });

  // A writer that crashed before its card (in-process mode reuses the number) may have left files
  // that this version does not have; remove them so the directory is exactly the card's files.
  const keep = new Set(files.map((f) => `${prefix}${f.name}`));
  const stale = (await store.list(prefix))
    .map((b) => b.key)
    .filter((k) => !keep.has(k) && !k.endsWith(`/${CARD_FILE}`));
  if (stale.length > 0) await store.deleteMany(stale);

  const card = ModelCardSchema.parse({
    ...cardInput,
    name: input.name,
    version: input.version,
    runKey: input.runKey,
    createdAt: input.createdAt,
    files,
  });
  inTime(CARD_FILE);
  try {
    await store.put(`${prefix}${CARD_FILE}`, JSON.stringify(card, null, 2), {
      contentType: 'application/json',
      ifNoneMatch: options.conditionalWrites ?? true,
    });
  } catch (err) {
    if (!(err instanceof BlobExistsError)) throw err;
    const winner = await readCard(store, input.name, input.version);
    if (!winner) throw err;
    return sameRunOrThrow(winner, input, where);
  }
  return card;
}

/** Writes one alias event object; refuses to point an alias at an incomplete version. */
export async function writeAliasEvent(
  store: BlobStore,
  event: AliasEvent,
  options: PublishOptions = {},
): Promise<AliasEvent> {
  const parsed = AliasEventSchema.parse(event);
  if (!(await store.head(`${versionPrefix(parsed.model, parsed.to)}${CARD_FILE}`))) {
    throw new NotFoundError(
      `version ${parsed.to} of model ${parsed.model} does not exist or is not complete`,
    );
  }
  const key = aliasEventKey(parsed.model, parsed.alias, parsed.seq);
  try {
    await store.put(key, encoder.encode(JSON.stringify(parsed)), {
      contentType: 'application/json',
      ifNoneMatch: options.conditionalWrites ?? true,
    });
  } catch (err) {
    if (!(err instanceof BlobExistsError)) throw err;
    // A retried write of the same event is fine; a different event under the same number is not.
    const stored = AliasEventSchema.parse(await readJson(store, key));
    if (JSON.stringify(stored) !== JSON.stringify(parsed)) {
      throw new CorruptDataError(`${store.describe}/${key} already holds a different alias event`);
    }
  }
  return parsed;
}

/** Rebuilds the serialisation point's state from the store (first start, or after a reset). */
export async function loadRegistryState(store: BlobStore, name: string): Promise<RegistryState> {
  const state = emptyRegistryState(name);
  const prefix = modelPrefix(name);
  const keys = (await store.list(prefix)).map((b) => b.key);
  const lastEvent = new Map<string, string>();
  for (const key of keys) {
    const card = parseCardKey(key);
    if (card) {
      const c = await readCard(store, name, card.version);
      if (c) {
        state.runs[c.runKey] = c.version;
        state.lastVersion = Math.max(state.lastVersion, c.version);
      }
      continue;
    }
    const m = /^registry\/[^/]+\/aliases\/([^/]+)\/events\/\d{12}\.json$/.exec(
      key.startsWith(prefix) ? key : '',
    );
    if (m?.[1]) {
      const prev = lastEvent.get(m[1]);
      if (prev === undefined || key > prev) lastEvent.set(m[1], key);
    }
  }
  for (const [alias, key] of lastEvent) {
    const e = AliasEventSchema.parse(await readJson(store, key));
    state.aliases[alias] = { seq: e.seq, version: e.to, previous: e.from, at: e.at };
  }
  return state;
}
