/** The column-oriented examples that importers build and the Arrow codec writes. */
import type { DatasetSignature } from '@seqtrain/contracts';

export interface ExampleSet {
  rows: number;
  /** rows x prod(signature.x.shape), row-major */
  x: Float32Array | Int32Array;
  /** rows x prod(signature.y.shape) */
  y: Float32Array | Int32Array;
  /** true token count before padding (token kinds) */
  xLength?: Int32Array;
  yLength?: Int32Array;
  condition?: Int32Array;
  /** timeseries: source row (time-sorted) of the window's first step */
  start?: Int32Array;
  /** timeseries 'last-value': raw target at the window's last step */
  anchor?: Float32Array;
}

export interface BuiltDataset {
  signature: DatasetSignature;
  train: ExampleSet;
  val: ExampleSet;
  /** recorded in the manifest: what was imported and how */
  source: Record<string, unknown>;
  stats: Record<string, unknown>;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// Shared with the rest of the workspace; re-exported for this package's modules.
export { permutation, seededRandom } from '@seqtrain/contracts';

/** Rows of an example set in a new order (used to shuffle training windows). */
export function reorder(set: ExampleSet, order: readonly number[]): ExampleSet {
  const take = <T extends Float32Array | Int32Array>(arr: T, width: number): T => {
    const out = new (arr.constructor as new (n: number) => T)(order.length * width);
    order.forEach((src, dst) => out.set(arr.subarray(src * width, (src + 1) * width), dst * width));
    return out;
  };
  const xw = set.rows === 0 ? 0 : set.x.length / set.rows;
  const yw = set.rows === 0 ? 0 : set.y.length / set.rows;
  return {
    rows: order.length,
    x: take(set.x, xw),
    y: take(set.y, yw),
    ...(set.xLength ? { xLength: take(set.xLength, 1) } : {}),
    ...(set.yLength ? { yLength: take(set.yLength, 1) } : {}),
    ...(set.condition ? { condition: take(set.condition, 1) } : {}),
    ...(set.start ? { start: take(set.start, 1) } : {}),
    ...(set.anchor ? { anchor: take(set.anchor, 1) } : {}),
  };
}

/** Rows [from, to) of an example set, sharing memory. */
export function sliceRows(set: ExampleSet, from: number, to: number): ExampleSet {
  const xw = set.rows === 0 ? 0 : set.x.length / set.rows;
  const yw = set.rows === 0 ? 0 : set.y.length / set.rows;
  return {
    rows: to - from,
    x: set.x.subarray(from * xw, to * xw),
    y: set.y.subarray(from * yw, to * yw),
    ...(set.xLength ? { xLength: set.xLength.subarray(from, to) } : {}),
    ...(set.yLength ? { yLength: set.yLength.subarray(from, to) } : {}),
    ...(set.condition ? { condition: set.condition.subarray(from, to) } : {}),
    ...(set.start ? { start: set.start.subarray(from, to) } : {}),
    ...(set.anchor ? { anchor: set.anchor.subarray(from, to) } : {}),
  };
}
