/**
 * Regression metrics in the units of the target column, and the persistence baseline a
 * forecaster must beat ("tomorrow equals today"), both from the dataset's normalisation.
 */
import type { DatasetSignature, SequenceBatch, Task } from '@seqtrain/contracts';

export function regressionUnits(
  signature: DatasetSignature,
  task: Task,
  rows: SequenceBatch,
  metrics: Record<string, number>,
): Record<string, number> {
  const norm = signature.normalization;
  if (task !== 'regression' || !norm) return {};
  const out: Record<string, number> = {};
  if (metrics.mae !== undefined) out.mae_units = metrics.mae * norm.targetStd;
  const y = rows.y.data;
  const horizon = rows.y.shape.slice(1).reduce((a, b) => a * b, 1);
  if (norm.mode === 'last-value') {
    // Targets are changes relative to the last observation: persistence predicts 0.
    let abs = 0;
    for (let i = 0; i < y.length; i++) abs += Math.abs(y[i]!);
    out.persistence_mae_units = (abs / y.length) * norm.targetStd;
    return out;
  }
  const k = norm.featureColumns.indexOf(norm.targetColumn);
  if (k < 0 || signature.perStep) return out;
  // z-score: the last observed target, mapped from feature scaling to target scaling.
  const [, steps, features] = rows.x.shape as [number, number, number];
  const x = rows.x.data;
  let abs = 0;
  for (let r = 0; r < rows.rows; r++) {
    const lastValue = x[(r * steps + steps - 1) * features + k]! * norm.std[k]! + norm.mean[k]!;
    for (let h = 0; h < horizon; h++) {
      const target = y[r * horizon + h]! * norm.targetStd + norm.targetMean;
      abs += Math.abs(target - lastValue);
    }
  }
  out.persistence_mae_units = abs / (rows.rows * horizon);
  return out;
}
