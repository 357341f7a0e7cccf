/**
 * CSV time series -> forecasting windows. The series is split by time before windowing: the
 * last round(valFraction * n) rows are validation, and validation windows start at or after
 * the first validation row, so no validation value ever appears in a training window or target.
 * Normalisation statistics come from the training rows only.
 */
import { BadInputError, type DatasetSignature, type Normalization } from '@seqtrain/contracts';
import { columnIndex, FLOAT32_MAX, numericColumn, type CsvTable } from './csv';
import { permutation, reorder, type BuiltDataset, type ExampleSet } from './examples';

export interface TimeseriesOptions {
  file: string;
  timeColumn?: string;
  valueColumns: string[];
  targetColumn: string;
  window: number;
  horizon: number;
  stride: number;
  valFraction: number;
  /** many-to-many: y[t] = target at step t + 1 (y has `window` values) */
  perStep: boolean;
  normalize: 'zscore' | 'last-value';
  limit?: number;
  seed: number;
}

/** Window start rows for a series of `n` rows; exported so the rule is stated once. */
export function windowStarts(from: number, to: number, span: number, stride: number): number[] {
  const out: number[] = [];
  for (let s = from; s + span <= to; s += stride) out.push(s);
  return out;
}

/** How a time cell is written: one column must use one way (a mix sorts rows wrongly). */
function timeFormat(t: string): string {
  if (/^[+-]?\d+(\.\d+)?$/.test(t)) return 'a number';
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t))
    return /[T ]/.test(t) ? 'an ISO date-time' : 'an ISO date';
  return 'another date format';
}

function parseTime(raw: string): number {
  const t = raw.trim();
  if (/^[+-]?\d+(\.\d+)?$/.test(t)) return Number(t);
  return Date.parse(t);
}

function meanStd(
  values: Float64Array,
  from: number,
  to: number,
  where: () => string,
): { mean: number; std: number } {
  let sum = 0;
  for (let i = from; i < to; i++) sum += values[i] as number;
  const mean = sum / (to - from);
  let sq = 0;
  for (let i = from; i < to; i++) sq += ((values[i] as number) - mean) ** 2;
  const std = Math.sqrt(sq / (to - from));
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std > FLOAT32_MAX)
    throw new BadInputError(
      `${where()}: the values are too large to scale (mean ${mean}, std ${std}); rescale the column (e.g. to other units)`,
    );
  // A constant column would divide by zero; scaling by 1 keeps it constant and harmless.
  return { mean, std: std > 0 ? std : 1 };
}

