/**
 * Bearer tokens with scopes, from configuration: `SEQTRAIN_REGISTRY_TOKENS="tokA:read,tokB:read+write"`.
 * Tokens are compared through their SHA-256 digests with a constant-time comparison, so neither
 * the comparison time nor an error message reveals a token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BadInputError } from '@seqtrain/contracts';

export type Scope = 'read' | 'write';

export interface TokenEntry {
  digest: Buffer;
  scopes: ReadonlySet<Scope>;
  /** Short, non-secret id for audit logs (first 8 hex of the digest). */
  id: string;
}

export type TokenTable = readonly TokenEntry[];

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Parses the token list; `write` does not imply `read` unless written `read+write`. */
export function parseRegistryTokens(spec: string | undefined): TokenTable {
  if (spec === undefined || spec.trim() === '') return [];
  return spec.split(',').map((item, i) => {
    const colon = item.lastIndexOf(':');
    const token = colon < 0 ? '' : item.slice(0, colon).trim();
    const scopeText = colon < 0 ? '' : item.slice(colon + 1).trim();
    if (token.length < 8) {
      throw new BadInputError(
        `SEQTRAIN_REGISTRY_TOKENS entry ${i + 1}: expected TOKEN:SCOPES with a token of at least 8 characters`,
      );
    }
    const scopes = new Set<Scope>();
    for (const s of scopeText.split('+')) {
      if (s !== 'read' && s !== 'write') {
        throw new BadInputError(
          `SEQTRAIN_REGISTRY_TOKENS entry ${i + 1}: scope ${JSON.stringify(s)} is not read or write`,
        );
      }
      scopes.add(s);
    }
    const digest = digestOf(token);
    return { digest, scopes, id: digest.toString('hex').slice(0, 8) };
  });
}

export type AuthResult = { ok: true; entry: TokenEntry } | { ok: false; status: 401 | 403; message: string };

export function authorize(table: TokenTable, header: string | undefined, scope: Scope): AuthResult {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return { ok: false, status: 401, message: 'missing bearer token' };
  const digest = digestOf(m[1]);
  // Compare against every entry so the time does not depend on which one matches.
  let found: TokenEntry | undefined;
  for (const entry of table) if (timingSafeEqual(entry.digest, digest) && !found) found = entry;
  if (!found) return { ok: false, status: 401, message: 'invalid bearer token' };
  if (!found.scopes.has(scope)) return { ok: false, status: 403, message: `token lacks the ${scope} scope` };
  return { ok: true, entry: found };
}
