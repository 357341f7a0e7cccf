import { describe, expect, it } from 'vitest';
import { encodeWindow, type DatasetSignature } from '@seqtrain/contracts';

const signature = (mode: 'zscore' | 'last-value'): DatasetSignature => ({
  kind: 'timeseries',
  x: { dtype: 'float32', shape: [2, 2] },
  y: { dtype: 'float32', shape: [1] },
  normalization: {
    mode,
    featureColumns: ['a', 'b'],
    targetColumn: 'target',
    mean: [1, 2],
    std: [2, 4],
    targetMean: 0,
    targetStd: 1,
  },
});

describe('encodeWindow, the one scaling of raw windows at inference', () => {
  it('last-value: anchors on the target column even when it is not a feature', () => {
    const rows = [
      { a: 1, b: 2, target: 10 },
      { a: 3, b: 6, target: 12 },
    ];
    const { x, anchor } = encodeWindow(signature('last-value'), rows, 0);
    expect(anchor).toBe(12);
    expect(Array.from(x)).toEqual([(1 - 3) / 2, (2 - 6) / 4, 0, 0]);
    // Arrays cannot carry a column that is not a feature: said, not a silent anchor of 0.
    expect(() =>
      encodeWindow(
        signature('last-value'),
        [
          [1, 2],
          [3, 6],
        ],
        0,
      ),
    ).toThrow(/target column target is not a feature; give rows as records keyed by column/);
  });

  it('zscore needs only the features; bad cells name the input, row and column', () => {
    expect(
      Array.from(
        encodeWindow(
          signature('zscore'),
          [
            [1, 2],
            [3, 6],
          ],
          0,
        ).x,
      ),
    ).toEqual([0, 0, 1, 1]);
    expect(() =>
      encodeWindow(
        signature('zscore'),
        [
          [1, 2],
          [3, null],
        ],
        4,
      ),
    ).toThrow(/input 4, row 1, column "b": expected a finite number, got null/);
  });
});
