import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FsBlobStore } from '@seqtrain/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ShardReader,
  buildVocabulary,
  decodePrediction,
  decodeTokens,
  encodeForInference,
  encodeText,
  importDataset,
  loadManifest,
  tokenize,
} from './index';
import { tempDir } from '../test/test-helpers';

let dir: string;
let store: FsBlobStore;
beforeAll(async () => {
  dir = await tempDir();
  store = new FsBlobStore(path.join(dir, 'store'));
});
afterAll(async () => fsp.rm(dir, { recursive: true, force: true }));

async function allRows(name: string) {
  const m = await loadManifest(store, name);
  const reader = new ShardReader(store, m);
  const batches = [];
  for await (const b of reader.read(
    m.parts.flatMap((p, part) => p.batches.map((_, batch) => ({ part, batch }))),
  ))
    batches.push(b);
  return { m, batches };
}

describe('tokenisers and vocabularies', () => {
  it('splits words and punctuation, and characters by code point', () => {
    expect(tokenize("Don't PANIC, win $100!", 'word', true)).toEqual([
      "don't",
      'panic',
      ',',
      'win',
      '$',
      '100',
      '!',
    ]);
    expect(tokenize('Zoë😀', 'char')).toEqual(['Z', 'o', 'ë', '😀']);
  });

  it('builds a sorted, deterministic vocabulary with specials first', () => {
    const v = buildVocabulary([['b', 'a', 'c'], ['a']], { tokenizer: 'char', boundaries: true });
    expect(v.tokens).toEqual(['<pad>', '<unk>', '<bos>', '<eos>', 'a', 'b', 'c']);
    expect(v).toMatchObject({ pad: 0, unk: 1, bos: 2, eos: 3 });
    expect(buildVocabulary([['a'], ['b', 'a', 'c']], { tokenizer: 'char', boundaries: true })).toEqual(v);
  });

  it('keeps the most frequent words under --max-vocab and drops rare ones under --min-count', () => {
    const corpus = [
      ['x', 'x', 'x', 'y', 'y', 'z'],
      ['w', 'y'],
    ];
    expect(buildVocabulary(corpus, { tokenizer: 'word', maxVocab: 4 }).tokens).toEqual([
      '<pad>',
      '<unk>',
      'x',
      'y',
    ]);
    expect(buildVocabulary(corpus, { tokenizer: 'word', minCount: 2 }).tokens).toEqual([
      '<pad>',
      '<unk>',
      'x',
      'y',
    ]);
    const v = buildVocabulary(corpus, { tokenizer: 'word', minCount: 2 });
    expect(encodeText(v, 'x z y')).toEqual([2, 1, 3]);
  });
});

describe('text-class import and inference', () => {
  it('encodes texts with the training vocabulary and maps scores back to labels', async () => {
    const records = [
      ...Array.from({ length: 30 }, (_, i) => ({ text: `Cheap pills now ${i}`, label: 'spam' })),
      ...Array.from({ length: 30 }, (_, i) => ({ text: `Meeting notes for ${i}`, label: 'ham' })),
    ];
    const file = path.join(dir, 'mail.jsonl');
    await fsp.writeFile(file, records.map((r) => JSON.stringify(r)).join('\n'));
    await importDataset(store, {
      source: file,
      name: 'mail',
      kind: 'text-class',
      maxLength: 6,
      valFraction: 0.2,
    });
    const { m, batches } = await allRows('mail');
    expect(m.rows).toBe(60);
    expect(m.valRows).toBe(12);
    expect(m.signature.classes).toEqual(['ham', 'spam']);
    const vocab = m.signature.vocab!;
    // Every stored row is a text of the source, lower-cased and right-padded with 0.
    const texts = new Set(records.map((r) => r.text.toLowerCase()));
    for (const b of batches) {
      for (let r = 0; r < b.rows; r++) {
        const ids = Array.from(b.x.data.subarray(r * 6, r * 6 + 6));
        const decoded = decodeTokens(vocab, ids).replace(/<unk>/g, '?');
        const label = m.signature.classes![b.y.data[r]!];
        const match = [...texts].find(
          (t) => t.replace(/\d+$/, '').trim() === decoded.replace(/(\d+|\?)$/, '').trim(),
        );
        expect(match).toBeDefined();
        expect(label).toBe(match!.startsWith('cheap') ? 'spam' : 'ham');
      }
    }
    const enc = encodeForInference(m.signature, ['CHEAP pills NOW', 'unseenword']);
    expect(enc.x.shape).toEqual([2, 6]);
    const id = (t: string): number => vocab.tokens.indexOf(t);
    expect(Array.from(enc.x.data.subarray(0, 6))).toEqual([id('cheap'), id('pills'), id('now'), 0, 0, 0]);
    expect(enc.x.data[6]).toBe(vocab.unk);
    const decoded = decodePrediction(m.signature, { data: [0.2, 0.8, 0.9, 0.1], shape: [2, 2] });
    expect(decoded).toEqual([
      { kind: 'text-class', label: 'spam', index: 1, probabilities: { ham: 0.2, spam: 0.8 } },
      { kind: 'text-class', label: 'ham', index: 0, probabilities: { ham: 0.9, spam: 0.1 } },
    ]);
  });
});

