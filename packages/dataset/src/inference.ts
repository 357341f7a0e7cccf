/**
 * The bridge between raw inputs and the model, using only what the dataset signature recorded
 * at import: the same scaling statistics, vocabularies and label orders that training saw.
 */
import {
  BadInputError,
  encodeWindow,
  type DatasetKind,
  type DatasetSignature,
  type Vocabulary,
} from '@seqtrain/contracts';
import { elementCount } from './examples';
import { decodeTokens, encodeText, tokenIndex } from './tokenizer';

export type TaskName = 'regression' | 'classification' | 'generation' | 'seq2seq';

const KIND_OF_TASK: Record<TaskName, DatasetKind> = {
  regression: 'timeseries',
  classification: 'text-class',
  generation: 'sequence',
  seq2seq: 'seq2seq',
};

function describe(s: DatasetSignature): string {
  return `kind '${s.kind}' (x ${s.x.dtype} ${JSON.stringify(s.x.shape)}, y ${s.y.dtype} ${JSON.stringify(s.y.shape)})`;
}

/** Throws a BadInputError when a dataset cannot train a model for the task. */
export function assertSignatureFitsTask(signature: DatasetSignature, task: TaskName): void {
  const want = KIND_OF_TASK[task];
  if (!want)
    throw new BadInputError(
      `task ${JSON.stringify(task)} is unknown; known: ${Object.keys(KIND_OF_TASK).join(', ')}`,
    );
  const fail = (why: string): never => {
    throw new BadInputError(`dataset ${describe(signature)} does not fit task '${task}': ${why}`);
  };
  if (signature.kind !== want) fail(`the task needs a '${want}' dataset`);
  const { x, y } = signature;
  switch (signature.kind) {
    case 'timeseries':
      if (x.dtype !== 'float32' || x.shape.length !== 2) fail('x must be float32 [window, features]');
      if (y.dtype !== 'float32' || y.shape.length !== 1) fail('y must be float32 [horizon] or [window]');
      if (signature.perStep && y.shape[0] !== x.shape[0])
        fail('per-step y must have one value per input step');
      if (!signature.normalization || signature.normalization.featureColumns.length !== x.shape[1])
        fail('normalization statistics must cover every feature');
      break;
    case 'text-class':
      if (x.dtype !== 'int32' || x.shape.length !== 1) fail('x must be int32 [maxLength] token ids');
      if (y.dtype !== 'int32' || y.shape.length !== 0) fail('y must be an int32 class index');
      if (!signature.vocab) fail('the signature has no vocabulary');
      if ((signature.classes?.length ?? 0) < 2)
        fail(`classification needs at least 2 classes, found ${signature.classes?.length ?? 0}`);
      break;
    case 'sequence':
      if (
        x.dtype !== 'int32' ||
        y.dtype !== 'int32' ||
        x.shape.length !== 1 ||
        JSON.stringify(x.shape) !== JSON.stringify(y.shape)
      )
        fail('x and y must be int32 [maxLength] of the same length');
      if (signature.vocab?.bos === undefined || signature.vocab.eos === undefined)
        fail('the vocabulary needs <bos> and <eos>');
      break;
    case 'seq2seq':
      if (x.dtype !== 'int32' || y.dtype !== 'int32' || x.shape.length !== 1 || y.shape.length !== 1)
        fail('x and y must be int32 token id vectors');
      if (!signature.vocab) fail('the signature has no source vocabulary');
      if (signature.targetVocab?.bos === undefined || signature.targetVocab.eos === undefined)
        fail('the target vocabulary needs <bos> and <eos>');
      break;
  }
}

/** timeseries: rows of raw feature values (in featureColumns order) or records keyed by column; text kinds: a string; sequence: an optional condition label. */
export type InferenceInput = number[][] | Record<string, number>[] | string | { condition?: string | number };

/** What decodePrediction needs to map a model output back to user units. */
export interface InferenceContext {
  /** timeseries 'last-value': the raw target at the window's last step */
  anchor?: number;
}

export interface EncodedInput {
  x: { data: Float32Array | Int32Array; shape: number[] };
  condition?: { data: Int32Array; shape: [number] };
  contexts: InferenceContext[];
}

function tokenRow(vocab: Vocabulary, text: string, width: number, prefix: number[] = []): Int32Array {
  const ids = [...prefix, ...encodeText(vocab, text, tokenIndex(vocab))].slice(0, width);
  const row = new Int32Array(width);
  row.set(ids);
  return row;
}

