/** The CLI's own entry point, for the processes it starts (workers, tests). */
import { fileURLToPath } from 'node:url';

export { tsxLoader } from '@seqtrain/local-stack/node-process';

export function cliMainPath(): string {
  return fileURLToPath(new URL('./main.ts', import.meta.url));
}
