/**
 * Canonical JSON, the one home for every digest over JSON (dataset digests, spec hashes, run
 * keys): object keys sorted at every level, no whitespace, numbers and strings as JSON.stringify
 * writes them. For JSON values this is RFC 8785 (JCS): keys ordered by UTF-16 code units and
 * ECMAScript number formatting, so any JCS implementation recomputes the same bytes, and with them
 * a dataset's public digest (canonical-json.test.ts checks the RFC's own example).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
