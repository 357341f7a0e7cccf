/** Saves a tfjs LayersModel (model.json + one weights file) under a BlobStore prefix. */
import type { LayersModel, io } from '@tensorflow/tfjs';
import type { BlobStore } from '@seqtrain/storage';

export async function exportLayersModel(
  store: BlobStore,
  prefix: string,
  model: LayersModel,
): Promise<string[]> {
  let captured: io.ModelArtifacts | undefined;
  await model.save({
    save: (artifacts: io.ModelArtifacts) => {
      captured = artifacts;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    },
  });
  if (!captured?.modelTopology || !captured.weightSpecs || !captured.weightData)
    throw new Error('model.save produced no topology or weights');
  const weightData = captured.weightData;
  const weights = new Uint8Array(Array.isArray(weightData) ? concat(weightData) : weightData);
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'seqtrain',
    convertedBy: null,
    modelTopology: captured.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: captured.weightSpecs }],
  };
  // Weights first, model.json last: a reader that finds model.json finds its weights.
  await store.put(`${prefix}weights.bin`, weights, { contentType: 'application/octet-stream' });
  await store.put(`${prefix}model.json`, JSON.stringify(modelJson), { contentType: 'application/json' });
  return ['model.json', 'weights.bin'];
}

function concat(buffers: ArrayBuffer[]): ArrayBuffer {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let o = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), o);
    o += b.byteLength;
  }
  return out.buffer;
}
