import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptDataError, parseTrainSpec } from '@seqtrain/contracts';
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
  batchTensors,
  loadModel,
  runGraph,
  saveModel,
} from './index';
import type { SeqModel } from './index';
import { useFastestCpuBackend } from '../test/test-backend';
import { cmudict, names, weather } from '../test/test-data';

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

  it('a model.json that is not one (damaged or foreign) is a CorruptDataError naming the file and field', async () => {
    const data = weather({ window: 8, perStep: false, batchSize: 16 });
    const m = trained(mk('regression', { cell: 'gru', units: [4] }), data.signature, data.train, 1);
    await saveModel(m, weightsOf(m), store, 'models/broken/v1');
    const good = JSON.parse(
      Buffer.from(await store.get('models/broken/v1/model.json')).toString('utf8'),
    ) as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      [{ ...good, weightsManifest: undefined }, /models\/broken\/v1\/model.json: weightsManifest: /],
      [{ ...good, weightsManifest: [{ paths: [], weights: [] }] }, /weightsManifest\.0\.paths: /],
      [
        {
          ...good,
          weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [-1] }] }],
        },
        /weightsManifest\.0\.weights\.0\.shape\.0: /,
      ],
    ];
    for (const [json, message] of cases) {
      await store.put('models/broken/v1/model.json', JSON.stringify(json));
      const err = await loadModel(store, 'models/broken/v1').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CorruptDataError);
      expect(String(err)).toMatch(message);
    }
    await store.put('models/broken/v1/model.json', '{"modelTopology":');
    await expect(loadModel(store, 'models/broken/v1')).rejects.toThrow(/model.json: not valid JSON/);
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

  it('decodes many words in one forward pass per step, with the same answers as one word at a time', () => {
    const data = cmudict({ count: 200, srcLen: 7, tgtLen: 9, batchSize: 32 });
    const m = trained(
      mk('seq2seq', { cell: 'gru', units: [16], embedding: 8, bidirectional: false }),
      data.signature,
      data.train,
      3,
    );
    const words = ['cat', 'house', 'mountain', 'tree', 'a', 'zebra', 'ox', 'computer'];
    const layer = m.model.getLayer('dec0_gru') as unknown as { call: (...a: unknown[]) => unknown };
    const call = layer.call.bind(layer);
    let passes = 0;
    layer.call = (...a: unknown[]) => {
      passes++;
      return call(...a);
    };
    for (const beamWidth of [1, 3]) {
      const one = words.map((w) => decode(m.model, data.signature, [w], { beamWidth })[0]);
      passes = 0;
      const all = decode(m.model, data.signature, words, { beamWidth });
      expect(all).toEqual(one);
      // At most one pass per target position for the whole batch (the target has tgtLen - 1).
      expect(passes).toBeGreaterThan(0);
      expect(passes).toBeLessThanOrEqual(data.signature.y.shape[0]! - 1);
    }
    m.dispose();
  });

  it('training and decoding run each layer once per forward pass, with the outputs of tfjs apply', () => {
    const data = cmudict({ count: 100, srcLen: 7, tgtLen: 9, batchSize: 32 });
    const spec = mk('seq2seq', { cell: 'lstm', units: [8, 8], embedding: 4, bidirectional: true });
    const m = buildModel(spec.model, spec.task, data.signature, 1);
    const calls: Record<string, number> = {};
    for (const name of ['enc0_bi', 'enc1_bi', 'dec0_lstm']) {
      const layer = m.model.getLayer(name) as unknown as { call: (...a: unknown[]) => unknown };
      const call = layer.call.bind(layer);
      calls[name] = 0;
      layer.call = (...a: unknown[]) => {
        calls[name]!++;
        return call(...a);
      };
    }
    const ckpt = initCheckpoint(m, spec.training);
    computeGradients(m, ckpt, [data.train[0]!]);
    decode(m.model, data.signature, ['cat'], { beamWidth: 1 });
    expect(calls.dec0_lstm).toBeGreaterThan(1);
    // every pass runs each layer once: the encoders (5 outputs each) as often as the decoder
    expect(calls.enc0_bi).toBe(calls.dec0_lstm);
    expect(calls.enc1_bi).toBe(calls.dec0_lstm);
    // and computes what tfjs's own apply computes
    const t = batchTensors(m, data.test[0]!);
    const ours = runGraph(m.model, t.inputs, false) as tf.Tensor;
    const theirs = m.model.apply(t.inputs, { training: false }) as tf.Tensor;
    expect(Buffer.from(ours.dataSync().buffer).equals(Buffer.from(theirs.dataSync().buffer))).toBe(true);
    tf.dispose([ours, theirs, ...(Array.isArray(t.inputs) ? t.inputs : [t.inputs]), t.labels]);
    m.dispose();
  });
});