export function buildTimeseries(input: CsvTable, o: TimeseriesOptions): BuiltDataset {
  let table = input;
  if (o.limit !== undefined)
    table = { ...table, rows: table.rows.slice(0, o.limit), lines: table.lines.slice(0, o.limit) };
  if (o.timeColumn !== undefined) {
    const ti = columnIndex(table, o.timeColumn, o.file, '--time-column');
    const firstFormat = timeFormat((table.rows[0]?.[ti] ?? '').trim());
    const times = table.rows.map((r, i) => {
      const format = timeFormat((r[ti] ?? '').trim());
      if (format !== firstFormat)
        throw new BadInputError(
          `${o.file}: line ${table.lines[i]}, column ${JSON.stringify(o.timeColumn)}: ${JSON.stringify(r[ti])} is ${format}, but line ${table.lines[0]} is ${firstFormat} (${JSON.stringify(table.rows[0]?.[ti])}); use one time format per column`,
        );
      const t = parseTime(r[ti] ?? '');
      if (!Number.isFinite(t)) {
        throw new BadInputError(
          `${o.file}: line ${table.lines[i]}, column ${JSON.stringify(o.timeColumn)}: not a time or number ${JSON.stringify(r[ti])}`,
        );
      }
      return t;
    });
    // Stable sort by time: forecasting windows must follow time, whatever the file order.
    const order = times.map((_, i) => i).sort((a, b) => (times[a] as number) - (times[b] as number) || a - b);
    table = {
      header: table.header,
      rows: order.map((i) => table.rows[i] as string[]),
      lines: order.map((i) => table.lines[i] as number),
    };
  }
  const features = o.valueColumns.map((c) => numericColumn(table, c, o.file, '--value-columns'));
  const target = numericColumn(table, o.targetColumn, o.file, '--target-column');
  const n = target.length;
  const H = o.perStep ? 1 : o.horizon;
  const W = o.window;
  const span = W + H;
  if (span > n) {
    throw new BadInputError(
      `${o.file}: --window ${W} + ${o.perStep ? 'next-step target' : `--horizon ${H}`} needs ${span} rows, longer than the series (${n} rows)`,
    );
  }
  const valRowCount = Math.round(o.valFraction * n);
  const trainEnd = n - valRowCount;
  if (trainEnd < span) {
    throw new BadInputError(
      `${o.file}: the training part (${trainEnd} of ${n} rows, --val-fraction ${o.valFraction}) is shorter than --window ${W} + horizon ${H}`,
    );
  }
  if (valRowCount > 0 && valRowCount < span) {
    throw new BadInputError(
      `${o.file}: the validation part (${valRowCount} rows, --val-fraction ${o.valFraction}) is shorter than --window ${W} + horizon ${H}; raise --val-fraction or shorten the window`,
    );
  }
  const featureStats = features.map((f, i) =>
    meanStd(f, 0, trainEnd, () => `${o.file}: column ${JSON.stringify(o.valueColumns[i])}`),
  );
  const targetStats = meanStd(
    target,
    0,
    trainEnd,
    () => `${o.file}: column ${JSON.stringify(o.targetColumn)}`,
  );
  const normalization: Normalization = {
    mode: o.normalize,
    featureColumns: o.valueColumns,
    targetColumn: o.targetColumn,
    mean: featureStats.map((s) => s.mean),
    std: featureStats.map((s) => s.std),
    targetMean: targetStats.mean,
    targetStd: targetStats.std,
  };
  const F = features.length;
  const yWidth = o.perStep ? W : H;
  const encode = (starts: number[]): ExampleSet => {
    const rows = starts.length;
    const x = new Float32Array(rows * W * F);
    const y = new Float32Array(rows * yWidth);
    const start = new Int32Array(rows);
    const anchor = new Float32Array(rows);
    starts.forEach((s, r) => {
      start[r] = s;
      const last = s + W - 1;
      const a = target[last] as number;
      anchor[r] = a;
      for (let t = 0; t < W; t++) {
        for (let f = 0; f < F; f++) {
          const col = features[f] as Float64Array;
          const v = col[s + t] as number;
          const ref = o.normalize === 'zscore' ? normalization.mean[f]! : (col[last] as number);
          x[(r * W + t) * F + f] = (v - ref) / normalization.std[f]!;
        }
      }
      const ref = o.normalize === 'zscore' ? normalization.targetMean : a;
      for (let k = 0; k < yWidth; k++) {
        const row = o.perStep ? s + k + 1 : s + W + k;
        y[r * yWidth + k] = ((target[row] as number) - ref) / normalization.targetStd;
      }
    });
    return { rows, x, y, start, ...(o.normalize === 'last-value' ? { anchor } : {}) };
  };
  const trainStarts = windowStarts(0, trainEnd, span, o.stride);
  const valStarts = valRowCount > 0 ? windowStarts(trainEnd, n, span, o.stride) : [];
  // Windows are independent examples once cut, so training order is shuffled for SGD; the
  // `start` column keeps each window's place in time.
  const train = reorder(encode(trainStarts), permutation(trainStarts.length, o.seed));
  const val = encode(valStarts);
  const signature: DatasetSignature = {
    kind: 'timeseries',
    x: { dtype: 'float32', shape: [W, F] },
    y: { dtype: 'float32', shape: [yWidth] },
    normalization,
    ...(o.perStep ? { perStep: true } : {}),
  };
  const columnStats: Record<string, { mean: number; std: number; min: number; max: number }> = {};
  const allColumns = [...new Set([...o.valueColumns, o.targetColumn])];
  for (const c of allColumns) {
    const v = c === o.targetColumn ? target : (features[o.valueColumns.indexOf(c)] as Float64Array);
    const { mean, std } = meanStd(v, 0, n, () => `${o.file}: column ${JSON.stringify(c)}`);
    let min = Infinity;
    let max = -Infinity;
    for (const x of v) {
      if (x < min) min = x;
      if (x > max) max = x;
    }
    columnStats[c] = { mean, std, min, max };
  }
  const timeIdx = o.timeColumn !== undefined ? table.header.indexOf(o.timeColumn) : -1;
  return {
    signature,
    train,
    val,
    source: {
      window: W,
      horizon: o.perStep ? 0 : H,
      stride: o.stride,
      valFraction: o.valFraction,
      perStep: o.perStep,
      timeColumn: o.timeColumn ?? null,
      valueColumns: o.valueColumns,
      targetColumn: o.targetColumn,
      normalize: o.normalize,
      ...(o.limit !== undefined ? { limit: o.limit } : {}),
      seed: o.seed,
    },
    stats: {
      seriesRows: n,
      trainSeriesRows: trainEnd,
      valSeriesRows: valRowCount,
      trainWindows: trainStarts.length,
      valWindows: valStarts.length,
      ...(timeIdx >= 0
        ? {
            timeRange: [table.rows[0]?.[timeIdx] ?? null, table.rows[n - 1]?.[timeIdx] ?? null],
            valFrom: table.rows[trainEnd]?.[timeIdx] ?? null,
          }
        : {}),
      columns: columnStats,
    },
  };
}
