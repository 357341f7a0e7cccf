/**
 * Done-when 2 and 3: a shard is read with ranged GETs of only its own record batches (plus one
 * schema read per part), values come back as imported, and re-importing writes nothing.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchCache,
  ShardReader,
  concatBatches,
  decodePrediction,
  importDataset,
  loadManifest,
  planShards,
  type SequenceBatch,
} from './index';
import { startS3, tempDir, type S3Fixture } from '../test/test-helpers';

let fx: S3Fixture;
let dir: string;
beforeAll(async () => {
  fx = await startS3();
  dir = await tempDir();
  // value = row index, so every decoded number names the row it came from.
  const rows = Array.from({ length: 1000 }, (_, i) => `${i},${i},${2 * i}`);
  await fsp.writeFile(path.join(dir, 'ramp.csv'), ['t,a,b', ...rows].join('\n'));
});
afterAll(async () => {
  await fx?.stop();
  await fsp.rm(dir, { recursive: true, force: true });
});

const rampOptions = () => ({
  source: path.join(dir, 'ramp.csv'),
  name: 'ramp',
  kind: 'timeseries' as const,
  timeColumn: 't',
  valueColumns: ['a', 'b'],
  targetColumn: 'a',
  window: 8,
  horizon: 2,
  valFraction: 0.2,
  rowsPerBatch: 50,
  // small parts so that a shard spans several parts
  targetPartBytes: 16 * 1024,
});

describe('shard reader over local S3', () => {
  it('reads only its batches by range, decodes the imported values, and caches them', async () => {
    const writer = fx.store();
    const imported = await importDataset(writer, rampOptions());
    expect(imported.parts).toBeGreaterThan(2);

    const store = fx.store();
    const manifest = await loadManifest(store, 'ramp');
    const afterManifest = { ...store.stats };
    const plan = planShards(manifest, 3, 7);
    const shard = plan.shards[1]!;
    const reader = new ShardReader(store, manifest);
    const batches: SequenceBatch[] = [];
    for await (const b of reader.read(shard.batches)) batches.push(b);

    const entries = shard.batches.map((r) => manifest.parts[r.part]!.batches[r.batch]!);
    const partsTouched = new Set(shard.batches.map((r) => r.part));
    const batchBytes = entries.reduce((n, e) => n + e.metadataLength + e.bodyLength, 0);
    const schemaBytes = [...partsTouched].reduce((n, p) => n + manifest.parts[p]!.schema.length, 0);
    const read = {
      gets: store.stats.gets - afterManifest.gets,
      rangeGets: store.stats.rangeGets - afterManifest.rangeGets,
      bytes: store.stats.bytesRead - afterManifest.bytesRead,
    };
    expect(read.gets).toBe(0); // no whole-object reads
    expect(read.rangeGets).toBe(entries.length + partsTouched.size);
    expect(read.bytes).toBeLessThanOrEqual(batchBytes + schemaBytes);
    const totalBytes = manifest.parts.reduce((n, p) => n + p.bytes, 0);
    expect(read.bytes).toBeLessThan(totalBytes);

    // Values: x holds rows [s, s+8) of (a=i, b=2i), y holds a at rows s+8, s+9 (z-scored).
    const n = manifest.signature.normalization!;
    const all = concatBatches(batches);
    expect(all.rows).toBe(shard.rows);
    expect(all.x.shape).toEqual([shard.rows, 8, 2]);
    const futures = decodePrediction(manifest.signature, all.y);
    for (let r = 0; r < all.rows; r++) {
      const s = Math.round(all.x.data[r * 16]! * n.std[0]! + n.mean[0]!);
      for (let t = 0; t < 8; t++) {
        expect(all.x.data[r * 16 + t * 2]! * n.std[0]! + n.mean[0]!).toBeCloseTo(s + t, 3);
        expect(all.x.data[r * 16 + t * 2 + 1]! * n.std[1]! + n.mean[1]!).toBeCloseTo(2 * (s + t), 3);
      }
      expect(futures[r]).toMatchObject({ kind: 'timeseries' });
      const values = (futures[r] as { values: number[] }).values;
      expect(values[0]).toBeCloseTo(s + 8, 3);
      expect(values[1]).toBeCloseTo(s + 9, 3);
    }

    // A second pass is served from the cache: no more requests.
    const before = { ...store.stats };
    for await (const _ of reader.read(shard.batches)) void _;
    expect(store.stats.rangeGets).toBe(before.rangeGets);
    expect(reader.cache.hits).toBe(shard.batches.length);
  });

  it('keeps the cache within its byte bound (LRU)', async () => {
    const store = fx.store();
    await importDataset(store, rampOptions());
    const manifest = await loadManifest(store, 'ramp');
    const one = manifest.parts[0]!.batches[0]!.rows * (16 + 2) * 4;
    const cache = new BatchCache(one * 2 + 1);
    // One read in flight: with prefetch, batches land in the cache in completion order, and the
    // last one requested could be evicted by an earlier one finishing after it.
    const reader = new ShardReader(store, manifest, { cache, prefetch: 1 });
    const refs = manifest.parts.flatMap((p, part) => p.batches.map((_, batch) => ({ part, batch })));
    for await (const _ of reader.read(refs)) void _;
    expect(cache.bytes).toBeLessThanOrEqual(one * 2 + 1);
    expect(cache.size).toBe(2);
    // The most recent batch is still cached; the first one was evicted.
    const gets = store.stats.rangeGets;
    await reader.readBatch(refs[refs.length - 1]!);
    expect(store.stats.rangeGets).toBe(gets);
    await reader.readBatch(refs[0]!);
    expect(store.stats.rangeGets).toBe(gets + 1);
  });

  it('validation windows start after the last training target (no leakage)', async () => {
    const store = fx.store();
    await importDataset(store, rampOptions());
    const m = await loadManifest(store, 'ramp');
    const plan = planShards(m, 2, 0);
    const reader = new ShardReader(store, m);
    const n = m.signature.normalization!;
    const raw = (b: SequenceBatch): number[] =>
      Array.from(
        b.x.data.filter((_, i) => i % 2 === 0),
        (v) => v * n.std[0]! + n.mean[0]!,
      );
    const future = (b: SequenceBatch): number[] =>
      decodePrediction(m.signature, b.y).flatMap((p) => (p as { values: number[] }).values);
    let lastTrain = -Infinity;
    for await (const b of reader.read(plan.shards.flatMap((s) => s.batches)))
      lastTrain = Math.max(lastTrain, ...raw(b), ...future(b));
    let firstVal = Infinity;
    for await (const b of reader.read(plan.validation.batches)) firstVal = Math.min(firstVal, ...raw(b));
    // 1000 rows, 20% validation: training uses rows < 800 only, validation windows start at 800.
    expect(Math.round(lastTrain)).toBe(799);
    expect(Math.round(firstVal)).toBe(800);
    expect(plan.validation.rows).toBe(m.valRows);
  });

  it('re-importing identical data gives the same digest and writes no object', async () => {
    const first = await importDataset(fx.store(), rampOptions());
    const store = fx.store();
    const keysBefore = (await store.list('datasets/')).map((i) => `${i.key}:${i.etag}`);
    const again = await importDataset(store, rampOptions());
    expect(again.digest).toBe(first.digest);
    expect(again.created).toBe(false);
    expect(store.stats.puts).toBe(0);
    expect(store.stats.bytesWritten).toBe(0);
    expect((await store.list('datasets/')).map((i) => `${i.key}:${i.etag}`)).toEqual(keysBefore);
    // Different options are a different version; the pointer moves to it.
    const other = await importDataset(store, { ...rampOptions(), window: 9 });
    expect(other.digest).not.toBe(first.digest);
    expect((await loadManifest(store, 'ramp')).digest).toBe(other.digest);
    expect((await loadManifest(store, `ramp@${first.digest.slice(0, 10)}`)).digest).toBe(first.digest);
  });
});
