/** Row selection over in-memory batches: how a trainer cuts micro-batches out of its cached shard. */
import type { SequenceBatch } from '@seqtrain/contracts';

type Column = { data: Float32Array | Int32Array; shape: number[] };

function pick(col: Column, indices: readonly number[]): Column {
  const rowSize = col.shape.slice(1).reduce((a, b) => a * b, 1);
  const Ctor = col.data instanceof Float32Array ? Float32Array : Int32Array;
  const out = new Ctor(indices.length * rowSize);
  indices.forEach((r, i) => out.set(col.data.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
  return { data: out, shape: [indices.length, ...col.shape.slice(1)] };
}

export function selectRows(batch: SequenceBatch, indices: readonly number[]): SequenceBatch {
  const out: SequenceBatch = { rows: indices.length, x: pick(batch.x, indices), y: pick(batch.y, indices) };
  if (batch.condition)
    out.condition = pick(batch.condition, indices) as { data: Int32Array; shape: [number] };
  return out;
}

/** Splits a batch into consecutive chunks of at most `size` rows (evaluation). */
export function* chunks(batch: SequenceBatch, size: number): Generator<SequenceBatch> {
  for (let start = 0; start < batch.rows; start += size) {
    const idx = Array.from({ length: Math.min(size, batch.rows - start) }, (_, i) => start + i);
    yield selectRows(batch, idx);
  }
}
