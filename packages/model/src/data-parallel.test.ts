import { beforeAll, describe, expect, it } from 'vitest';
import { parseTrainSpec } from '@seqtrain/contracts';
import type { SequenceBatch, TrainSpec } from '@seqtrain/contracts';
import {
  applyGradients,
  averageGradients,
  buildModel,
  computeGradients,
  decodeCheckpoint,
  decodeGradients,
  encodeCheckpoint,
  encodeGradients,
  initCheckpoint,
} from './index';
import type { Checkpoint } from './index';
import { useFastestCpuBackend } from './test-backend';
import { weather } from './test-data';

const STEPS = 20;
const MICRO = 12; // divisible by 2, 3 and 4 so every worker owns a contiguous, equal range
const data = weather({ window: 8, perStep: false, batchSize: 4 });

function specFor(cell: 'lstm' | 'gru'): TrainSpec {
  return parseTrainSpec({
    name: 'exact',
    dataset: 'seattle-weather',
    task: 'regression',
    model: { cell, units: [8, 6], dropout: 0.2, recurrentDropout: 0.1 },
    training: { optimizer: { name: 'adam', learningRate: 0.01 }, batchSize: 4, microBatches: MICRO, seed: 5, clipNorm: 5 },
  });
}

function roundBatches(step: number): SequenceBatch[] {
  return Array.from({ length: MICRO }, (_, i) => data.train[(step * MICRO + i) % data.train.length]!);
}

/** One process: all micro-batches of a round in one computeGradients call. */
function singleProcess(spec: TrainSpec): Checkpoint {
  const m = buildModel(spec.model, spec.task, data.signature, spec.training.seed);
  let ckpt = initCheckpoint(m, spec.training);
  for (let s = 0; s < STEPS; s++) {
    const part = computeGradients(m, ckpt, roundBatches(s));
    ckpt = applyGradients(ckpt, averageGradients([part]), spec.training).checkpoint;
  }
  m.dispose();
  return ckpt;
}

/** N workers, each with its own model instance, exchanging only bytes (checkpoint and gradient codecs). */
function workers(spec: TrainSpec, n: number): Checkpoint {
  const models = Array.from({ length: n }, () => buildModel(spec.model, spec.task, data.signature, spec.training.seed));
  let ckptBytes = encodeCheckpoint(initCheckpoint(models[0]!, spec.training));
  const per = MICRO / n;
  for (let s = 0; s < STEPS; s++) {
    const batches = roundBatches(s);
    const parts = models.map((m, w) => {
      const ckpt = decodeCheckpoint(ckptBytes);
      return encodeGradients(computeGradients(m, ckpt, batches.slice(w * per, (w + 1) * per), { firstMicroBatch: w * per }));
    });
    const applied = applyGradients(decodeCheckpoint(ckptBytes), averageGradients(parts.map(decodeGradients)), spec.training);
    ckptBytes = encodeCheckpoint(applied.checkpoint);
  }
  models.forEach((m) => m.dispose());
  return decodeCheckpoint(ckptBytes);
}

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

beforeAll(async () => {
  await useFastestCpuBackend();
});

describe('exact data-parallel gradient averaging', () => {
  for (const cell of ['lstm', 'gru'] as const) {
    it(`${cell}: 2, 3 and 4 workers give weights bit-identical to one process over ${STEPS} Adam steps`, () => {
      const spec = specFor(cell);
      const reference = singleProcess(spec);
      const initial = initCheckpoint(buildModel(spec.model, spec.task, data.signature, spec.training.seed), spec.training);
      expect(reference.step).toBe(STEPS);
      // training moved the weights (otherwise equality would prove nothing)
      expect(bytes(reference.weights).equals(bytes(initial.weights))).toBe(false);
      for (const n of [2, 3, 4]) {
        const result = workers(spec, n);
        expect(result.step).toBe(STEPS);
        expect(bytes(result.weights).equals(bytes(reference.weights)), `${n} workers: weights`).toBe(true);
        result.optimizer.slots.forEach((slot, i) => expect(bytes(slot).equals(bytes(reference.optimizer.slots[i]!)), `${n} workers: slot ${i}`).toBe(true));
        expect(bytes(result.optimizer.scalars).equals(bytes(reference.optimizer.scalars))).toBe(true);
      }
    });
  }
});
