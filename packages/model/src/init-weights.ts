/**
 * Seeded initial weights computed in JS, Keras defaults: glorot-uniform kernels, orthogonal
 * recurrent kernels, zero biases with LSTM forget-gate bias 1, uniform(-0.05, 0.05) embeddings.
 * Identified by weight name, which the builder controls.
 */
import type { Cell } from '@seqtrain/contracts';
import { createRng, mixSeed, orthogonalArray, uniformArray } from './seeded';

interface NamedShape {
  name: string;
  shape: number[];
  size: number;
}

export function initialWeights(specs: readonly NamedShape[], cell: Cell, seed: number): Float32Array {
  const total = specs.reduce((a, s) => a + s.size, 0);
  const out = new Float32Array(total);
  let offset = 0;
  specs.forEach((s, index) => {
    const rng = createRng(mixSeed(seed, index));
    const leaf = s.name.slice(s.name.lastIndexOf('/') + 1);
    let values: Float32Array;
    if (leaf.startsWith('embeddings')) {
      values = uniformArray(rng, s.size, 0.05);
    } else if (leaf.startsWith('recurrent_kernel')) {
      values = orthogonalArray(rng, s.shape[0]!, s.shape[1]!);
    } else if (leaf.startsWith('kernel')) {
      const fanIn = s.shape[0]!;
      const fanOut = s.shape[1]!;
      values = uniformArray(rng, s.size, Math.sqrt(6 / (fanIn + fanOut)));
    } else {
      values = new Float32Array(s.size);
      // Keras unit_forget_bias: LSTM gates are [i, f, c, o]; a forget bias of 1 keeps early gradients alive.
      if (cell === 'lstm' && leaf.startsWith('bias') && /_lstm/.test(s.name) && s.shape.length === 1) {
        const units = s.size / 4;
        values.fill(1, units, 2 * units);
      }
    }
    out.set(values, offset);
    offset += s.size;
  });
  return out;
}
