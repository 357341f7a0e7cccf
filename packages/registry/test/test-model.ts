/**
 * Test support: a tiny seeded LSTM model and a valid card, shared by this package's tests.
 * Not exported from the package entry.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelCardInput } from '@seqtrain/contracts';
import { layersModelFiles, MODEL_WEIGHTS_FILE } from '@seqtrain/model';
import type { ModelFiles } from '../src/artifacts';

export function buildTinyLstm(seed: number): tf.LayersModel {
  const model = tf.sequential();
  model.add(
    tf.layers.lstm({
      units: 4,
      inputShape: [5, 2],
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      recurrentInitializer: tf.initializers.orthogonal({ seed: seed + 1 }),
    }),
  );
  model.add(
    tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }),
  );
  return model;
}

export async function modelFiles(model: tf.LayersModel): Promise<ModelFiles> {
  let files: ModelFiles | undefined;
  await model.save(
    tf.io.withSaveHandler((artifacts) => {
      const { modelJson, weights } = layersModelFiles(artifacts);
      files = { modelJson, weightFiles: new Map([[MODEL_WEIGHTS_FILE, weights]]) };
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  if (!files) throw new Error('model.save did not call the save handler');
  return files;
}

export function testCard(overrides: Partial<ModelCardInput> = {}): ModelCardInput {
  return {
    spec: { name: 'tiny', task: 'regression', model: { cell: 'lstm', units: [4] } },
    hyperparameters: { learningRate: 0.001, batchSize: 8 },
    metrics: { val_loss: 0.25 },
    dataset: { name: 'toy', digest: 'sha256-abc' },
    codeVersion: 'deadbeef',
    workflowId: 'train-tiny',
    backend: 'cpu',
    libraryVersions: { '@tensorflow/tfjs': tf.version.tfjs },
    ...overrides,
  };
}

/** A deterministic input batch [n, 5, 2]. */
export function probeInput(n = 3): tf.Tensor3D {
  const values = Array.from({ length: n * 10 }, (_, i) => Math.sin(i * 0.7));
  return tf.tensor3d(values, [n, 5, 2]);
}
