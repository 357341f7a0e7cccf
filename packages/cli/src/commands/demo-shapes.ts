/**
 * The four recurrent shapes of the demo, each on a real dataset shipped as a dev dependency:
 * imported to Arrow on S3, trained on the trainer group, registered and promoted, loaded back
 * from the registry over HTTP with tf.loadLayersModel, shown doing its job, and scored on its
 * held-out split against the naive baseline it has to beat (computed here from the same split).
 */
import { randomUUID } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import {
  DatasetSignatureSchema,
  decodeTokens,
  ORCHESTRATOR_QUEUE,
  parseTrainSpec,
  TRAIN_WORKFLOW_TYPE,
  type DatasetManifest,
  type DatasetSignature,
  type SequenceBatch,
  type TrainResult,
} from '@seqtrain/contracts';
import {
  concatBatches,
  importDataset,
  loadCsvSource,
  loadManifest,
  parseCsv,
  ShardReader,
} from '@seqtrain/dataset';
import type { ImportOptions } from '@seqtrain/dataset';
import { decodeIdsBatch, forecast, generate } from '@seqtrain/model';
import { ModelRegistry, TemporalCoordinator } from '@seqtrain/registry';
import type { BlobStore } from '@seqtrain/storage';
import type { trainModel } from '@seqtrain/workflows';
import type { CliContext } from '../context';
import { withClient } from '../temporal-client';
import { describeFailure, followRun } from './train';

export const SHAPES = ['weather', 'spam', 'names', 'pronunciation'] as const;
export type ShapeName = (typeof SHAPES)[number];

export interface ShapeReport {
  shape: ShapeName;
  kind: string;
  model: string;
  metric: string;
  value: number;
  baselineName: string;
  baseline: number;
  higherIsBetter: boolean;
  /** a second metric, shown in the summary */
  extra?: string;
}

export interface DemoContext {
  ctx: CliContext;
  store: BlobStore;
  log: (m: string) => void;
  /** registry server base URL and its read token */
  registryUrl: string;
  token: string;
  trainers: number;
  quick: boolean;
}

export const beats = (r: ShapeReport): boolean =>
  Number.isFinite(r.value) && (r.higherIsBetter ? r.value > r.baseline : r.value < r.baseline);

async function importShape(d: DemoContext, o: ImportOptions): Promise<{ name: string; digest: string }> {
  const imported = await importDataset(d.store, { cwd: d.ctx.cwd, log: () => undefined, ...o });
  d.log(
    `  ${imported.name}@${imported.digest.slice(0, 12)}: ${imported.trainRows} training and ${imported.valRows} validation examples, ${imported.bytes} bytes of Arrow on S3`,
  );
  return imported;
}

/** Trains on the group with the live progress bar, then promotes the version to production. */
async function trainAndPromote(d: DemoContext, specInput: Record<string, unknown>): Promise<TrainResult> {
  const spec = parseTrainSpec({ ...specInput, workers: Math.max(1, d.trainers) });
  const workflowId = `demo-${spec.name}-${randomUUID().slice(0, 8)}`;
  const result = await withClient(d.ctx, async (client) => {
    await client.workflow.start<typeof trainModel>(TRAIN_WORKFLOW_TYPE, {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [{ spec, codeVersion: 'demo', actor: 'demo' }],
    });
    d.log(
      `  run ${workflowId}: ${spec.model.cell.toUpperCase()}(${spec.model.units.join(', ')}) on ${spec.workers} trainers`,
    );
    return followRun(d.ctx, client, workflowId, true);
  }).catch((err: unknown) => {
    throw new Error(`training ${spec.name} failed: ${describeFailure(err)}`, { cause: err });
  });
  if (!result.model) throw new Error(`the ${spec.name} run registered no model`);
  const model = result.model;
  await withClient(d.ctx, async (client) => {
    const registry = new ModelRegistry(d.store, new TemporalCoordinator(client));
    const e = await registry.promote(model.name, 'production', model.version, {
      reason: 'demo',
      actor: 'demo',
      workflowId,
    });
    d.log(`  registered ${model.name}@${model.version}; production: ${e.from ?? 'none'} -> ${e.to}`);
  });
  return result;
}

/** The production model and its dataset signature, fetched from the registry over HTTP. */
async function loadServed(
  d: DemoContext,
  name: string,
): Promise<{ model: tf.LayersModel; signature: DatasetSignature }> {
  const headers = { Authorization: `Bearer ${d.token}` };
  const base = `${d.registryUrl}/v1/models/${name}/aliases/production`;
  const model = await tf.loadLayersModel(`${base}/model.json`, { requestInit: { headers } });
  const res = await fetch(base, { headers });
  if (!res.ok) throw new Error(`GET ${base}: ${res.status}`);
  const card = (await res.json()) as { hyperparameters: { signature: unknown } };
  d.log(`  loaded ${base}/model.json with tf.loadLayersModel`);
  return { model, signature: DatasetSignatureSchema.parse(card.hyperparameters.signature) };
}

