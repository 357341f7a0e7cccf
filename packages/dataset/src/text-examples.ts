/**
 * Token datasets: labelled texts (classification), strings to generate (optionally conditioned
 * on a class) and source -> target pairs. Examples are shuffled with the seed, the first
 * round(valFraction * n) become validation, and vocabularies are built from training rows only.
 */
import { BadInputError, type DatasetSignature, type Vocabulary } from '@seqtrain/contracts';
import { permutation, type BuiltDataset, type ExampleSet } from './examples';
import { buildVocabulary, encodeText, tokenIndex, tokenize, type TokenizerName } from './tokenizer';

export interface SplitOptions {
  valFraction: number;
  seed: number;
  limit?: number;
}

export interface VocabOptions {
  tokenizer: TokenizerName;
  lowercase: boolean;
  maxVocab?: number;
  minCount?: number;
}

/** Shuffle, apply --limit, split: returns [train, val] in shuffled order. */
function split<T>(items: readonly T[], o: SplitOptions): [T[], T[]] {
  const shuffled = permutation(items.length, o.seed).map((i) => items[i] as T);
  const kept = o.limit !== undefined ? shuffled.slice(0, o.limit) : shuffled;
  const valCount = Math.round(o.valFraction * kept.length);
  return [kept.slice(valCount), kept.slice(0, valCount)];
}

function lengthStats(lengths: number[], cap: number): { mean: number; max: number; truncated: number } {
  const max = lengths.reduce((a, b) => Math.max(a, b), 0);
  const mean = lengths.length ? lengths.reduce((a, b) => a + b, 0) / lengths.length : 0;
  return { mean, max, truncated: lengths.filter((l) => l > cap).length };
}