describe('sequence and seq2seq layouts', () => {
  it('sequence: x = <bos> + chars, y = chars + <eos> (shifted by one), condition per list', async () => {
    const file = path.join(dir, 'names.json');
    await fsp.writeFile(
      file,
      JSON.stringify([
        { text: 'Ann', sex: 'f' },
        { text: 'Bob', sex: 'm' },
        { text: 'Eve', sex: 'f' },
        { text: 'Al', sex: 'm' },
      ]),
    );
    await importDataset(store, {
      source: file,
      name: 'names',
      kind: 'sequence',
      conditionField: 'sex',
      valFraction: 0,
    });
    const { m, batches } = await allRows('names');
    const v = m.signature.vocab!;
    expect(m.signature.x.shape).toEqual([4]);
    const rows = batches.flatMap((b) =>
      Array.from({ length: b.rows }, (_, r) => ({
        x: Array.from(b.x.data.subarray(r * 4, r * 4 + 4)),
        y: Array.from(b.y.data.subarray(r * 4, r * 4 + 4)),
        c: b.condition!.data[r]!,
      })),
    );
    const ann = rows.find((r) => decodeTokens(v, r.y) === 'Ann')!;
    const id = (t: string): number => v.tokens.indexOf(t);
    expect(ann.x).toEqual([v.bos, id('A'), id('n'), id('n')]);
    expect(ann.y).toEqual([id('A'), id('n'), id('n'), v.eos]);
    expect(m.signature.condition!.labels[ann.c]).toBe('f');
    const al = rows.find((r) => decodeTokens(v, r.y) === 'Al')!;
    expect(al.y).toEqual([id('A'), id('l'), v.eos, 0]);
    expect(m.signature.condition!.labels[al.c]).toBe('m');
    const start = encodeForInference(m.signature, [{ condition: 'm' }]);
    expect(Array.from(start.x.data)).toEqual([v.bos, 0, 0, 0]);
    expect(Array.from(start.condition!.data)).toEqual([1]);
    expect(() => encodeForInference(m.signature, [{ condition: 'x' }])).toThrow(
      /condition "x" is not one of f, m/,
    );
  });

  it('seq2seq: y = <bos> + target words + <eos>; predictions decode to text', async () => {
    const file = path.join(dir, 'pairs.txt');
    await fsp.writeFile(file, 'cat\tK AE1 T\ndog\tD AO1 G\nat\tAE1 T\n');
    await importDataset(store, { source: file, name: 'pairs', kind: 'seq2seq', valFraction: 0 });
    const { m, batches } = await allRows('pairs');
    const tv = m.signature.targetVocab!;
    expect(m.signature.x.shape).toEqual([3]);
    expect(m.signature.y.shape).toEqual([5]);
    const b = batches[0]!;
    const targets = Array.from({ length: b.rows }, (_, r) => Array.from(b.y.data.subarray(r * 5, r * 5 + 5)));
    for (const t of targets) expect(t[0]).toBe(tv.bos);
    expect(targets.map((t) => decodeTokens(tv, t)).sort()).toEqual(['AE1 T', 'D AO1 G', 'K AE1 T']);
    const enc = encodeForInference(m.signature, ['tac']);
    expect(decodeTokens(m.signature.vocab!, enc.x.data)).toBe('tac');
    const id = (t: string): number => tv.tokens.indexOf(t);
    expect(
      decodePrediction(m.signature, { data: [id('T'), id('AE1'), tv.eos!, id('K'), 0], shape: [1, 5] }),
    ).toEqual([{ kind: 'seq2seq', text: 'T AE1', ids: [id('T'), id('AE1'), tv.eos, id('K'), 0] }]);
  });
});

