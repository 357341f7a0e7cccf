/**
 * JSON read back from S3 (plans, segment records, model.json, ...), parsed with its schema rather
 * than cast: a damaged or foreign object is a CorruptDataError naming the object and the field,
 * never a half-valid value used further on.
 */
import { firstIssue } from './config';
import { CorruptDataError, errorMessage } from './errors';

/** What a zod schema's safeParse returns (or a hand-written check of the same shape). */
export type Checked<T> =
  | { success: true; data: T }
  | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };

/** Parses `bytes` as JSON and checks it with `schema`; `where` names the object in the error. */
export function parseStoredJson<T>(
  bytes: Uint8Array,
  schema: { safeParse(v: unknown): Checked<T> },
  where: string,
): T {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch (err) {
    throw new CorruptDataError(`${where}: not valid JSON (${errorMessage(err)})`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new CorruptDataError(`${where}: ${firstIssue(r.error)}`);
  }
  return r.data;
}
