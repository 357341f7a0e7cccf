/** Child-process entry for the embedded S3 server: `s3-server-main.ts <dir> <port> <bucket>`. */
import { startLocalS3 } from './s3-server';

const [dir, port, bucket] = process.argv.slice(2);
if (!dir || !port || !bucket) {
  process.stderr.write('usage: s3-server-main <dir> <port> <bucket>\n');
  process.exit(2);
}
const server = await startLocalS3({ dir, port: Number(port), bucket }).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
process.stdout.write(`local S3 listening on ${server.endpoint}, bucket ${bucket}, data in ${dir}\n`);
const stop = (): void => {
  void server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
