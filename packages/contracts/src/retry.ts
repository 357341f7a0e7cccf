/**
 * The retry policy of every activity that Temporal retries on its own. Retries are for faults
 * that pass (S3 5xx or unreachable, a worker restarting): attempts back off from 1 s to 30 s and
 * stop after 10 (about 2.5 minutes of waiting), so that no failure is retried for ever; the
 * error types of NON_RETRYABLE_ERROR_TYPES (bad input, corrupt data, missing objects, refused
 * access, bugs) fail at the first attempt. Group formation and segments do not retry at all:
 * the training workflow re-forms the group instead (at most MAX_SEGMENT_FAILURES times in a row).
 */
import { NON_RETRYABLE_ERROR_TYPES } from './errors';

export const ACTIVITY_MAX_ATTEMPTS = 10;

export interface ActivityRetryPolicy {
  initialInterval: string;
  backoffCoefficient: number;
  maximumInterval: string;
  maximumAttempts: number;
  nonRetryableErrorTypes: string[];
}

export function activityRetry(overrides: Partial<ActivityRetryPolicy> = {}): ActivityRetryPolicy {
  return {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: ACTIVITY_MAX_ATTEMPTS,
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
    ...overrides,
  };
}