/** Import, train and promote, load back over HTTP, and read both splits: what every scored shape needs. */
async function pipeline(
  d: DemoContext,
  data: ImportOptions,
  spec: Record<string, unknown> & { name: string },
): Promise<{
  result: TrainResult;
  model: tf.LayersModel;
  signature: DatasetSignature;
  train: SequenceBatch;
  val: SequenceBatch;
}> {
  const imported = await importShape(d, data);
  const ref = `${imported.name}@${imported.digest}`;
  const result = await trainAndPromote(d, { ...spec, dataset: ref });
  const served = await loadServed(d, spec.name);
  const { train, val } = await splits(d.store, ref);
  return { result, ...served, train, val };
}

/** Both splits of a dataset, each as one batch. */
async function splits(
  store: BlobStore,
  ref: string,
): Promise<{ m: DatasetManifest; train: SequenceBatch; val: SequenceBatch }> {
  const m = await loadManifest(store, ref);
  const refs = (split: 'train' | 'val') =>
    m.parts.flatMap((p, part) =>
      p.batches.flatMap((b, batch) =>
        (b.split === 'train') === (split === 'train') ? [{ part, batch }] : [],
      ),
    );
  const reader = new ShardReader(store, m);
  const read = async (split: 'train' | 'val'): Promise<SequenceBatch> => {
    const out: SequenceBatch[] = [];
    for await (const b of reader.read(refs(split))) out.push(b);
    return concatBatches(out);
  };
  return { m, train: await read('train'), val: await read('val') };
}

/** Row r of a batch's inputs or targets (token ids). */
function rowOf(t: SequenceBatch['x'], r: number): Int32Array {
  const width = t.shape.slice(1).reduce((a, n) => a * n, 1);
  return (t.data as Int32Array).subarray(r * width, (r + 1) * width);
}

const fmt = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

// ---- many-to-one regression: Seattle weather ------------------------------------------------

export async function weatherShape(d: DemoContext): Promise<ShapeReport> {
  const FEATURES = ['temp_max', 'temp_min', 'precipitation', 'wind'];
  const WINDOW = 14;
  const source = 'npm:vega-datasets/seattle-weather.csv';
  const data = await importShape(d, {
    source,
    name: 'seattle-weather',
    kind: 'timeseries',
    timeColumn: 'date',
    valueColumns: FEATURES,
    targetColumn: 'temp_max',
    window: WINDOW,
    horizon: 1,
    normalize: 'last-value',
    valFraction: 0.15,
  });
  const result = await trainAndPromote(d, {
    name: 'weather-forecast',
    dataset: `${data.name}@${data.digest}`,
    task: 'regression',
    model: { cell: 'lstm', units: [32] },
    training: {
      optimizer: { name: 'adam', learningRate: 0.01 },
      batchSize: 32,
      epochs: d.quick ? 4 : 8,
      seed: 42,
    },
  });
  const { model, signature } = await loadServed(d, 'weather-forecast');
  const { file, text } = await loadCsvSource(source, d.ctx.cwd);
  const { rows, header } = parseCsv(text, file);
  const cols = FEATURES.map((c) => header.indexOf(c));
  const series = rows.map((r) => cols.map((k) => Number(r[k])));
  const windowRows = series.slice(-WINDOW - 1, -1);
  const last = windowRows.at(-1)!;
  // Scaled exactly as the training windows were (the model package's forecast, as predict uses).
  const predicted = forecast(model, signature, [windowRows])[0]![0]!;
  model.dispose();
  d.log(
    `  ${rows.at(-1)![header.indexOf('date')]}: forecast max ${predicted.toFixed(1)} °C, actual ${series.at(-1)![0]!.toFixed(1)} °C, the day before ${last[0]!.toFixed(1)} °C`,
  );
  return {
    shape: 'weather',
    kind: 'many-to-one regression',
    model: `weather-forecast@${result.model!.version}`,
    metric: 'val MAE °C',
    value: result.metrics.val_mae_units ?? NaN,
    baselineName: 'persistence',
    baseline: result.metrics.val_persistence_mae_units ?? NaN,
    higherIsBetter: false,
  };
}

// ---- many-to-one classification: SpamAssassin -----------------------------------------------