describe('timeseries scaling round trips', () => {
  it("'last-value': inference encoding equals the stored window and predictions map back to units", async () => {
    const values = Array.from({ length: 120 }, (_, i) => 100 + 2 * i + 5 * Math.sin(i / 3));
    const file = path.join(dir, 'trend.csv');
    await fsp.writeFile(file, ['day,sales', ...values.map((v, i) => `${i},${v}`)].join('\n'));
    await importDataset(store, {
      source: file,
      name: 'trend',
      kind: 'timeseries',
      timeColumn: 'day',
      valueColumns: ['sales'],
      window: 10,
      horizon: 3,
      normalize: 'last-value',
      valFraction: 0.25,
    });
    const m = await loadManifest(store, 'trend');
    const n = m.signature.normalization!;
    expect(n.mode).toBe('last-value');
    // Training rows are the first 90: the statistics are theirs alone.
    const train = values.slice(0, 90);
    const mean = train.reduce((a, b) => a + b, 0) / 90;
    expect(n.targetMean).toBeCloseTo(mean, 6);
    expect(n.targetStd).toBeCloseTo(Math.sqrt(train.reduce((a, b) => a + (b - mean) ** 2, 0) / 90), 6);
    // The first validation window starts at row 90: encode its raw rows like a user would.
    const reader = new ShardReader(store, m);
    const valRef = m.parts
      .flatMap((p, part) => p.batches.map((b, batch) => ({ part, batch, split: b.split })))
      .find((b) => b.split === 'val')!;
    const stored = await reader.readBatch(valRef);
    const window = values.slice(90, 100).map((v) => [v]);
    const enc = encodeForInference(m.signature, [window]);
    expect(enc.contexts[0]!.anchor).toBeCloseTo(values[99]!, 4);
    Array.from(enc.x.data).forEach((v, i) => expect(v).toBeCloseTo(stored.x.data[i]!, 4));
    // The stored targets, mapped back with the window's anchor, are the next three raw values.
    const back = decodePrediction(
      m.signature,
      { data: stored.y.data.subarray(0, 3), shape: [1, 3] },
      enc.contexts,
    );
    (back[0] as { values: number[] }).values.forEach((v, k) => expect(v).toBeCloseTo(values[100 + k]!, 3));
    expect(() => decodePrediction(m.signature, { data: [0, 0, 0], shape: [1, 3] })).toThrow(
      /needs the window's anchor/,
    );
    expect(() => encodeForInference(m.signature, [window.slice(0, 4)])).toThrow(
      /input 0: the window has 4 rows, the model needs 10/,
    );
    expect(() => encodeForInference(m.signature, [[...window.slice(1), [NaN]]])).toThrow(
      /input 0, row 9, column "sales": expected a finite number/,
    );
  });

  it('--per-step: y holds the next value for every input step', async () => {
    const file = path.join(dir, 'steps.csv');
    await fsp.writeFile(file, ['v', ...Array.from({ length: 40 }, (_, i) => String(i))].join('\n'));
    await importDataset(store, {
      source: file,
      name: 'steps',
      kind: 'timeseries',
      valueColumns: ['v'],
      window: 5,
      perStep: true,
      valFraction: 0,
      normalize: 'zscore',
    });
    const { m, batches } = await allRows('steps');
    expect(m.signature.y.shape).toEqual([5]);
    expect(m.signature.perStep).toBe(true);
    expect(m.rows).toBe(40 - 5); // starts 0..34: a window plus one next value
    const n = m.signature.normalization!;
    for (const b of batches) {
      for (let r = 0; r < b.rows; r++) {
        for (let t = 0; t < 5; t++) {
          const x = b.x.data[r * 5 + t]! * n.std[0]! + n.mean[0]!;
          const y = b.y.data[r * 5 + t]! * n.targetStd + n.targetMean;
          expect(y - x).toBeCloseTo(1, 3);
        }
      }
    }
  });
});
