/**
 * Inference on the served model (outputs probabilities for token tasks, values for regression),
 * mapping through the dataset signature: forecasts back to original units, sampling/greedy name
 * generation, and greedy or beam-search decoding for seq2seq (all sources in one batch per step). Generators and decoders re-run the
 * full (causal) model on the growing prefix: O(length^2), fine for the short sequences here, and
 * it needs no separate step model, so it works on any model loaded from model.json.
 */
import * as tf from '@tensorflow/tfjs';
import { BadInputError, decodeTokens, encodeText, encodeWindow } from '@seqtrain/contracts';
import type { DatasetSignature, Vocabulary } from '@seqtrain/contracts';
import { createRng } from './seeded';
import { runGraph } from './run-graph';

/** One forward pass in inference mode, each layer once (see run-graph.ts; not `model.predict`). */
function forward(model: tf.LayersModel, x: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return runGraph(model, x, false) as tf.Tensor;
}

/**
 * Raw windows (rows in original units: arrays in featureColumns order, or records keyed by
 * column) -> forecasts in original units, scaled by the same `encodeWindow` as every other
 * inference path. zscore: value = y * targetStd + targetMean. last-value: value = anchor +
 * y * targetStd, where the anchor is the target column's value at the window's last step.
 */
export function forecast(
  model: tf.LayersModel,
  signature: DatasetSignature,
  windows: readonly unknown[],
): number[][] {
  const norm = signature.normalization;
  if (!norm) throw new BadInputError('signature.normalization: missing; forecast needs it to map values');
  const [W, F] = signature.x.shape as [number, number];
  const x = new Float32Array(windows.length * W * F);
  const anchors = windows.map((w, i) => {
    const e = encodeWindow(signature, w, i);
    x.set(e.x, i * W * F);
    return e.anchor;
  });
  const y = tf.tidy(() => forward(model, tf.tensor(x, [windows.length, W, F])).arraySync() as number[][]);
  return y.map((row, i) =>
    row.map((v) =>
      norm.mode === 'zscore' ? v * norm.targetStd + norm.targetMean : anchors[i]! + v * norm.targetStd,
    ),
  );
}

/** Token ids of an input text, exactly as dataset import encoded the training texts. */
export function tokenize(vocab: Vocabulary, text: string): number[] {
  return encodeText(vocab, text);
}

/** Text of generated ids (stops at '<eos>'). */
export function detokenize(vocab: Vocabulary, ids: readonly number[]): string {
  return decodeTokens(vocab, ids);
}

function padded(ids: readonly number[], length: number): number[] {
  const out = ids.slice(0, length);
  while (out.length < length) out.push(0);
  return out;
}

/** Text-class: class probabilities per text. */
export function classify(
  model: tf.LayersModel,
  signature: DatasetSignature,
  texts: string[],
): { label: string; probabilities: number[] }[] {
  const L = signature.x.shape[0]!;
  const x = texts.map((t) => padded(tokenize(signature.vocab!, t), L));
  const p = tf.tidy(() => forward(model, tf.tensor(x, [texts.length, L], 'int32')).arraySync() as number[][]);
  return p.map((probabilities) => ({
    label: signature.classes![probabilities.indexOf(Math.max(...probabilities))] ?? '',
    probabilities,
  }));
}

export interface GenerateOptions {
  count: number;
  /** index into signature.condition.labels, or the label itself */
  condition?: number | string;
  /** 0 = greedy; otherwise sample from softmax(log p / temperature) */
  temperature?: number;
  seed?: number;
}

/** One-to-many: generate sequences (e.g. names) token by token until EOS or the maximum length. */
export function generate(
  model: tf.LayersModel,
  signature: DatasetSignature,
  options: GenerateOptions,
): string[] {
  const vocab = signature.vocab!;
  const L = signature.x.shape[0]!;
  const bos = vocab.bos ?? 0;
  const cond =
    typeof options.condition === 'string'
      ? (signature.condition?.labels.indexOf(options.condition) ?? -1)
      : (options.condition ?? 0);
  if (signature.condition && (cond < 0 || cond >= signature.condition.numValues)) {
    throw new BadInputError(
      `condition=${JSON.stringify(options.condition)}: expected one of ${signature.condition.labels.join(', ')}`,
    );
  }
  const rng = createRng(options.seed ?? 0);
  const temperature = options.temperature ?? 0;
  const seqs = Array.from({ length: options.count }, () => [bos]);
  const done = new Array<boolean>(options.count).fill(false);
  for (let t = 0; t < L && done.includes(false); t++) {
    const probs = tf.tidy(() => {
      const x = tf.tensor(
        seqs.map((s) => padded(s, L)),
        [options.count, L],
        'int32',
      );
      const inputs = signature.condition ? [x, tf.fill([options.count, 1], cond, 'int32')] : x;
      return tf
        .slice(forward(model, inputs), [0, t, 0], [options.count, 1, -1])
        .reshape([options.count, -1])
        .arraySync() as number[][];
    });
    probs.forEach((p, i) => {
      if (done[i]) return;
      p[0] = 0; // never emit padding
      let next = p.indexOf(Math.max(...p));
      if (temperature > 0) {
        const w = p.map((v) => Math.pow(Math.max(v, 1e-30), 1 / temperature));
        let r = rng.next() * w.reduce((a, b) => a + b, 0);
        next = w.findIndex((v) => (r -= v) <= 0);
        if (next < 0) next = w.length - 1;
      }
      if (next === vocab.eos) done[i] = true;
      else seqs[i]!.push(next);
    });
  }
  return seqs.map((s) => detokenize(vocab, s));
}