export async function spamShape(d: DemoContext): Promise<ShapeReport> {
  const { result, model, signature, train, val } = await pipeline(
    d,
    {
      source: 'npm:spam-assassin',
      name: 'spam-assassin',
      kind: 'text-class',
      tokenizer: 'word',
      maxLength: 64,
      maxVocab: 8000,
      valFraction: 0.2,
      seed: 1,
      ...(d.quick ? { limit: 2500 } : {}),
    },
    {
      name: 'spam-filter',
      task: 'classification',
      model: { cell: 'gru', units: [32], embedding: 32 },
      training: {
        optimizer: { name: 'adam', learningRate: 0.005 },
        batchSize: 32,
        epochs: d.quick ? 3 : 6,
        seed: 7,
      },
    },
  );
  const classes = signature.classes ?? [];
  const spam = classes.indexOf('spam');
  // The served model's verdicts on every held-out mail.
  const L = signature.x.shape[0]!;
  const predicted: number[] = [];
  for (let from = 0; from < val.rows; from += 256) {
    const n = Math.min(256, val.rows - from);
    const ids = (val.x.data as Int32Array).subarray(from * L, (from + n) * L);
    const p = tf.tidy(
      () =>
        tf.argMax(model.predict(tf.tensor(ids, [n, L], 'int32')) as tf.Tensor, -1).arraySync() as number[],
    );
    predicted.push(...p);
  }
  model.dispose();
  const truth = Array.from(val.y.data as Int32Array);
  const counts = new Map<number, number>();
  for (const y of train.y.data as Int32Array) counts.set(y, (counts.get(y) ?? 0) + 1);
  const majority = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  const score = (pred: (i: number) => number): { accuracy: number; f1: number } => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let hit = 0;
    truth.forEach((y, i) => {
      const p = pred(i);
      if (p === y) hit++;
      if (p === spam && y === spam) tp++;
      else if (p === spam) fp++;
      else if (y === spam) fn++;
    });
    return { accuracy: hit / truth.length, f1: tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn) };
  };
  const m = score((i) => predicted[i]!);
  const b = score(() => majority);
  for (const i of [0, 1, 2, 3, 4, 5].map((k) => Math.floor((k * val.rows) / 6))) {
    const words = decodeTokens(signature.vocab!, rowOf(val.x, i)).split(' ').slice(0, 12).join(' ');
    d.log(
      `  "${words}…" -> ${classes[predicted[i]!]} (${classes[truth[i]!] === classes[predicted[i]!] ? 'right' : `wrong, it is ${classes[truth[i]!]}`})`,
    );
  }
  d.log(
    `  held-out mails: accuracy ${fmt(m.accuracy)}, F1 ${fmt(m.f1)}; majority class "${classes[majority]}": accuracy ${fmt(b.accuracy)}, F1 ${fmt(b.f1)}`,
  );
  return {
    shape: 'spam',
    kind: 'many-to-one classification',
    model: `spam-filter@${result.model!.version}`,
    metric: 'val accuracy',
    value: m.accuracy,
    baselineName: 'majority class',
    baseline: b.accuracy,
    higherIsBetter: true,
    extra: `F1 ${fmt(m.f1)} vs ${fmt(b.f1)}`,
  };
}

// ---- one-to-many generation: first names ----------------------------------------------------

/** Unigram perplexity of the held-out target tokens (padding excluded), add-one smoothed. */
function unigramPerplexity(train: SequenceBatch, val: SequenceBatch, vocabSize: number): number {
  const counts = new Float64Array(vocabSize);
  let total = 0;
  const each = (b: SequenceBatch, f: (id: number) => void): void => {
    const y = b.y.data as Int32Array;
    for (let i = 0; i < y.length; i++) if (y[i]! !== 0) f(y[i]!);
  };
  each(train, (id) => {
    counts[id]! += 1;
    total++;
  });
  let nll = 0;
  let n = 0;
  each(val, (id) => {
    nll -= Math.log((counts[id]! + 1) / (total + vocabSize));
    n++;
  });
  return Math.exp(nll / n);
}

export async function namesShape(d: DemoContext): Promise<ShapeReport> {
  const { result, model, signature, train, val } = await pipeline(
    d,
    {
      source: 'npm:first-names',
      name: 'first-names',
      kind: 'sequence',
      tokenizer: 'char',
      valFraction: 0.1,
      seed: 3,
    },
    {
      name: 'name-generator',
      task: 'generation',
      model: { cell: 'lstm', units: [64], embedding: 16 },
      training: {
        optimizer: { name: 'adam', learningRate: 0.01 },
        batchSize: 64,
        epochs: d.quick ? 3 : 14,
        seed: 11,
      },
    },
  );
  for (const condition of signature.condition?.labels ?? [undefined]) {
    const names = generate(model, signature, {
      count: 6,
      temperature: 0.7,
      seed: 5,
      ...(condition !== undefined ? { condition } : {}),
    });
    d.log(`  ${condition ?? 'names'}: ${names.join(', ')}`);
  }
  model.dispose();
  const baseline = unigramPerplexity(train, val, signature.vocab!.tokens.length);
  return {
    shape: 'names',
    kind: 'one-to-many generation',
    model: `name-generator@${result.model!.version}`,
    metric: 'val perplexity / char',
    value: result.metrics.val_perplexity ?? NaN,
    baselineName: 'unigram',
    baseline,
    higherIsBetter: false,
  };
}

