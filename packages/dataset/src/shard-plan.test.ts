import type { DatasetManifest } from '@seqtrain/contracts';
import { describe, expect, it } from 'vitest';
import { planShards } from './index';

/** A manifest skeleton: only what the planner reads. */
function manifest(partsRows: number[][], valEvery = 0): Pick<DatasetManifest, 'name' | 'digest' | 'parts'> {
  let k = 0;
  return {
    name: 'm',
    digest: 'a'.repeat(64),
    parts: partsRows.map((rows, p) => ({
      key: `part-${p}.arrow`,
      bytes: 100,
      sha256: 'b'.repeat(64),
      rows: rows.reduce((a, b) => a + b, 0),
      schema: { offset: 8, length: 100 },
      batches: rows.map((r) => ({
        rows: r,
        offset: 0,
        metadataLength: 8,
        bodyLength: 8,
        sha256: 'c'.repeat(64),
        split: valEvery > 0 && ++k % valEvery === 0 ? ('val' as const) : ('train' as const),
      })),
    })),
  };
}

describe('planShards', () => {
  const m = manifest(
    [
      [256, 256, 256, 256, 100],
      [256, 256, 17, 256],
      [3, 256, 256, 256, 256, 256, 199],
    ],
    5,
  );

  it.each([1, 2, 3, 4, 5, 7])(
    '%i shards: every training batch exactly once, balanced within one batch',
    (n) => {
      const plan = planShards(m, n, 42);
      const train = m.parts
        .flatMap((p, part) => p.batches.map((b, batch) => ({ part, batch, ...b })))
        .filter((b) => b.split === 'train');
      const assigned = plan.shards.flatMap((s) => s.batches.map((r) => `${r.part}/${r.batch}`)).sort();
      expect(assigned).toEqual(train.map((b) => `${b.part}/${b.batch}`).sort());
      const largestBatch = Math.max(...train.map((b) => b.rows));
      const rows = plan.shards.map((s) =>
        s.batches.reduce((n2, r) => n2 + m.parts[r.part]!.batches[r.batch]!.rows, 0),
      );
      expect(plan.shards.map((s) => s.rows)).toEqual(rows);
      expect(Math.max(...rows) - Math.min(...rows)).toBeLessThanOrEqual(largestBatch);
      expect(rows.reduce((a, b) => a + b, 0)).toBe(train.reduce((a, b) => a + b.rows, 0));
    },
  );

  it('validation is exactly the batches marked val, in manifest order', () => {
    const plan = planShards(m, 3, 1);
    const val = m.parts
      .flatMap((p, part) => p.batches.map((b, batch) => ({ part, batch, ...b })))
      .filter((b) => b.split === 'val');
    expect(plan.validation.batches).toEqual(val.map(({ part, batch }) => ({ part, batch })));
    expect(plan.validation.rows).toBe(val.reduce((a, b) => a + b.rows, 0));
  });

  it('is a pure function of (manifest, N, seed)', () => {
    expect(planShards(m, 3, 9)).toEqual(planShards(m, 3, 9));
    const seeds = new Set([0, 1, 2, 3, 4, 5].map((s) => JSON.stringify(planShards(m, 3, s).shards)));
    expect(seeds.size).toBeGreaterThan(1);
  });

  it('rejects impossible requests', () => {
    expect(() => planShards(m, 0)).toThrow(/shard count must be a positive integer, got 0/);
    expect(() => planShards(m, 2.5)).toThrow(/positive integer/);
    expect(() => planShards(manifest([[10, 10]]), 3)).toThrow(
      /has 2 training record batches, fewer than the 3 shards/,
    );
  });
});
