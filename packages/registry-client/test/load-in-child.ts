/**
 * Test fixture run as a separate Node process (`node --import tsx load-in-child.ts URL TOKEN`):
 * loads a model the way another service would and prints its predictions for the input read
 * from stdin ({ shape, values }) as one JSON line. Not exported from the package.
 */
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../src/load-model';

async function main(): Promise<void> {
  const [baseUrl, token] = process.argv.slice(2);
  if (!baseUrl || !token) throw new Error('usage: load-in-child.ts BASE_URL TOKEN < input.json');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { shape: number[]; values: number[] };

  // Exactly what the brief promises other services: tf.loadLayersModel on the alias URL.
  const direct = await tf.loadLayersModel(`${baseUrl}/v1/models/weather/aliases/production/model.json`, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const viaClient = await loadModel('weather@production', { baseUrl, token });
  const x = tf.tensor(input.values, input.shape);
  const a = direct.predict(x) as tf.Tensor;
  const b = viaClient.model.predict(x) as tf.Tensor;
  process.stdout.write(
    `${JSON.stringify({ direct: Array.from(a.dataSync()), client: Array.from(b.dataSync()), version: viaClient.version, runKey: viaClient.card.runKey })}\n`,
  );
  tf.dispose([x, a, b]);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
