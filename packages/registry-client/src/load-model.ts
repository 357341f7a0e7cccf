/**
 * Loads a registered model over the registry HTTP API. A reference is resolved to an immutable
 * version first (one small request), then model.json and weights are fetched from that version,
 * so a promotion in between can never mix two models.
 */
import * as tf from '@tensorflow/tfjs';
import {
  BadInputError,
  ModelCardSchema,
  NotFoundError,
  parseModelRef,
  SeqtrainError,
  TransientError,
  type ModelCard,
} from '@seqtrain/contracts';

export interface RegistryClientOptions {
  /** e.g. http://registry.internal:8080 (no trailing /v1). */
  baseUrl: string;
  /** Bearer token with the read scope. */
  token?: string;
  fetch?: typeof globalThis.fetch;
}

export interface LoadedModel {
  model: tf.LayersModel;
  card: ModelCard;
  name: string;
  version: number;
}

function headers(o: RegistryClientOptions): Record<string, string> {
  return o.token ? { Authorization: `Bearer ${o.token}` } : {};
}

function base(o: RegistryClientOptions): string {
  return o.baseUrl.replace(/\/+$/, '');
}

async function getJson(url: string, o: RegistryClientOptions): Promise<unknown> {
  const res = await (o.fetch ?? globalThis.fetch)(url, { headers: headers(o) });
  if (res.ok) return res.json();
  const text = await res.text().catch(() => '');
  const detail = (() => {
    try {
      return (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
    } catch {
      return text;
    }
  })();
  const message = `GET ${url}: HTTP ${res.status}${detail ? `: ${detail}` : ''}`;
  if (res.status === 404) throw new NotFoundError(message);
  if (res.status === 400) throw new BadInputError(message);
  if (res.status >= 500 || res.status === 429) throw new TransientError(message);
  throw new SeqtrainError(message);
}

/** The card of `name@version`, `name@alias` or `name@latest` (a bare name means latest). */
export async function resolveModel(ref: string, o: RegistryClientOptions): Promise<ModelCard> {
  const r = parseModelRef(ref);
  const root = `${base(o)}/v1/models/${r.name}`;
  let url: string;
  switch (r.target.kind) {
    case 'version':
      url = `${root}/versions/${r.target.version}`;
      break;
    case 'alias':
      url = `${root}/aliases/${r.target.alias}`;
      break;
    case 'latest': {
      const model = (await getJson(root, o)) as { versions?: { version: number }[] };
      const latest = model.versions?.at(-1)?.version;
      if (latest === undefined) throw new NotFoundError(`model ${r.name} has no versions`);
      url = `${root}/versions/${latest}`;
      break;
    }
  }
  const parsed = ModelCardSchema.safeParse(await getJson(url, o));
  if (!parsed.success) throw new SeqtrainError(`GET ${url}: the response is not a model card`);
  return parsed.data;
}

/** `loadModel('weather@production', { baseUrl, token })` -> the LayersModel and its card. */
export async function loadModel(ref: string, o: RegistryClientOptions): Promise<LoadedModel> {
  const card = await resolveModel(ref, o);
  const url = `${base(o)}/v1/models/${card.name}/versions/${card.version}/model.json`;
  const model = await tf.loadLayersModel(url, {
    requestInit: { headers: headers(o) },
    ...(o.fetch ? { fetchFunc: o.fetch } : {}),
  });
  return { model, card, name: card.name, version: card.version };
}