export interface DecodeOptions {
  /** 1 = greedy */
  beamWidth?: number;
}

interface Beam {
  ids: number[];
  logp: number;
  done: boolean;
}

/** Rows per forward pass when decoding many sources at once (bounds tensor memory). */
const DECODE_BATCH_ROWS = 512;

/**
 * Seq2seq: greedy (beamWidth 1) or beam-search decoding of many sources at once; returns each
 * source's target token ids without BOS/EOS. Every decoding step runs one forward pass over the
 * live beams of all sources together (in chunks of DECODE_BATCH_ROWS rows), not one per source:
 * the results are the same as decoding each source alone, since rows do not interact.
 */
export function decodeIdsBatch(
  model: tf.LayersModel,
  signature: DatasetSignature,
  sources: readonly (readonly number[])[],
  options: DecodeOptions = {},
): number[][] {
  const tv = signature.targetVocab!;
  const S = signature.x.shape[0]!;
  const T = signature.y.shape[0]! - 1;
  const width = options.beamWidth ?? 1;
  const srcRows = sources.map((src) => padded(src, S));
  const beams: Beam[][] = sources.map(() => [{ ids: [tv.bos!], logp: 0, done: false }]);
  for (let t = 0; t < T; t++) {
    const rows: { source: number; beam: Beam }[] = [];
    beams.forEach((bs, source) => {
      for (const beam of bs) if (!beam.done) rows.push({ source, beam });
    });
    if (rows.length === 0) break;
    const probs: number[][] = [];
    for (let from = 0; from < rows.length; from += DECODE_BATCH_ROWS) {
      const chunk = rows.slice(from, from + DECODE_BATCH_ROWS);
      const n = chunk.length;
      const p = tf.tidy(() => {
        const src = tf.tensor(
          chunk.map((r) => srcRows[r.source]!),
          [n, S],
          'int32',
        );
        const dec = tf.tensor(
          chunk.map((r) => padded(r.beam.ids, T)),
          [n, T],
          'int32',
        );
        return tf
          .slice(forward(model, [src, dec]), [0, t, 0], [n, 1, -1])
          .reshape([n, -1])
          .arraySync() as number[][];
      });
      probs.push(...p);
    }
    const candidates: Beam[][] = beams.map((bs) => bs.filter((b) => b.done));
    rows.forEach(({ source, beam }, i) => {
      const top = probs[i]!.map((v, id) => ({ id, v }))
        .filter((c) => c.id !== 0 && c.id !== tv.bos)
        .sort((a, c) => c.v - a.v)
        .slice(0, width);
      for (const c of top)
        candidates[source]!.push({
          ids: c.id === tv.eos ? beam.ids : [...beam.ids, c.id],
          logp: beam.logp + Math.log(Math.max(c.v, 1e-30)),
          done: c.id === tv.eos,
        });
    });
    candidates.forEach((c, source) => {
      beams[source] = c.sort((a, b) => b.logp - a.logp).slice(0, width);
    });
  }
  return beams.map((bs) => bs[0]!.ids.slice(1));
}

/** Seq2seq decoding of one source (see decodeIdsBatch). */
export function decodeIds(
  model: tf.LayersModel,
  signature: DatasetSignature,
  source: readonly number[],
  options: DecodeOptions = {},
): number[] {
  return decodeIdsBatch(model, signature, [source], options)[0]!;
}

export function decode(
  model: tf.LayersModel,
  signature: DatasetSignature,
  sources: string[],
  options: DecodeOptions = {},
): string[] {
  const ids = decodeIdsBatch(
    model,
    signature,
    sources.map((s) => tokenize(signature.vocab!, s)),
    options,
  );
  return ids.map((target) => detokenize(signature.targetVocab!, target));
}
