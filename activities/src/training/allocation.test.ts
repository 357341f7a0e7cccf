import * as tf from '@tensorflow/tfjs';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { BadInputError, parseTrainSpec } from '@seqtrain/contracts';
import { toActivityFailure } from '../boundary';
import { asAllocationFailure } from './allocation';

const spec = parseTrainSpec({
  name: 'big',
  dataset: 'weather',
  task: 'regression',
  model: { cell: 'lstm', units: [4096, 4096] },
  training: { batchSize: 8192, optimizer: { name: 'adam', learningRate: 0.001 } },
});

/** A real failure of tfjs to allocate: a tensor past the largest typed array V8 can make. */
function tfjsAllocationFailure(): Error {
  try {
    tf.zeros([2 ** 20, 2 ** 13]);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected tfjs to fail the allocation');
}

describe('allocation failures in a training step', () => {
  it('become a non-retryable BadInputError naming the spec fields that size the step', () => {
    const raw = tfjsAllocationFailure();
    expect(raw).toBeInstanceOf(RangeError);
    const mapped = asAllocationFailure(raw, spec, 'segment 3 (a training step or evaluation)');
    expect(mapped).toBeInstanceOf(BadInputError);
    const message = (mapped as Error).message;
    expect(message).toContain('model.units=[4096,4096]');
    expect(message).toContain('training.batchSize=8192');
    expect(message).toContain('segment 3');
    expect(message).toContain('Invalid typed array length');
    // Through the activity boundary: failed at once, typed as bad input (not an internal bug).
    const failure = toActivityFailure(mapped);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ nonRetryable: true, type: 'BadInputError' });
    // Without the mapping the same error reached users as an internal error naming no field.
    expect(toActivityFailure(raw)).toMatchObject({ type: 'InternalError' });
  });

  it('leave every other error as it was', () => {
    const other = new RangeError('offset is out of bounds');
    expect(asAllocationFailure(other, spec, 'x')).toBe(other);
    const transient = new Error('socket hang up');
    expect(asAllocationFailure(transient, spec, 'x')).toBe(transient);
  });
});
