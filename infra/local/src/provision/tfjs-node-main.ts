/**
 * `tsx infra/local/src/provision/tfjs-node-main.ts`: provisions the native TensorFlow addon offline
 * (see tfjs-node.ts). The bootstrap script calls it after `pnpm install`; it is a no-op when done.
 */
import { errorMessage, loadConfig } from '@seqtrain/contracts';
import { ensureTfjsNode } from './tfjs-node';

const started = Date.now();
try {
  const { cacheDir } = loadConfig(process.env);
  const addon = await ensureTfjsNode({ cacheDir, log: (msg) => console.error(msg) });
  console.error(`tfjs-node: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(JSON.stringify(addon));
} catch (err) {
  console.error(`tfjs-node: ${errorMessage(err)}`);
  process.exitCode = 1;
}
