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
  override readonly name: string = 'PeerError';
}

/**
 * The next member of a group could not be reached at its advertised address (nothing listens,
 * a firewall drops it, a wrong advertised address). Retryable like any PeerError; the workflow
 * also leaves that member's trainer out of the next groups for a while, as the same group
 * would fail the same way.
 */
export class PeerUnreachableError extends PeerError {
  override readonly name: string = 'PeerUnreachableError';
}
export const PEER_UNREACHABLE_ERROR = 'PeerUnreachableError';

/**
 * Replicas that must hold identical bytes do not (a weights hash mismatch between ranks).
 * Retrying would compute the same divergence again, so it is final.
 */
export class DeterminismError extends SeqtrainError {
  override readonly name = 'DeterminismError';
}

/** Storage or a service refused the credentials (HTTP 401/403): retrying cannot help. */
export class PermissionError extends SeqtrainError {
  override readonly name = 'PermissionError';
}

/**
 * A bug: a TypeError, ReferenceError or SyntaxError (a parse of bytes we wrote), or a RangeError
 * such as an allocation the machine cannot make. The same input fails the same way again.
 */
export class InternalError extends SeqtrainError {
  override readonly name = 'InternalError';
}

/** The failure type workflows give bad input (ApplicationFailure type), as the activities' class is named. */
export const BAD_INPUT_ERROR = 'BadInputError';

/** Error type names that must not be retried by Temporal. */
export const NON_RETRYABLE_ERROR_TYPES = [
  BAD_INPUT_ERROR,
  'CorruptDataError',
  'NotFoundError',
  'DeterminismError',
  'PermissionError',
  'InternalError',
] as const;

const BUG_ERRORS = new Set(['TypeError', 'ReferenceError', 'SyntaxError', 'RangeError']);
/** Network failures that Node reports as TypeErrors (fetch) are faults that pass, not bugs. */
const NETWORK_MESSAGE = /fetch failed|socket|ECONN|ETIMEDOUT|EPIPE|EAI_AGAIN|network/i;

/**
 * Whether an error is deterministic: its type is one of NON_RETRYABLE_ERROR_TYPES, or it is a
 * JavaScript bug error (retrying a bug computes the same failure; it fails the run at once).
 */
export function isDeterministicError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if ((NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(err.name)) return true;
  return BUG_ERRORS.has(err.name) && !NETWORK_MESSAGE.test(err.message);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
