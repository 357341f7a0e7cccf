/**
 * `pnpm bench:data`: shard read throughput against a real local S3 server. The system under test
 * reads every shard of a dataset with the ShardReader (ranged GETs of single record batches,
 * sha256 check, Arrow decode). The baseline GETs the same parts whole, with the same number of
 * requests in flight and no checking or decoding: the rate the server and network allow.
 * `raw-range-get` fetches exactly the reader's byte ranges without verifying or decoding.
 * Human table on stderr, one JSON object on stdout (docs/cli-contract.md, Benchmarks).
 * Options: --rows N (series rows, default 40000) --window W (default 64) --features F (default 4)
 *          --rows-per-batch R (default 512) --shards S (default 4) --repeat K (default 3)
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, type DatasetManifest } from '@seqtrain/contracts';
import { BatchCache, ShardReader, importDataset, loadManifest, partKey, planShards } from '@seqtrain/dataset';
import { startLocalS3 } from '@seqtrain/local-stack';
import { S3BlobStore } from '@seqtrain/storage';

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    rows: { type: 'string', default: '40000' },
    window: { type: 'string', default: '64' },
    features: { type: 'string', default: '4' },
    'rows-per-batch': { type: 'string', default: '512' },
    shards: { type: 'string', default: '4' },
    repeat: { type: 'string', default: '3' },
  },
  strict: true,
});
const opt = (name: keyof typeof args): number => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}=${args[name]}: expected a positive integer`);
  return n;
};
const ROWS = opt('rows');
const WINDOW = opt('window');
const FEATURES = opt('features');
const ROWS_PER_BATCH = opt('rows-per-batch');
const SHARDS = opt('shards');
const REPEAT = opt('repeat');
const IN_FLIGHT = 4;

interface Result {
  system: string;
  bytesPerSec: number;
  samplesPerSec: number;
  ratioToBaseline: number;
  requests: number;
  bytes: number;
  samples: number;
  seconds: number;
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Best of K runs: the least disturbed measurement of each system. */
async function measure(
  run: (store: S3BlobStore) => Promise<number>,
  makeStore: () => S3BlobStore,
): Promise<{ seconds: number; bytes: number; requests: number; samples: number }> {
  let best: { seconds: number; bytes: number; requests: number; samples: number } | undefined;
  for (let k = 0; k < REPEAT; k++) {
    const store = makeStore();
    const t0 = process.hrtime.bigint();
    const samples = await run(store);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const m = {
      seconds,
      bytes: store.stats.bytesRead,
      requests: store.stats.gets + store.stats.rangeGets,
      samples,
    };
    store.destroy();
    if (!best || m.seconds < best.seconds) best = m;
  }
  return best!;
}

