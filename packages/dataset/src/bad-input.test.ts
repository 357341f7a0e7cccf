/**
 * Done-when 4: every kind of bad input and damaged data fails with an error that names the
 * file, row/column or part, and a failed import leaves nothing visible.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BadInputError, CorruptDataError, NotFoundError } from '@seqtrain/contracts';
import { FsBlobStore, type BlobStore } from '@seqtrain/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ShardReader,
  assertSignatureFitsTask,
  importDataset,
  loadManifest,
  partKey,
  planShards,
  type ImportOptions,
} from './index';
import { tempDir } from '../test/test-helpers';

let dir: string;
let store: FsBlobStore;
beforeAll(async () => {
  dir = await tempDir();
  store = new FsBlobStore(path.join(dir, 'store'));
});
afterAll(async () => fsp.rm(dir, { recursive: true, force: true }));

async function csv(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await fsp.writeFile(file, text);
  return file;
}

const series = (n: number): string =>
  ['t,v', ...Array.from({ length: n }, (_, i) => `${i},${Math.sin(i)}`)].join('\n');

function ts(source: string, extra: Partial<ImportOptions> = {}): ImportOptions {
  return {
    source,
    name: 'bad',
    kind: 'timeseries',
    timeColumn: 't',
    valueColumns: ['v'],
    window: 4,
    horizon: 1,
    valFraction: 0.2,
    ...extra,
  };
}

describe('bad CSV input', () => {
  it.each([
    [
      'unterminated quote',
      't,v\n0,1\n1,"2\n',
      /unterminated.csv: line 3: malformed CSV: unterminated quoted field/,
    ],
    [
      'wrong field count',
      't,v\n0,1\n1,2,3\n',
      /wrong-count.csv: line 3: malformed CSV: 3 fields, the header has 2/,
    ],
  ])('%s', async (_what, text, message) => {
    const name = _what === 'unterminated quote' ? 'unterminated.csv' : 'wrong-count.csv';
    await expect(importDataset(store, ts(await csv(name, text)))).rejects.toThrow(message);
  });

  it('names a missing column and lists the columns', async () => {
    const err = importDataset(store, ts(await csv('ok.csv', series(50)), { valueColumns: ['temp'] }));
    await expect(err).rejects.toThrow(/ok.csv: --value-columns column "temp" not found; columns: t, v/);
    await expect(err).rejects.toBeInstanceOf(BadInputError);
  });

  it('names the line, column and value of a non-numeric cell', async () => {
    const text = series(50)
      .replace('\n7,', '\n7,')
      .split('\n')
      .map((l, i) => (i === 8 ? '7,warm' : l))
      .join('\n');
    await expect(importDataset(store, ts(await csv('words.csv', text)))).rejects.toThrow(
      /words.csv: line 9, column "v": non-numeric value "warm"/,
    );
  });

  it.each([
    ['NaN', /line 4, column "v": non-finite value "NaN"/],
    ['Infinity', /line 4, column "v": non-finite value "Infinity"/],
    ['-inf', /line 4, column "v": non-finite value "-inf"/],
    ['', /line 4, column "v": empty value ""/],
  ])('rejects %j values', async (value, message) => {
    const text = series(50)
      .split('\n')
      .map((l, i) => (i === 3 ? `2,${value}` : l))
      .join('\n');
    await expect(importDataset(store, ts(await csv('nan.csv', text)))).rejects.toThrow(message);
  });

  it.each([
    ['1e200', /line 4, column "v": value 1e200 overflows float32/],
    ['-3.5e38', /line 4, column "v": value -3.5e38 overflows float32/],
    ['0x1A', /line 4, column "v": non-numeric value "0x1A"/],
    ['0b11', /line 4, column "v": non-numeric value "0b11"/],
  ])('rejects %j, which float32 or a decimal reading cannot hold', async (value, message) => {
    const text = series(50)
      .split('\n')
      .map((l, i) => (i === 3 ? `2,${value}` : l))
      .join('\n');
    await expect(importDataset(store, ts(await csv('odd.csv', text)))).rejects.toThrow(message);
  });

  it('rejects duplicate column names, naming both positions', async () => {
    await expect(
      importDataset(store, ts(await csv('dup.csv', `t,v,v\n${'0,1,2\n'.repeat(30)}`))),
    ).rejects.toThrow(/dup.csv: line 1: columns 2 and 3 are both named "v"/);
  });

  it('rejects a time column that mixes formats, naming the line and both formats', async () => {
    const rows = Array.from({ length: 40 }, (_, i) =>
      i === 20 ? `1700000000,${i}` : `2024-01-${String((i % 28) + 1).padStart(2, '0')},${i}`,
    );
    await expect(
      importDataset(store, ts(await csv('mixed.csv', ['t,v', ...rows].join('\n')))),
    ).rejects.toThrow(/mixed.csv: line 22, column "t": "1700000000" is a number, but line 2 is an ISO date/);
  });

  it('rejects empty input', async () => {
    await expect(importDataset(store, ts(await csv('empty.csv', '')))).rejects.toThrow(
      /empty.csv: empty input: no header row/,
    );
    await expect(importDataset(store, ts(await csv('header.csv', 't,v\n')))).rejects.toThrow(
      /header.csv: empty input: a header but no data rows/,
    );
  });

  it('rejects a window longer than the series', async () => {
    await expect(
      importDataset(store, ts(await csv('short.csv', series(10)), { window: 12 })),
    ).rejects.toThrow(
      /short.csv: --window 12 \+ --horizon 1 needs 13 rows, longer than the series \(10 rows\)/,
    );
  });

  it('rejects a validation tail too short for one window', async () => {
    await expect(
      importDataset(store, ts(await csv('tail.csv', series(20)), { window: 6, valFraction: 0.2 })),
    ).rejects.toThrow(/validation part \(4 rows/);
  });

  it('rejects options that do not fit the kind, and bad numbers', async () => {
    await expect(
      importDataset(store, ts(await csv('ok2.csv', series(50)), { tokenizer: 'char' })),
    ).rejects.toThrow(/--tokenizer does not apply to --kind timeseries/);
    await expect(importDataset(store, ts(await csv('ok3.csv', series(50)), { window: 0 }))).rejects.toThrow(
      /--window must be a positive integer, got 0/,
    );
    await expect(
      importDataset(store, ts(await csv('ok4.csv', series(50)), { name: 'Bad Name' })),
    ).rejects.toThrow(/--name "Bad Name"/);
  });

  it('reports a missing file as not found', async () => {
    await expect(importDataset(store, ts(path.join(dir, 'nope.csv')))).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('bad record input', () => {
  it('names the JSONL line with invalid JSON', async () => {
    const file = await csv('texts.jsonl', '{"text":"a","label":"x"}\n{"text": oops}\n');
    await expect(importDataset(store, { source: file, name: 'texts', kind: 'text-class' })).rejects.toThrow(
      /texts.jsonl: line 2: invalid JSON/,
    );
  });

  it('names the record and the missing field', async () => {
    const file = await csv('texts.json', JSON.stringify([{ text: 'a', label: 'x' }, { text: 'b' }]));
    await expect(importDataset(store, { source: file, name: 'texts', kind: 'text-class' })).rejects.toThrow(
      /texts.json: record 1: missing field "label" \(--label-field\); fields: text/,
    );
  });

  it('rejects an unknown built-in source', async () => {
    await expect(
      importDataset(store, { source: 'npm:iris', name: 'iris', kind: 'text-class' }),
    ).rejects.toThrow(/unknown built-in source "npm:iris"/);
  });
});

describe('damaged parts', () => {
  async function imported(name: string): Promise<Awaited<ReturnType<typeof loadManifest>>> {
    const file = await csv(`${name}.csv`, series(400));
    await importDataset(store, { ...ts(file), name, rowsPerBatch: 32 });
    return loadManifest(store, name);
  }

  it('a bit flip inside a batch is a sha256 mismatch naming the part and batch', async () => {
    const m = await imported('flipped');
    const key = partKey(m, m.parts[0]!.key);
    const bytes = await store.get(key);
    const b = m.parts[0]!.batches[1]!;
    bytes[b.offset + b.metadataLength + 5]! ^= 0x01;
    await store.put(key, bytes);
    const reader = new ShardReader(store, m);
    await expect(reader.readBatch({ part: 0, batch: 0 })).resolves.toBeDefined();
    const err = reader.readBatch({ part: 0, batch: 1 });
    await expect(err).rejects.toBeInstanceOf(CorruptDataError);
    await expect(err).rejects.toThrow(new RegExp(`${m.parts[0]!.key} record batch 1: sha256 mismatch`));
    await expect(new ShardReader(store, m).verifyParts()).rejects.toThrow(
      new RegExp(`${m.parts[0]!.key}: sha256 mismatch`),
    );
  });

  it('a truncated part names the part and the missing bytes', async () => {
    const m = await imported('truncated');
    const key = partKey(m, m.parts[0]!.key);
    const bytes = await store.get(key);
    const last = m.parts[0]!.batches.length - 1;
    const b = m.parts[0]!.batches[last]!;
    await store.put(key, bytes.subarray(0, b.offset + 10));
    const err = new ShardReader(store, m).readBatch({ part: 0, batch: last });
    await expect(err).rejects.toBeInstanceOf(CorruptDataError);
    await expect(err).rejects.toThrow(
      new RegExp(`${m.parts[0]!.key} record batch ${last}: the part is truncated`),
    );
    await expect(new ShardReader(store, m).verifyParts()).rejects.toThrow(
      /bytes, manifest says .* \(truncated or replaced\)/,
    );
  });

  it('a deleted part is reported as damage, not as a bad request', async () => {
    const m = await imported('deleted');
    await store.delete(partKey(m, m.parts[0]!.key));
    await expect(new ShardReader(store, m).readBatch({ part: 0, batch: 0 })).rejects.toThrow(
      /the part is missing from the store/,
    );
  });

  it('an edited manifest no longer matches its digest', async () => {
    const m = await imported('edited');
    const key = `datasets/edited/${m.digest}/manifest.json`;
    const text = new TextDecoder()
      .decode(await store.get(key))
      .replace(`"trainRows": ${m.trainRows}`, `"trainRows": ${m.trainRows + 1}`);
    await store.put(key, text);
    await expect(loadManifest(store, 'edited')).rejects.toThrow(/content hashes to [0-9a-f]{64}, expected/);
  });

  it('a schema that does not fit the task names both', async () => {
    const m = await imported('fit');
    expect(() => assertSignatureFitsTask(m.signature, 'regression')).not.toThrow();
    expect(() => assertSignatureFitsTask(m.signature, 'classification')).toThrow(
      /dataset kind 'timeseries' \(x float32 \[4,1\], y float32 \[1\]\) does not fit task 'classification': the task needs a 'text-class' dataset/,
    );
    expect(() =>
      assertSignatureFitsTask({ ...m.signature, x: { dtype: 'int32', shape: [4] } }, 'regression'),
    ).toThrow(/x must be float32 \[window, features\]/);
  });

  it('asking for more shards than training batches is bad input', async () => {
    const m = await imported('few');
    const trainBatches = m.parts.flatMap((p) => p.batches).filter((b) => b.split === 'train').length;
    expect(() => planShards(m, trainBatches + 1)).toThrow(
      new RegExp(`has ${trainBatches} training record batches, fewer than the ${trainBatches + 1} shards`),
    );
  });
});

describe('nothing partial becomes visible', () => {
  it('a failing upload removes the parts already written and writes no manifest or pointer', async () => {
    const inner = new FsBlobStore(path.join(dir, 'flaky'));
    let puts = 0;
    const flaky: BlobStore = Object.assign(Object.create(inner) as BlobStore, {
      put: async (key: string, body: Uint8Array | string) => {
        if (++puts === 3) throw new Error('simulated upload failure');
        return inner.put(key, body);
      },
    });
    const file = await csv('flaky.csv', series(2000));
    await expect(
      importDataset(flaky, { ...ts(file), name: 'flaky', rowsPerBatch: 16, targetPartBytes: 1024 }),
    ).rejects.toThrow(/simulated upload failure/);
    expect(await inner.list('datasets/')).toEqual([]);
  });
  it('a failed import never removes the parts of an identical import that published meanwhile', async () => {
    const inner = new FsBlobStore(path.join(dir, 'concurrent'));
    const file = await csv('shared.csv', series(2000));
    const opts = { ...ts(file), name: 'shared', rowsPerBatch: 16, targetPartBytes: 1024 };
    // Import A fails at its manifest write; just before, an identical import B runs to the end
    // (the parts are content-addressed: both write the same keys).
    let b: Awaited<ReturnType<typeof importDataset>> | undefined;
    const failing: BlobStore = Object.assign(Object.create(inner) as BlobStore, {
      put: async (key: string, body: Uint8Array | string) => {
        if (key.endsWith('manifest.json')) {
          b = await importDataset(inner, opts);
          throw new Error('simulated failure of import A');
        }
        return inner.put(key, body);
      },
    });
    await expect(importDataset(failing, opts)).rejects.toThrow(/simulated failure of import A/);
    expect(b?.created).toBe(true);
    // B's dataset is whole: every part its manifest names is there and reads back.
    const m = await loadManifest(inner, 'shared');
    let rows = 0;
    for await (const batch of new ShardReader(inner, m).read(
      m.parts.flatMap((p, part) => p.batches.map((_, batch) => ({ part, batch }))),
    ))
      rows += batch.rows;
    expect(rows).toBe(m.rows);
  });

  it('an identical import repairs a dataset whose parts went missing', async () => {
    const inner = new FsBlobStore(path.join(dir, 'repair'));
    const file = await csv('repair.csv', series(2000));
    const opts = { ...ts(file), name: 'repair', rowsPerBatch: 16, targetPartBytes: 1024 };
    await importDataset(inner, opts);
    const m = await loadManifest(inner, 'repair');
    const lost = partKey(m, m.parts[1]!.key);
    await inner.delete(lost);
    const logs: string[] = [];
    const again = await importDataset(inner, { ...opts, log: (l: string) => logs.push(l) });
    expect(again.created).toBe(false);
    expect(await inner.head(lost)).toBeDefined();
    expect(logs.join('\n')).toMatch(/repaired .*it was missing/);
  });
});