// ---- sequence-to-sequence: CMUdict pronunciation ---------------------------------------------

export async function pronunciationShape(d: DemoContext): Promise<ShapeReport> {
  const { result, model, signature, train, val } = await pipeline(
    d,
    {
      source: 'npm:cmudict',
      name: 'cmudict',
      kind: 'seq2seq',
      tokenizer: 'char',
      targetTokenizer: 'word',
      valFraction: 0.1,
      limit: d.quick ? 3000 : 30000,
      seed: 2,
    },
    {
      name: 'pronunciation',
      task: 'seq2seq',
      model: { cell: 'gru', units: [d.quick ? 96 : 128], embedding: 32 },
      training: {
        optimizer: { name: 'adam', learningRate: 0.005 },
        batchSize: 64,
        epochs: d.quick ? 4 : 20,
        seed: 13,
      },
    },
  );
  const T = signature.y.shape[0]!;
  const tv = signature.targetVocab!;
  // Per-position majority of the predicted tokens (y[1:]), from the training split.
  const byPos = Array.from({ length: T }, () => new Map<number, number>());
  for (let r = 0; r < train.rows; r++) {
    const y = rowOf(train.y, r);
    for (let j = 1; j < T; j++) if (y[j]! !== 0) byPos[j]!.set(y[j]!, (byPos[j]!.get(y[j]!) ?? 0) + 1);
  }
  const majority = byPos.map((m) => [...m.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0);
  let hit = 0;
  let count = 0;
  for (let r = 0; r < val.rows; r++) {
    const y = rowOf(val.y, r);
    for (let j = 1; j < T; j++)
      if (y[j]! !== 0) {
        count++;
        if (y[j] === majority[j]) hit++;
      }
  }
  const baselineTokens = hit / count;
  // Whole words: greedy decoding of held-out spellings, exact phoneme sequences.
  const n = Math.min(val.rows, d.quick ? 150 : 400);
  const sources = Array.from({ length: n }, (_, r) => Array.from(rowOf(val.x, r)).filter((id) => id !== 0));
  const decoded = decodeIdsBatch(model, signature, sources);
  model.dispose();
  const want = Array.from({ length: n }, (_, r) =>
    Array.from(rowOf(val.y, r)).filter((id) => id !== 0 && id !== tv.bos && id !== tv.eos),
  );
  const exact = decoded.filter((ids, r) => ids.join(' ') === want[r]!.join(' ')).length / n;
  const majorityWord = majority.slice(1).filter((id) => id !== 0 && id !== tv.eos);
  const baselineWords = want.filter((w) => w.join(' ') === majorityWord.join(' ')).length / n;
  for (let r = 0; r < Math.min(6, n); r++) {
    const word = decodeTokens(signature.vocab!, sources[r]!);
    d.log(
      `  ${word.padEnd(14)} -> ${decodeTokens(tv, decoded[r]!)}   (CMUdict: ${decodeTokens(tv, want[r]!)})`,
    );
  }
  d.log(
    `  ${n} held-out words: ${fmt(exact * 100, 1)} % exactly right (per-position majority: ${fmt(baselineWords * 100, 1)} %)`,
  );
  return {
    shape: 'pronunciation',
    kind: 'sequence-to-sequence',
    model: `pronunciation@${result.model!.version}`,
    metric: 'val token accuracy',
    value: result.metrics.val_tokenAccuracy ?? NaN,
    baselineName: 'per-position majority',
    baseline: baselineTokens,
    higherIsBetter: true,
    extra: `word accuracy ${fmt(exact)} vs ${fmt(baselineWords)}`,
  };
}

export function summaryTable(reports: readonly ShapeReport[]): string {
  const rows = reports.map((r) => [
    r.kind,
    r.model,
    r.metric,
    fmt(r.value),
    `${fmt(r.baseline)} (${r.baselineName})`,
    beats(r) ? 'beats its baseline' : 'did NOT beat its baseline',
    r.extra ?? '',
  ]);
  const head = ['shape', 'model', 'metric', 'model', 'baseline', 'verdict', ''];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), line(width.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
