import { describe, expect, it } from 'vitest';
import { parseTrainSpec } from '@seqtrain/contracts';
import { firstDifference, runIdentity } from './run-reuse';

const spec = (units: number[], lr = 0.01) =>
  parseTrainSpec({
    name: 'm',
    dataset: 'd',
    task: 'regression',
    model: { cell: 'lstm', units },
    training: { optimizer: { name: 'adam', learningRate: lr } },
  });

describe('the identity of a run under a reused --id', () => {
  it('ignores who started it and the loop state of a continued run', () => {
    const a = runIdentity({ spec: spec([8]), actor: 'alice', register: true });
    const b = runIdentity({ spec: spec([8]), actor: 'bob', resume: undefined });
    expect(firstDifference(a, b)).toBeUndefined();
  });

  it('names the first field that differs, lists whole', () => {
    expect(firstDifference(runIdentity({ spec: spec([8]) }), runIdentity({ spec: spec([8, 4]) }))).toEqual({
      path: 'spec.model.units',
      before: [8],
      after: [8, 4],
    });
    expect(
      firstDifference(runIdentity({ spec: spec([8]) }), runIdentity({ spec: spec([8], 0.1) }))?.path,
    ).toBe('spec.training.optimizer.learningRate');
    expect(
      firstDifference(runIdentity({ spec: spec([8]) }), runIdentity({ spec: spec([8]), segmentSeconds: 5 })),
    ).toEqual({ path: 'segmentSeconds', before: undefined, after: 5 });
  });
});
