import { BadInputError } from './errors';

// An ISO 8601 date or date-time; `new Date("1")` would read year 2001, so the form is checked first.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Parses an ISO 8601 time; anything else is a BadInputError naming `what` and the value. */
export function parseIsoTime(value: string, what: string): Date {
  const t = ISO_TIME.test(value.trim()) ? new Date(value.trim()) : new Date(NaN);
  if (Number.isNaN(t.getTime()))
    throw new BadInputError(
      `${what}=${JSON.stringify(value)} is not an ISO 8601 time (e.g. 2026-12-02 or 2026-12-02T13:30:00Z)`,
    );
  return t;
}
