import { createHash } from 'node:crypto';
import type { SmokeInput, SmokeResult } from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';

export interface SmokeDeps {
  store: BlobStore;
}

export function createSmokeActivities({ store }: SmokeDeps) {
  return {
    async smokeWriteRead(input: SmokeInput): Promise<SmokeResult> {
      await store.put(input.key, input.text, { contentType: 'text/plain' });
      const bytes = await store.get(input.key);
      return {
        key: input.key,
        bytes: bytes.byteLength,
        readBack: new TextDecoder().decode(bytes),
        sha256: createHash('sha256').update(bytes).digest('hex'),
      };
    },
  };
}
export type SmokeActivities = ReturnType<typeof createSmokeActivities>;
