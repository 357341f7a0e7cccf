import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrainSpec } from '@seqtrain/contracts';
import type { DatasetSignature, SequenceBatch, TrainSpec } from '@seqtrain/contracts';
import { FsBlobStore } from '@seqtrain/storage';
import {
  applyGradients,
  averageGradients,
  buildModel,
  computeGradients,
  decode,
  generate,
  initCheckpoint,
  loadModel,
  saveModel,
} from './index';
import type { SeqModel } from './index';
import { useFastestCpuBackend } from './test-backend';
import { cmudict, names, weather } from './test-data';

const dir = mkdtempSync(join(tmpdir(), 'seqtrain-model-'));
const store = new FsBlobStore(dir);

function trained(
  spec: TrainSpec,
  signature: DatasetSignature,
  batches: SequenceBatch[],
  steps: number,
): SeqModel {
  const m = buildModel(spec.model, spec.task, signature, spec.training.seed);
  let ckpt = initCheckpoint(m, spec.training);
  for (let s = 0; s < steps; s++) {
    ckpt = applyGradients(
      ckpt,
      averageGradients([computeGradients(m, ckpt, [batches[s % batches.length]!])]),
      spec.training,
    ).checkpoint;
  }
  // leave the trained weights in the model (saveModel writes them again)
  (m as unknown as { last: Float32Array }).last = ckpt.weights;
  return m;
}
const weightsOf = (m: SeqModel): Float32Array => (m as unknown as { last: Float32Array }).last;

function predictAll(model: tf.LayersModel, inputs: tf.Tensor[]): Float32Array {
  return tf.tidy(
    () => (model.predict(inputs.length === 1 ? inputs[0]! : inputs) as tf.Tensor).dataSync() as Float32Array,
  );
}

const mk = (task: TrainSpec['task'], model: Record<string, unknown>): TrainSpec =>
  parseTrainSpec({
    name: 'save-load',
    dataset: 'slice',
    task,
    model,
    training: { optimizer: { name: 'adam', learningRate: 0.01 }, seed: 9 },
  });

beforeAll(async () => {
  await useFastestCpuBackend();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('save and load through the BlobStore', () => {
  it('a forecaster saved and loaded predicts identically, and plain tf.loadLayersModel reads it over HTTP', async () => {
    const data = weather({ window: 8, perStep: false, batchSize: 16 });
    const m = trained(
      mk('regression', { cell: 'lstm', units: [8], bidirectional: true }),
      data.signature,
      data.train,
      5,
    );
    await saveModel(m, weightsOf(m), store, 'models/forecast/v1');
    const x = tf.tensor(data.test[0]!.x.data, data.test[0]!.x.shape);
    const before = predictAll(m.model, [x]);
    const loaded = await loadModel(store, 'models/forecast/v1');
    expect(Buffer.from(predictAll(loaded, [x]).buffer).equals(Buffer.from(before.buffer))).toBe(true);

    // a static file server over the store's folder, as the registry or a CDN would serve it
    const server = createServer((req, res) => {
      const file = normalize(join(dir, decodeURIComponent((req.url ?? '/').split('?')[0]!)));
      if (!file.startsWith(dir) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        'content-type': file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      });
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const viaHttp = await tf.loadLayersModel(`http://127.0.0.1:${port}/models/forecast/v1/model.json`);
      expect(Buffer.from(predictAll(viaHttp, [x]).buffer).equals(Buffer.from(before.buffer))).toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    x.dispose();
    m.dispose();
  });

  it('a conditioned name generator (2 state-initialised layers) round-trips and generates the same names', async () => {
    const data = names({ maxLength: 10, perClass: 200, batchSize: 32 });
    const m = trained(
      mk('generation', { cell: 'lstm', units: [16, 16], embedding: 8 }),
      data.signature,
      data.train,
      5,
    );
    await saveModel(m, weightsOf(m), store, 'models/names/v1');
    const loaded = await loadModel(store, 'models/names/v1');
    const options = { count: 4, condition: 'female', temperature: 0.8, seed: 1 };
    const a = generate(m.model, data.signature, options);
    expect(a).toHaveLength(4);
    expect(generate(loaded, data.signature, options)).toEqual(a);
    m.dispose();
  });

  it('a seq2seq model round-trips; greedy and beam decoding agree between original and loaded', async () => {
    const data = cmudict({ count: 300, srcLen: 7, tgtLen: 9, batchSize: 32 });
    const m = trained(
      mk('seq2seq', { cell: 'gru', units: [16], embedding: 8, bidirectional: true }),
      data.signature,
      data.train,
      5,
    );
    await saveModel(m, weightsOf(m), store, 'models/g2p/v1');
    const loaded = await loadModel(store, 'models/g2p/v1');
    for (const beamWidth of [1, 3]) {
      const words = ['cat', 'house'];
      const a = decode(m.model, data.signature, words, { beamWidth });
      expect(decode(loaded, data.signature, words, { beamWidth })).toEqual(a);
    }
    m.dispose();
  });
});