function sortedLabels(values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Writes ids (truncated to `width`) into row r of a right-padded matrix. */
function putIds(out: Int32Array, r: number, width: number, ids: readonly number[]): number {
  const n = Math.min(ids.length, width);
  for (let i = 0; i < n; i++) out[r * width + i] = ids[i] as number;
  return n;
}

export interface LabelledText {
  text: string;
  label: string;
}

export function buildTextClass(
  records: readonly LabelledText[],
  o: SplitOptions & VocabOptions & { maxLength: number },
): BuiltDataset {
  if (records.length === 0) throw new BadInputError('empty input: no labelled texts');
  const [train, val] = split(records, o);
  const tok = (r: LabelledText): string[] => tokenize(r.text, o.tokenizer, o.lowercase);
  const vocab = buildVocabulary(train.map(tok), {
    tokenizer: o.tokenizer,
    lowercase: o.lowercase,
    ...pick(o),
  });
  const classes = sortedLabels(records.map((r) => r.label));
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const index = tokenIndex(vocab);
  const lengths: number[] = [];
  const encode = (rows: LabelledText[]): ExampleSet => {
    const x = new Int32Array(rows.length * o.maxLength);
    const y = new Int32Array(rows.length);
    const xLength = new Int32Array(rows.length);
    rows.forEach((rec, r) => {
      // Encoded exactly as `predict` encodes an input (the vocabulary's tokenizer and case rule).
      const ids = encodeText(vocab, rec.text, index);
      lengths.push(ids.length);
      xLength[r] = putIds(x, r, o.maxLength, ids);
      y[r] = classIndex.get(rec.label) as number;
    });
    return { rows: rows.length, x, y, xLength };
  };
  const classCounts = Object.fromEntries(
    classes.map((c) => [c, records.filter((r) => r.label === c).length]),
  );
  const built = { train: encode(train), val: encode(val) };
  return {
    signature: {
      kind: 'text-class',
      x: { dtype: 'int32', shape: [o.maxLength] },
      y: { dtype: 'int32', shape: [] },
      vocab,
      classes,
    },
    ...built,
    source: {
      tokenizer: o.tokenizer,
      lowercase: o.lowercase,
      maxLength: o.maxLength,
      ...pick(o),
      ...splitSource(o),
    },
    stats: { classCounts, vocabSize: vocab.tokens.length, tokens: lengthStats(lengths, o.maxLength) },
  };
}

export interface ConditionedText {
  text: string;
  condition?: string;
}

export function buildSequence(
  records: readonly ConditionedText[],
  o: SplitOptions & VocabOptions & { maxLength?: number; conditionField?: string },
): BuiltDataset {
  if (records.length === 0) throw new BadInputError('empty input: no strings');
  const conditioned = o.conditionField !== undefined;
  if (conditioned) {
    const i = records.findIndex((r) => r.condition === undefined);
    if (i >= 0)
      throw new BadInputError(`record ${i}: missing condition field ${JSON.stringify(o.conditionField)}`);
  }
  const [train, val] = split(records, o);
  const tok = (r: ConditionedText): string[] => tokenize(r.text, o.tokenizer, o.lowercase);
  const vocab = buildVocabulary(train.map(tok), {
    tokenizer: o.tokenizer,
    lowercase: o.lowercase,
    boundaries: true,
    ...pick(o),
  });
  const longest = records.reduce((m, r) => Math.max(m, tok(r).length), 0);
  // x = <bos> + tokens, y = tokens + <eos>: one slot more than the longest string.
  const L = Math.min(longest + 1, o.maxLength ?? Infinity);
  const labels = conditioned ? sortedLabels(records.map((r) => r.condition as string)) : [];
  const labelIndex = new Map(labels.map((c, i) => [c, i]));
  const index = tokenIndex(vocab);
  const lengths: number[] = [];
  const encode = (rows: ConditionedText[]): ExampleSet => {
    const x = new Int32Array(rows.length * L);
    const y = new Int32Array(rows.length * L);
    const xLength = new Int32Array(rows.length);
    const condition = new Int32Array(rows.length);
    rows.forEach((rec, r) => {
      const ids = encodeText(vocab, rec.text, index);
      lengths.push(ids.length + 1);
      xLength[r] = putIds(x, r, L, [vocab.bos as number, ...ids]);
      putIds(y, r, L, [...ids, vocab.eos as number]);
      if (conditioned) condition[r] = labelIndex.get(rec.condition as string) as number;
    });
    return { rows: rows.length, x, y, xLength, ...(conditioned ? { condition } : {}) };
  };
  const built = { train: encode(train), val: encode(val) };
  const signature: DatasetSignature = {
    kind: 'sequence',
    x: { dtype: 'int32', shape: [L] },
    y: { dtype: 'int32', shape: [L] },
    vocab,
    ...(conditioned ? { condition: { numValues: labels.length, labels } } : {}),
  };
  const conditionCounts = conditioned
    ? Object.fromEntries(labels.map((c) => [c, records.filter((r) => r.condition === c).length]))
    : undefined;
  return {
    signature,
    ...built,
    source: {
      tokenizer: o.tokenizer,
      lowercase: o.lowercase,
      maxLength: L,
      conditionField: o.conditionField ?? null,
      ...pick(o),
      ...splitSource(o),
    },
    stats: {
      vocabSize: vocab.tokens.length,
      tokens: lengthStats(lengths, L),
      ...(conditionCounts ? { conditionCounts } : {}),
    },
  };
}

export interface TextPair {
  source: string;
  target: string;
}

export function buildSeq2seq(
  records: readonly TextPair[],
  o: SplitOptions &
    VocabOptions & { maxLength?: number; targetTokenizer: TokenizerName; maxTargetLength?: number },
): BuiltDataset {
  if (records.length === 0) throw new BadInputError('empty input: no source/target pairs');
  const [train, val] = split(records, o);
  const src = (r: TextPair): string[] => tokenize(r.source, o.tokenizer, o.lowercase);
  const tgt = (r: TextPair): string[] => tokenize(r.target, o.targetTokenizer, false);
  const vocab: Vocabulary = buildVocabulary(train.map(src), {
    tokenizer: o.tokenizer,
    lowercase: o.lowercase,
    ...pick(o),
  });
  const targetVocab = buildVocabulary(train.map(tgt), { tokenizer: o.targetTokenizer, boundaries: true });
  const S = Math.min(
    records.reduce((m, r) => Math.max(m, src(r).length), 0),
    o.maxLength ?? Infinity,
  );
  const T = Math.min(
    records.reduce((m, r) => Math.max(m, tgt(r).length), 0) + 2,
    o.maxTargetLength ?? Infinity,
  );
  const si = tokenIndex(vocab);
  const ti = tokenIndex(targetVocab);
  const srcLengths: number[] = [];
  const tgtLengths: number[] = [];
  const encode = (rows: TextPair[]): ExampleSet => {
    const x = new Int32Array(rows.length * S);
    const y = new Int32Array(rows.length * T);
    const xLength = new Int32Array(rows.length);
    const yLength = new Int32Array(rows.length);
    rows.forEach((rec, r) => {
      const s = encodeText(vocab, rec.source, si);
      const t = tgt(rec).map((w) => ti.get(w) ?? (targetVocab.unk as number));
      srcLengths.push(s.length);
      tgtLengths.push(t.length + 2);
      xLength[r] = putIds(x, r, S, s);
      yLength[r] = putIds(y, r, T, [targetVocab.bos as number, ...t, targetVocab.eos as number]);
    });
    return { rows: rows.length, x, y, xLength, yLength };
  };
  const built = { train: encode(train), val: encode(val) };
  return {
    signature: {
      kind: 'seq2seq',
      x: { dtype: 'int32', shape: [S] },
      y: { dtype: 'int32', shape: [T] },
      vocab,
      targetVocab,
    },
    ...built,
    source: {
      tokenizer: o.tokenizer,
      targetTokenizer: o.targetTokenizer,
      lowercase: o.lowercase,
      maxLength: S,
      maxTargetLength: T,
      ...pick(o),
      ...splitSource(o),
    },
    stats: {
      vocabSize: vocab.tokens.length,
      targetVocabSize: targetVocab.tokens.length,
      sourceTokens: lengthStats(srcLengths, S),
      targetTokens: lengthStats(tgtLengths, T),
    },
  };
}

function pick(o: { maxVocab?: number; minCount?: number }): { maxVocab?: number; minCount?: number } {
  return {
    ...(o.maxVocab !== undefined ? { maxVocab: o.maxVocab } : {}),
    ...(o.minCount !== undefined ? { minCount: o.minCount } : {}),
  };
}

function splitSource(o: SplitOptions): Record<string, unknown> {
  return { valFraction: o.valFraction, seed: o.seed, ...(o.limit !== undefined ? { limit: o.limit } : {}) };
}
