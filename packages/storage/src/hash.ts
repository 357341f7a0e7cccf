/** The one sha256 of the code base: hex digests of stored bytes (parts, weights, checkpoints). */
import { createHash } from 'node:crypto';

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
