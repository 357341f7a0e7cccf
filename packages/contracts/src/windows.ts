/**
 * One raw window (rows in original units, as arrays in featureColumns order or as records keyed
 * by column) to model input, with the scaling recorded at import: the one implementation that
 * every inference path uses (`seqtrain predict`, dataset/inference.ts), so that predict reads a
 * window exactly as the imported training windows were written.
 * zscore: x = (v - mean[f]) / std[f]. last-value: x = (v - last[f]) / std[f]; the anchor is the
 * target column at the window's last row (it need not be a feature: then give records).
 */
import type { DatasetSignature } from './dataset';
import { BadInputError } from './errors';

export function encodeWindow(
  signature: DatasetSignature,
  input: unknown,
  i: number,
): { x: Float32Array; anchor: number } {
  const norm = signature.normalization;
  if (!norm) throw new BadInputError('signature.normalization: missing; a forecaster needs it');
  const [W, F] = signature.x.shape as [number, number];
  if (!Array.isArray(input))
    throw new BadInputError(
      `input ${i}: expected a window of ${W} rows of ${norm.featureColumns.join(', ')}`,
    );
  if (input.length < W)
    throw new BadInputError(`input ${i}: the window has ${input.length} rows, the model needs ${W}`);
  const rows = (input as unknown[]).slice(input.length - W);
  // The anchor (last-value scaling) is the target column, which need not be a feature.
  const needTarget = norm.mode === 'last-value';
  const columns = needTarget
    ? [...new Set([...norm.featureColumns, norm.targetColumn])]
    : norm.featureColumns;
  const raw = rows.map((row, t) => {
    if (typeof row !== 'object' || row === null)
      throw new BadInputError(
        `input ${i}, row ${t}: expected an array or a record, got ${JSON.stringify(row)}`,
      );
    return columns.map((c) => {
      const fi = norm.featureColumns.indexOf(c);
      let v: unknown;
      if (Array.isArray(row)) {
        if (fi < 0)
          throw new BadInputError(
            `input ${i}: the target column ${c} is not a feature; give rows as records keyed by column`,
          );
        v = (row as unknown[])[fi];
      } else v = (row as Record<string, unknown>)[c];
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new BadInputError(
          `input ${i}, row ${t}, column ${JSON.stringify(c)}: expected a finite number, got ${JSON.stringify(v) ?? 'nothing'}`,
        );
      return v;
    });
  });
  const last = raw[W - 1]!;
  const anchor = needTarget ? last[columns.indexOf(norm.targetColumn)]! : 0;
  const x = new Float32Array(W * F);
  for (let t = 0; t < W; t++) {
    for (let f = 0; f < F; f++) {
      const ci = columns.indexOf(norm.featureColumns[f]!);
      const ref = norm.mode === 'zscore' ? norm.mean[f]! : last[ci]!;
      x[t * F + f] = (raw[t]![ci]! - ref) / norm.std[f]!;
    }
  }
  return { x, anchor };
}
