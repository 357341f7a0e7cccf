/** Errors across the engine channel (protocol.ts), both ways. */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { WireError } from './protocol';

export function toWire(err: unknown): WireError {
  if (err instanceof CancelledFailure) return { kind: 'cancelled', message: err.message };
  if (err instanceof ApplicationFailure)
    return {
      kind: 'application',
      type: err.type ?? undefined,
      message: err.message,
      nonRetryable: err.nonRetryable ?? false,
    };
  if (err instanceof Error) return { kind: 'error', name: err.name, message: err.message, stack: err.stack };
  return { kind: 'error', name: 'Error', message: String(err), stack: undefined };
}

/** The error again, with its name (what the activity boundary and the workflow match on). */
export function fromWire(w: WireError): Error {
  if (w.kind === 'cancelled') return new CancelledFailure(w.message);
  if (w.kind === 'application')
    return ApplicationFailure.create({ type: w.type, message: w.message, nonRetryable: w.nonRetryable });
  const err = new Error(w.message);
  Object.defineProperty(err, 'name', {
    value: w.name,
    enumerable: false,
    configurable: true,
    writable: true,
  });
  if (w.stack) err.stack = w.stack;
  return err;
}
