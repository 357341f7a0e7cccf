/**
 * The activity boundary of the error taxonomy: deterministic errors (bad input, corrupt data,
 * missing objects, refused access, and JavaScript bug errors) become non-retryable Temporal
 * failures carrying the error's stable name as type; everything else is retried, a bounded
 * number of times (activityRetry).
 */
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { isDeterministicError, NON_RETRYABLE_ERROR_TYPES } from '@seqtrain/contracts';

const FINAL = new Set<string>(NON_RETRYABLE_ERROR_TYPES);

export function toActivityFailure(err: unknown): unknown {
  // Cancellation and failures made on purpose pass as they are.
  if (err instanceof TemporalFailure) return err;
  if (err instanceof Error && isDeterministicError(err)) {
    const bug = !FINAL.has(err.name);
    return ApplicationFailure.create({
      type: bug ? 'InternalError' : err.name,
      message: bug ? `internal error (${err.name}): ${err.message}` : err.message,
      nonRetryable: true,
      cause: err,
    });
  }
  // A retryable error keeps its name as the failure's type. The SDK would take the constructor's
  // name, which is plain `Error` for an error relayed from a trainer's engine process (wire.ts):
  // the workflow tells a PeerUnreachableError from other peer faults by this type.
  if (err instanceof Error && err.name !== 'Error')
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: false,
      cause: err,
    });
  return err;
}

/** Wraps every function of an activity object with the boundary. */
export function withBoundary<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    out[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toActivityFailure(err);
      }
    };
  }
  return out as T;
}
