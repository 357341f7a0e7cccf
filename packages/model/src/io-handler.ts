/**
 * Save and load the tfjs LayersModel format (model.json + one weight file) through the BlobStore,
 * so that the registry can serve it and any client can `tf.loadLayersModel(url)` it. The weight
 * file is written before model.json: a reader that sees model.json always finds its weights.
 */
import * as tf from '@tensorflow/tfjs';
import { CorruptDataError, parseModelJson } from '@seqtrain/contracts';
import type { BlobStore } from '@seqtrain/storage';
import type { SeqModel } from './build-model';
import { setFlatWeights } from './build-model';
import { patchRnnKwargs } from './tfjs-patches';

/** The one weight file name of a saved model (model.json lists it; older saves named theirs group1-shard1of1.bin and still load). */
export const MODEL_WEIGHTS_FILE = 'weights.bin';
const WEIGHTS_FILE = MODEL_WEIGHTS_FILE;

const join = (prefix: string, name: string): string =>
  prefix === '' ? name : `${prefix.replace(/\/+$/, '')}/${name}`;

function concat(data: tf.io.WeightData): Uint8Array {
  const buffers = Array.isArray(data) ? data : [data];
  const total = buffers.reduce((a, b) => a + b.byteLength, 0);
  const out = new Uint8Array(total);
  let pos = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), pos);
    pos += b.byteLength;
  }
  return out;
}

/**
 * model.json and the one weight file (MODEL_WEIGHTS_FILE) for what a tfjs save hands over: the
 * form of every model seqtrain saves, and what the registry serves byte for byte.
 */
export function layersModelFiles(artifacts: tf.io.ModelArtifacts): {
  modelJson: string;
  weights: Uint8Array;
} {
  const weights = artifacts.weightData ? concat(artifacts.weightData) : new Uint8Array(0);
  const modelJson = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
    ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
  };
  return { modelJson: JSON.stringify(modelJson), weights };
}

/**
 * Reads and writes a layers model under `prefix`. `read`, when given, reads the files instead
 * (e.g. the registry's reader, which checks every file against the card's sha256).
 */
export function blobStoreIOHandler(
  store: BlobStore,
  prefix: string,
  read: (file: string) => Promise<Uint8Array> = (file) => store.get(join(prefix, file)),
): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const { modelJson: text, weights } = layersModelFiles(artifacts);
      await store.put(join(prefix, WEIGHTS_FILE), weights, { contentType: 'application/octet-stream' });
      await store.put(join(prefix, 'model.json'), text, { contentType: 'application/json' });
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: weights.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = parseModelJson(
        await read('model.json'),
        `${store.describe}/${join(prefix, 'model.json')}`,
      );
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Uint8Array[] = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const path of group.paths) buffers.push(await read(path));
      }
      const joined = concat(
        buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer),
      );
      const weightData = joined.buffer.slice(
        joined.byteOffset,
        joined.byteOffset + joined.byteLength,
      ) as ArrayBuffer;
      const expected = weightSpecs.reduce(
        (a, w) =>
          a + w.shape.reduce((x, d) => x * d, 1) * (w.dtype === 'int32' || w.dtype === 'float32' ? 4 : 1),
        0,
      );
      if (expected !== weightData.byteLength) {
        throw new CorruptDataError(
          `${join(prefix, 'model.json')}: weights hold ${weightData.byteLength} bytes, manifest needs ${expected}`,
        );
      }
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs,
        weightData,
      };
    },
  };
}

/** Writes the served model (probabilities / values) with the given flat weights. */
export async function saveModel(
  m: SeqModel,
  weights: Float32Array,
  store: BlobStore,
  prefix: string,
): Promise<void> {
  setFlatWeights(m, weights);
  await m.model.save(blobStoreIOHandler(store, prefix));
}

export async function loadModel(
  store: BlobStore,
  prefix: string,
  read?: (file: string) => Promise<Uint8Array>,
): Promise<tf.LayersModel> {
  patchRnnKwargs();
  return tf.loadLayersModel(blobStoreIOHandler(store, prefix, read));
}
