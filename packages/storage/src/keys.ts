import { BadInputError } from '@seqtrain/contracts';

/** Rejects keys that could escape a prefix or that S3 and filesystems treat differently. */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0)
    throw new BadInputError(`blob key must be a non-empty string, got ${JSON.stringify(key)}`);
  if (key.length > 1024)
    throw new BadInputError(`blob key is longer than 1024 characters: ${key.slice(0, 64)}...`);
  if (key.startsWith('/') || key.endsWith('/'))
    throw new BadInputError(`blob key must not start or end with '/': ${JSON.stringify(key)}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\\]/.test(key))
    throw new BadInputError(`blob key contains a control character or backslash: ${JSON.stringify(key)}`);
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new BadInputError(`blob key has an empty, '.' or '..' segment: ${JSON.stringify(key)}`);
    }
  }
}

export function assertValidRange(key: string, start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new BadInputError(`invalid byte range [${start}, ${end}] for ${key}`);
  }
}

export function toBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? new TextEncoder().encode(body) : body;
}
