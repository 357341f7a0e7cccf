/**
 * A separate Node process loads the production model through the registry HTTP API and must
 * predict exactly what the trainer's in-memory model predicts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layersModelFiles, MODEL_WEIGHTS_FILE } from '@seqtrain/model';
import { startTestStack, type TestStack } from '@seqtrain/local-stack';
import { BadInputError, NotFoundError, type ModelCardInput } from '@seqtrain/contracts';
import {
  InProcessCoordinator,
  ModelRegistry,
  parseRegistryTokens,
  startRegistryServer,
  type ModelFiles,
  type RunningRegistryServer,
} from '@seqtrain/registry';
import { createBlobStore, type S3BlobStore } from '@seqtrain/storage';
import { loadModel, resolveModel } from './index';

const TOKEN = 'service-read-token';
const CHILD = fileURLToPath(new URL('../test/load-in-child.ts', import.meta.url));

let stack: TestStack;
let store: S3BlobStore;
let server: RunningRegistryServer;
let trainer: tf.LayersModel;
let other: tf.LayersModel;

function lstm(seed: number): tf.LayersModel {
  const m = tf.sequential();
  m.add(
    tf.layers.lstm({
      units: 6,
      inputShape: [4, 3],
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      recurrentInitializer: tf.initializers.orthogonal({ seed }),
    }),
  );
  m.add(tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }));
  return m;
}

async function files(model: tf.LayersModel): Promise<ModelFiles> {
  let out: ModelFiles | undefined;
  await model.save(
    tf.io.withSaveHandler((a) => {
      const { modelJson, weights } = layersModelFiles(a);
      out = { modelJson, weightFiles: new Map([[MODEL_WEIGHTS_FILE, weights]]) };
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  return out as ModelFiles;
}

const card = (workflowId: string): ModelCardInput => ({
  spec: { name: 'weather' },
  metrics: { val_loss: 0.1 },
  dataset: { name: 'seattle-weather', digest: 'd1' },
  codeVersion: 'c0ffee',
  workflowId,
  backend: 'cpu',
});

function runChild(
  baseUrl: string,
  input: { shape: number[]; values: number[] },
): Promise<{ direct: number[]; client: number[]; version: number; runKey: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, baseUrl, TOKEN], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`child exited with ${code}: ${err}`));
      else
        resolve(
          JSON.parse(out.trim().split('\n').at(-1) ?? '') as {
            direct: number[];
            client: number[];
            version: number;
            runKey: string;
          },
        );
    });
    child.stdin.end(JSON.stringify(input));
  });
}

beforeAll(async () => {
  stack = await startTestStack({});
  store = createBlobStore(stack.config);
  const registry = new ModelRegistry(store, new InProcessCoordinator(store));
  trainer = lstm(5);
  other = lstm(99);
  // Version 1 is another model; production points at the trainer's (version 2) so that a wrong
  // resolution would show up as different predictions.
  await registry.registerModel({
    name: 'weather',
    runKey: 'other',
    artifacts: await files(other),
    card: card('other'),
  });
  await registry.registerModel({
    name: 'weather',
    runKey: 'trainer',
    artifacts: await files(trainer),
    card: card('trainer'),
  });
  await registry.promote('weather', 'production', 2, { reason: 'best val_loss', actor: 'test' });
  server = await startRegistryServer({ registry, tokens: parseRegistryTokens(`${TOKEN}:read`) });
});

afterAll(async () => {
  await server?.close();
  store?.destroy();
  await stack?.stop();
});

describe('loading from the registry', () => {
  it('another process loads name@production with tf.loadLayersModel and predicts exactly what the trainer predicts', async () => {
    const shape = [3, 4, 3];
    const values = Array.from({ length: 36 }, (_, i) => Math.cos(i * 0.37) * 2);
    const expected = tf.tidy(() =>
      Array.from((trainer.predict(tf.tensor(values, shape)) as tf.Tensor).dataSync()),
    );
    const notExpected = tf.tidy(() =>
      Array.from((other.predict(tf.tensor(values, shape)) as tf.Tensor).dataSync()),
    );
    expect(expected).not.toEqual(notExpected);

    const child = await runChild(server.url, { shape, values });
    expect(child.direct).toEqual(expected);
    expect(child.client).toEqual(expected);
    expect(child).toMatchObject({ version: 2, runKey: 'trainer' });
  });

  it('loadModel resolves versions, aliases and latest, and reports auth and missing models', async () => {
    const o = { baseUrl: server.url, token: TOKEN };
    expect((await resolveModel('weather@1', o)).runKey).toBe('other');
    expect((await resolveModel('weather', o)).version).toBe(2);
    const loaded = await loadModel('weather@production', o);
    expect(loaded.version).toBe(2);
    loaded.model.dispose();
    await expect(resolveModel('weather@7', o)).rejects.toBeInstanceOf(NotFoundError);
    await expect(resolveModel('weather@production', { baseUrl: server.url })).rejects.toThrow(/HTTP 401/);
    await expect(resolveModel('../weather', o)).rejects.toBeInstanceOf(BadInputError);
  });
});