async function main(): Promise<void> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'seqtrain-bench-data-'));
  const s3 = await startLocalS3({ dir: path.join(dir, 's3'), port: 0, bucket: 'seqtrain' });
  const makeStore = (): S3BlobStore =>
    new S3BlobStore({
      bucket: 'seqtrain',
      region: 'us-east-1',
      endpoint: s3.endpoint,
      accessKeyId: LOCAL_ACCESS_KEY,
      secretAccessKey: LOCAL_SECRET_KEY,
    });
  try {
    // A synthetic multi-feature series: deterministic, and large enough to span several parts.
    const header = ['t', ...Array.from({ length: FEATURES }, (_, f) => `f${f}`)].join(',');
    const lines = Array.from({ length: ROWS }, (_, i) =>
      [i, ...Array.from({ length: FEATURES }, (_, f) => (Math.sin(i / (7 + f)) * 10 + f).toFixed(4))].join(
        ',',
      ),
    );
    const csv = path.join(dir, 'series.csv');
    await fsp.writeFile(csv, `${header}\n${lines.join('\n')}\n`);
    const setup = makeStore();
    await importDataset(setup, {
      source: csv,
      name: 'bench',
      kind: 'timeseries',
      timeColumn: 't',
      valueColumns: Array.from({ length: FEATURES }, (_, f) => `f${f}`),
      window: WINDOW,
      horizon: 1,
      valFraction: 0,
      rowsPerBatch: ROWS_PER_BATCH,
      targetPartBytes: 8 * 1024 * 1024,
    });
    const manifest: DatasetManifest = await loadManifest(setup, 'bench');
    setup.destroy();
    const plan = planShards(manifest, SHARDS, 0);

    const reader = await measure(async (store) => {
      let samples = 0;
      // One reader per shard, as the trainers would; shards run one after another.
      for (const shard of plan.shards) {
        const r = new ShardReader(store, manifest, { cache: new BatchCache(0), prefetch: IN_FLIGHT });
        for await (const b of r.read(shard.batches)) samples += b.rows;
      }
      return samples;
    }, makeStore);

    const rawGet = await measure(async (store) => {
      await inParallel(manifest.parts, IN_FLIGHT, async (p) => {
        await store.get(partKey(manifest, p.key));
      });
      return manifest.rows;
    }, makeStore);

    const rawRange = await measure(async (store) => {
      let samples = 0;
      for (const shard of plan.shards) {
        const parts = new Set(shard.batches.map((b) => b.part));
        await inParallel([...parts], IN_FLIGHT, async (part) => {
          const s = manifest.parts[part]!.schema;
          await store.getRange(partKey(manifest, manifest.parts[part]!.key), {
            start: s.offset,
            end: s.offset + s.length - 1,
          });
        });
        await inParallel(shard.batches, IN_FLIGHT, async (ref) => {
          const p = manifest.parts[ref.part]!;
          const e = p.batches[ref.batch]!;
          await store.getRange(partKey(manifest, p.key), {
            start: e.offset,
            end: e.offset + e.metadataLength + e.bodyLength - 1,
          });
          samples += e.rows;
        });
      }
      return samples;
    }, makeStore);

    const base = rawGet.samples / rawGet.seconds;
    const result = (system: string, m: typeof reader): Result => ({
      system,
      bytesPerSec: Math.round(m.bytes / m.seconds),
      samplesPerSec: Math.round(m.samples / m.seconds),
      ratioToBaseline: Number((m.samples / m.seconds / base).toFixed(3)),
      requests: m.requests,
      bytes: m.bytes,
      samples: m.samples,
      seconds: Number(m.seconds.toFixed(4)),
    });
    const results = [
      result('raw-get', rawGet),
      result('raw-range-get', rawRange),
      result('seqtrain-shard-reader', reader),
    ];

    const table = [['system', 'samples/s', 'MB/s', 'ratio', 'requests', 'bytes', 'seconds']].concat(
      results.map((r) => [
        r.system,
        String(r.samplesPerSec),
        (r.bytesPerSec / 1e6).toFixed(1),
        r.ratioToBaseline.toFixed(3),
        String(r.requests),
        String(r.bytes),
        r.seconds.toFixed(3),
      ]),
    );
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
    process.stderr.write(
      `dataset: ${manifest.rows} windows of [${WINDOW}, ${FEATURES}] float32, ${manifest.parts.length} parts, ${manifest.bytes} bytes, ${ROWS_PER_BATCH} rows per batch; ${SHARDS} shards; best of ${REPEAT}\n` +
        table.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')).join('\n') +
        '\nratioToBaseline = samplesPerSec / raw-get samplesPerSec (1.0 = as fast as fetching the whole parts)\n',
    );
    const cpus = os.cpus();
    process.stdout.write(
      `${JSON.stringify({
        bench: 'data',
        machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', gpu: null },
        dataset: {
          rows: manifest.rows,
          bytes: manifest.bytes,
          parts: manifest.parts.length,
          rowsPerBatch: ROWS_PER_BATCH,
          window: WINDOW,
          features: FEATURES,
        },
        shards: SHARDS,
        repeat: REPEAT,
        results,
        baseline: 'raw-get',
      })}\n`,
    );
  } finally {
    await s3.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

await main();
