/**
 * `tsx infra/local/src/provision/main.ts`: everything native the stack needs beyond `pnpm
 * install`, fetched only from package registries and cached under ~/.cache/seqtrain (or
 * SEQTRAIN_CACHE): the Temporal CLI, the tfjs-node addon built against TensorFlow 2.21,
 * the local S3 server (versitygw, built with go install) and seqtrain's own LSTM kernels.
 * A no-op when all are in place.
 */
import { errorMessage, loadConfig } from '@seqtrain/contracts';
import { ensureTemporalCli } from './temporal-cli';
import { ensureChromium } from './chromium';
import { ensureCudaKernels } from './cuda-kernels';
import { ensureRnnKernels } from './seqtrain-kernels';
import { ensureS3ServerBinary } from './s3-server-bin';
import { ensureTfjsNode } from './tfjs-node';

const started = Date.now();
const log = (msg: string): void => void process.stderr.write(`[provision] ${msg}\n`);
try {
  const config = loadConfig(process.env);
  const cli = await ensureTemporalCli({ cacheDir: config.cacheDir, explicit: config.temporalCli, log });
  if (!cli)
    log(
      'no Temporal CLI could be installed: tests and `seqtrain up` will let the SDK download it (needs internet)',
    );
  else log(`Temporal CLI: ${cli}`);
  const addon = await ensureTfjsNode({ cacheDir: config.cacheDir, log });
  log(`tfjs-node: ${JSON.stringify(addon)}`);
  log(`local S3 server: ${await ensureS3ServerBinary({ cacheDir: config.cacheDir, log })}`);
  log(`rnn kernels: ${await ensureRnnKernels({ cacheDir: config.cacheDir, log })}`);
  // Only where nvcc, cuDNN and a GPU are found; otherwise a few stat calls and the reason recorded.
  const cuda = await ensureCudaKernels({ cacheDir: config.cacheDir, log }).catch(
    (err: unknown) => `not built: ${errorMessage(err)}`,
  );
  log(`cuda kernels: ${cuda}`);
  const browser = await ensureChromium({ cacheDir: config.cacheDir, log });
  log(`chromium (browser tests): ${'path' in browser ? browser.path : `none: ${browser.reason}`}`);
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  log(`failed: ${errorMessage(err)}`);
  process.exitCode = 1;
}