/** Applies the dataset's scaling or tokenisation to raw inputs, giving a model-ready batch. */
export function encodeForInference(
  signature: DatasetSignature,
  inputs: readonly InferenceInput[],
): EncodedInput {
  const width = elementCount(signature.x.shape);
  const rows = inputs.length;
  const shape = [rows, ...signature.x.shape];
  switch (signature.kind) {
    case 'timeseries': {
      const data = new Float32Array(rows * width);
      const contexts = inputs.map((input, i) => {
        const { x, anchor } = encodeWindow(signature, input, i);
        data.set(x, i * width);
        return signature.normalization!.mode === 'last-value' ? { anchor } : {};
      });
      return { x: { data, shape }, contexts };
    }
    case 'text-class':
    case 'seq2seq': {
      const data = new Int32Array(rows * width);
      inputs.forEach((input, i) => {
        if (typeof input !== 'string')
          throw new BadInputError(
            `input ${i}: expected a string, got ${JSON.stringify(input)?.slice(0, 60)}`,
          );
        data.set(tokenRow(signature.vocab!, input, width), i * width);
      });
      return { x: { data, shape }, contexts: inputs.map(() => ({})) };
    }
    case 'sequence': {
      // Generation starts from <bos>; the model fills the rest step by step.
      const vocab = signature.vocab!;
      const data = new Int32Array(rows * width);
      const condition = new Int32Array(rows);
      inputs.forEach((input, i) => {
        data[i * width] = vocab.bos!;
        const c = typeof input === 'object' && !Array.isArray(input) ? input.condition : undefined;
        if (signature.condition) {
          const labels = signature.condition.labels;
          const idx = typeof c === 'number' ? c : labels.indexOf(String(c));
          if (!Number.isInteger(idx) || idx < 0 || idx >= signature.condition.numValues) {
            throw new BadInputError(
              `input ${i}: condition ${JSON.stringify(c)} is not one of ${labels.join(', ')}`,
            );
          }
          condition[i] = idx;
        }
      });
      return {
        x: { data, shape },
        ...(signature.condition ? { condition: { data: condition, shape: [rows] as [number] } } : {}),
        contexts: inputs.map(() => ({})),
      };
    }
  }
}

export type DecodedPrediction =
  | { kind: 'timeseries'; values: number[] }
  | { kind: 'text-class'; label: string; index: number; probabilities: Record<string, number> }
  | { kind: 'sequence' | 'seq2seq'; text: string; ids: number[] };

/**
 * Maps model outputs back to user terms. timeseries: per row the scaled predictions
 * ([horizon] or [window]) -> original units (zscore: v * targetStd + targetMean; last-value:
 * anchor + v * targetStd). text-class: class probabilities -> label. sequence/seq2seq: token
 * ids (one row of generated ids) -> text, stopping at <eos>.
 */
export function decodePrediction(
  signature: DatasetSignature,
  output: { data: ArrayLike<number>; shape: readonly number[] },
  contexts: readonly InferenceContext[] = [],
): DecodedPrediction[] {
  const rows = output.shape[0] ?? 0;
  const width = rows === 0 ? 0 : output.data.length / rows;
  const row = (r: number): number[] =>
    Array.from({ length: width }, (_, k) => output.data[r * width + k] as number);
  const out: DecodedPrediction[] = [];
  for (let r = 0; r < rows; r++) {
    const v = row(r);
    switch (signature.kind) {
      case 'timeseries': {
        const n = signature.normalization!;
        let base = n.targetMean;
        if (n.mode === 'last-value') {
          const anchor = contexts[r]?.anchor;
          if (anchor === undefined)
            throw new BadInputError(
              `prediction ${r}: 'last-value' scaling needs the window's anchor from encodeForInference`,
            );
          base = anchor;
        }
        out.push({ kind: 'timeseries', values: v.map((p) => base + p * n.targetStd) });
        break;
      }
      case 'text-class': {
        const classes = signature.classes ?? [];
        if (v.length !== classes.length)
          throw new BadInputError(`prediction ${r}: ${v.length} scores for ${classes.length} classes`);
        const index = v.reduce((best, p, i) => (p > v[best]! ? i : best), 0);
        out.push({
          kind: 'text-class',
          label: classes[index]!,
          index,
          probabilities: Object.fromEntries(classes.map((c, i) => [c, v[i]!])),
        });
        break;
      }
      case 'sequence':
      case 'seq2seq': {
        const vocab = signature.kind === 'sequence' ? signature.vocab! : signature.targetVocab!;
        out.push({ kind: signature.kind, text: decodeTokens(vocab, v), ids: v });
        break;
      }
    }
  }
  return out;
}
