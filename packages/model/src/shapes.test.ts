/**
 * Every shape x cell trains on a slice of a real dataset and beats the trivial baseline of its task,
 * through the same computeGradients -> averageGradients -> applyGradients path the workers use.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseTrainSpec } from '@seqtrain/contracts';
import type { Cell, DatasetSignature, SequenceBatch, TrainSpec } from '@seqtrain/contracts';
import {
  applyGradients,
  averageGradients,
  buildModel,
  computeGradients,
  evaluate,
  initCheckpoint,
  setFlatWeights,
} from './index';
import type { EvalResult } from './index';
import { useFastestCpuBackend } from '../test/test-backend';
import { cmudict, names, spamSubjects, weather } from '../test/test-data';

function train(
  spec: TrainSpec,
  signature: DatasetSignature,
  batches: SequenceBatch[],
  steps: number,
  test: SequenceBatch[],
): EvalResult {
  const m = buildModel(spec.model, spec.task, signature, spec.training.seed);
  let ckpt = initCheckpoint(m, spec.training);
  for (let s = 0; s < steps; s++) {
    const part = computeGradients(m, ckpt, [batches[s % batches.length]!]);
    ckpt = applyGradients(ckpt, averageGradients([part]), spec.training).checkpoint;
  }
  setFlatWeights(m, ckpt.weights);
  const result = evaluate(m, test);
  m.dispose();
  return result;
}

function spec(task: TrainSpec['task'], model: Record<string, unknown>, lr = 0.01): TrainSpec {
  return parseTrainSpec({
    name: 'shape-test',
    dataset: 'slice',
    task,
    model,
    training: { optimizer: { name: 'adam', learningRate: lr }, clipNorm: 1, seed: 3 },
  });
}

const CELLS: Cell[] = ['lstm', 'gru', 'simpleRNN'];

beforeAll(async () => {
  await useFastestCpuBackend();
});

describe('many-to-one: spam subject classification', () => {
  const data = spamSubjects({ maxLength: 32, perClass: [450, 300], batchSize: 32 });
  for (const cell of CELLS) {
    it(`${cell} beats the majority class`, () => {
      const r = train(
        spec('classification', { cell, units: [24], embedding: 16 }),
        data.signature,
        data.train,
        120,
        data.test,
      );
      expect(r.metrics.accuracy).toBeGreaterThan(data.majorityAccuracy + 0.05);
    });
  }
});

describe('many-to-many aligned: per-step temperature forecast', () => {
  const data = weather({ window: 10, perStep: true, batchSize: 32 });
  for (const cell of CELLS) {
    it(`${cell} beats persistence`, () => {
      const r = train(spec('regression', { cell, units: [16] }), data.signature, data.train, 150, data.test);
      expect(r.metrics.mse).toBeLessThan(data.persistenceMse);
    });
  }
});

describe('one-to-many: first names conditioned on female/male', () => {
  const data = names({ maxLength: 10, perClass: 600, batchSize: 32 });
  for (const cell of CELLS) {
    it(`${cell} beats unigram perplexity`, () => {
      const r = train(
        spec('generation', { cell, units: [32], embedding: 16 }),
        data.signature,
        data.train,
        150,
        data.test,
      );
      expect(r.metrics.perplexity).toBeLessThan(data.unigramPerplexity * 0.9);
    });
  }
});

describe('sequence-to-sequence: spelling -> phonemes', () => {
  const data = cmudict({ count: 1500, srcLen: 7, tgtLen: 9, batchSize: 32 });
  for (const cell of CELLS) {
    it(`${cell} beats per-position majority token accuracy`, () => {
      const r = train(
        spec('seq2seq', { cell, units: [32], embedding: 16 }),
        data.signature,
        data.train,
        200,
        data.test,
      );
      expect(r.metrics.tokenAccuracy).toBeGreaterThan(data.majorityTokenAccuracy + 0.05);
    });
  }
});
