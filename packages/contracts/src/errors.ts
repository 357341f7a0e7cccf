/**
 * The error taxonomy. Bad input is never retried; transient faults are. Names are stable so
 * that they survive serialisation through Temporal failures and can be matched by type.
 */
export class SeqtrainError extends Error {
  override readonly name: string = 'SeqtrainError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Spec, schema, shape, NaN data, unknown names: retrying cannot help. */
export class BadInputError extends SeqtrainError {
  override readonly name = 'BadInputError';
}

/** Data that exists but is damaged (checksum mismatch, truncated part). */
export class CorruptDataError extends SeqtrainError {
  override readonly name = 'CorruptDataError';
}

/** A referenced object (dataset, model, blob) does not exist. */
export class NotFoundError extends SeqtrainError {
  override readonly name = 'NotFoundError';
}

/** S3 5xx, throttling, timeouts, connection resets: worth retrying. */
export class TransientError extends SeqtrainError {
  override readonly name = 'TransientError';
}

/**
 * A data-plane peer is gone, silent past its timeout, refused the handshake or broke the
 * protocol. Retryable: the workflow re-forms the group from the last checkpoint.
 */
export class PeerError extends SeqtrainError {
  override readonly name = 'PeerError';
}

/**
 * Replicas that must hold identical bytes do not (a weights hash mismatch between ranks).
 * Retrying would compute the same divergence again, so it is final.
 */
export class DeterminismError extends SeqtrainError {
  override readonly name = 'DeterminismError';
}

/** Error type names that must not be retried by Temporal. */
export const NON_RETRYABLE_ERROR_TYPES = [
  'BadInputError',
  'CorruptDataError',
  'NotFoundError',
  'DeterminismError',
] as const;

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
