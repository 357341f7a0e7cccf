/**
 * The data-parallel scenario shared by the exactness tests: one process vs N workers that exchange
 * only bytes (checkpoint and gradient codecs), each worker with its own model instance.
 */
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
} from '../src';
import type { Checkpoint } from '../src';
import { weather } from './test-data';

export const STEPS = 20;
const MICRO = 12; // divisible by 2, 3 and 4 so every worker owns a contiguous, equal range
export const data = weather({ window: 8, perStep: false, batchSize: 4 });

export function specFor(cell: 'lstm' | 'gru'): TrainSpec {
  return parseTrainSpec({
    name: 'exact',
    dataset: 'seattle-weather',
    task: 'regression',
    model: { cell, units: [8], dropout: 0.2, recurrentDropout: 0.1 },
    training: {
      optimizer: { name: 'adam', learningRate: 0.01 },
      batchSize: 4,
      microBatches: MICRO,
      seed: 5,
      clipNorm: 5,
    },
  });
}

function roundBatches(step: number): SequenceBatch[] {
  return Array.from({ length: MICRO }, (_, i) => data.train[(step * MICRO + i) % data.train.length]!);
}

/** One process: all micro-batches of a round in one computeGradients call. */
export function singleProcess(spec: TrainSpec): Checkpoint {
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
export function workers(spec: TrainSpec, n: number): Checkpoint {
  const models = Array.from({ length: n }, () =>
    buildModel(spec.model, spec.task, data.signature, spec.training.seed),
  );
  let ckptBytes = encodeCheckpoint(initCheckpoint(models[0]!, spec.training));
  const per = MICRO / n;
  for (let s = 0; s < STEPS; s++) {
    const batches = roundBatches(s);
    const parts = models.map((m, w) => {
      const ckpt = decodeCheckpoint(ckptBytes);
      return encodeGradients(
        computeGradients(m, ckpt, batches.slice(w * per, (w + 1) * per), { firstMicroBatch: w * per }),
      );
    });
    const applied = applyGradients(
      decodeCheckpoint(ckptBytes),
      averageGradients(parts.map(decodeGradients)),
      spec.training,
    );
    ckptBytes = encodeCheckpoint(applied.checkpoint);
  }
  models.forEach((m) => m.dispose());
  return decodeCheckpoint(ckptBytes);
}
