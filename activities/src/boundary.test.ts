import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  ACTIVITY_MAX_ATTEMPTS,
  activityRetry,
  BadInputError,
  PEER_UNREACHABLE_ERROR,
  PeerUnreachableError,
  PermissionError,
  SeqtrainError,
  TransientError,
} from '@seqtrain/contracts';
import { toActivityFailure } from './boundary';

function classify(err: Error): { nonRetryable: boolean; type?: string | null; message: string } {
  const f = toActivityFailure(err);
  return f instanceof ApplicationFailure
    ? { nonRetryable: f.nonRetryable === true, type: f.type, message: f.message }
    : { nonRetryable: false, message: (f as Error).message };
}

describe('the activity boundary', () => {
  it('fails deterministic errors at once: bad input, refused access and bugs', () => {
    expect(classify(new BadInputError('model.units: [0]'))).toMatchObject({
      nonRetryable: true,
      type: 'BadInputError',
    });
    expect(classify(new PermissionError('s3://b/k: access denied'))).toMatchObject({
      nonRetryable: true,
      type: 'PermissionError',
    });
    // A bug computes the same failure on every attempt.
    let bug: Error;
    try {
      JSON.stringify((undefined as unknown as { x: number }).x);
      throw new Error('unreachable');
    } catch (err) {
      bug = err as Error;
    }
    expect(classify(bug)).toMatchObject({ nonRetryable: true, type: 'InternalError' });
    expect(classify(bug).message).toMatch(/internal error \(TypeError\)/);
    expect(classify(new SyntaxError('Unexpected token < in JSON'))).toMatchObject({ nonRetryable: true });
    expect(classify(new RangeError('Array buffer allocation failed'))).toMatchObject({ nonRetryable: true });
  });

  it('keeps the name of a retryable error as its type, also for one relayed without its class', () => {
    // What the engine relay (wire.ts) hands over: a plain Error carrying the name.
    const relayed = new Error('data plane: member 2 at 10.0.0.3:7300 could not be reached within 60.0 s');
    Object.defineProperty(relayed, 'name', { value: PEER_UNREACHABLE_ERROR });
    expect(classify(relayed)).toMatchObject({ nonRetryable: false, type: PEER_UNREACHABLE_ERROR });
    expect(classify(new PeerUnreachableError('x'))).toMatchObject({
      nonRetryable: false,
      type: PEER_UNREACHABLE_ERROR,
    });
    expect(classify(new TransientError('s3 503'))).toMatchObject({
      nonRetryable: false,
      type: 'TransientError',
    });
  });

  it("leaves faults that pass to Temporal's bounded retries", () => {
    expect(classify(new TransientError('s3 503'))).toMatchObject({ nonRetryable: false });
    expect(classify(new SeqtrainError('something odd'))).toMatchObject({ nonRetryable: false });
    expect(classify(new TypeError('fetch failed'))).toMatchObject({ nonRetryable: false });
    const policy = activityRetry();
    expect(policy.maximumAttempts).toBe(ACTIVITY_MAX_ATTEMPTS);
    expect(policy.nonRetryableErrorTypes).toEqual(
      expect.arrayContaining(['PermissionError', 'InternalError']),
    );
  });
});
