/**
 * Child-process entry for the embedded S3 server under `seqtrain up`:
 * `s3-server-main.ts <dir> <port> <bucket>`. It runs versitygw as its own child (which dies with
 * it) and accepts the credentials the stack's clients sign with (config.s3).
 */
import { loadConfig, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY } from '@seqtrain/contracts';
import { startLocalS3 } from './s3-server';

const [dir, port, bucket] = process.argv.slice(2);
if (!dir || !port || !bucket) {
  process.stderr.write('usage: s3-server-main <dir> <port> <bucket>\n');
  process.exit(2);
}
const config = loadConfig(process.env);
const log = (msg: string): void => void process.stdout.write(`${msg}\n`);
const server = await startLocalS3({
  dir,
  port: Number(port),
  bucket,
  cacheDir: config.cacheDir,
  credentials: {
    accessKeyId: config.s3.accessKeyId || LOCAL_ACCESS_KEY,
    secretAccessKey: config.s3.secretAccessKey || LOCAL_SECRET_KEY,
  },
  log,
}).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
log(`local S3 listening on ${server.endpoint}, bucket ${bucket}, data in ${dir} (server pid ${server.pid})`);
const stop = (): void => {
  void server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The server going away on its own ends this process too, so `seqtrain status` sees it.
void server.exited.then((why) => {
  process.stderr.write(`${why}\n`);
  process.exit(1);
});
