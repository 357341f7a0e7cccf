/**
 * Checks that a model spec fits a task and a dataset signature before anything is built, so a bad
 * spec fails in the first activity with a message naming the field and the value, not deep in tfjs.
 */
import { BadInputError } from '@seqtrain/contracts';
import type { DatasetKind, DatasetSignature, ModelSpec, Task } from '@seqtrain/contracts';

export const TASK_FOR_KIND: Record<DatasetKind, Task> = {
  timeseries: 'regression',
  'text-class': 'classification',
  sequence: 'generation',
  seq2seq: 'seq2seq',
};

function fail(field: string, value: unknown, problem: string): never {
  throw new BadInputError(`${field}=${JSON.stringify(value)}: ${problem}`);
}

function positiveDims(field: string, shape: readonly number[], rank: number): void {
  if (shape.length !== rank || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    fail(field, shape, `expected ${rank} positive dimension${rank === 1 ? '' : 's'}`);
  }
}

export function validateDefinition(task: Task, model: ModelSpec, signature: DatasetSignature): void {
  const expected = TASK_FOR_KIND[signature.kind];
  if (task !== expected) {
    fail('task', task, `does not fit dataset kind '${signature.kind}' (expected task '${expected}')`);
  }
  model.units.forEach((u, i) => {
    if (!Number.isInteger(u) || u <= 0) fail(`model.units.${i}`, u, 'expected a positive integer');
  });
  if (model.units.length === 0) fail('model.units', model.units, 'expected at least one layer');
  if (!['lstm', 'gru', 'simpleRNN'].includes(model.cell))
    fail('model.cell', model.cell, "expected 'lstm', 'gru' or 'simpleRNN'");
  const tokens = signature.kind !== 'timeseries';
  if (!tokens && model.embedding !== undefined) {
    fail('model.embedding', model.embedding, "token inputs only; dataset kind 'timeseries' has float inputs");
  }
  if (tokens && model.embedding === undefined) {
    fail('model.embedding', undefined, `required for token inputs (dataset kind '${signature.kind}')`);
  }
  switch (signature.kind) {
    case 'timeseries': {
      if (signature.x.dtype !== 'float32')
        fail('signature.x.dtype', signature.x.dtype, 'timeseries inputs must be float32');
      positiveDims('signature.x.shape', signature.x.shape, 2);
      positiveDims('signature.y.shape', signature.y.shape, 1);
      if (signature.perStep && signature.y.shape[0] !== signature.x.shape[0]) {
        fail(
          'signature.y.shape',
          signature.y.shape,
          `per-step targets need one value per input step (${signature.x.shape[0]})`,
        );
      }
      break;
    }
    case 'text-class': {
      positiveDims('signature.x.shape', signature.x.shape, 1);
      if (signature.y.shape.length !== 0)
        fail('signature.y.shape', signature.y.shape, 'expected [] (one class index per example)');
      if (!signature.vocab) fail('signature.vocab', undefined, 'text-class datasets need a vocabulary');
      if (!signature.classes || signature.classes.length < 2)
        fail('signature.classes', signature.classes, 'need at least 2 classes');
      break;
    }
    case 'sequence': {
      positiveDims('signature.x.shape', signature.x.shape, 1);
      if (signature.y.shape.length !== 1 || signature.y.shape[0] !== signature.x.shape[0]) {
        fail(
          'signature.y.shape',
          signature.y.shape,
          `expected [${signature.x.shape[0]}] (inputs shifted by one)`,
        );
      }
      if (!signature.vocab) fail('signature.vocab', undefined, 'sequence datasets need a vocabulary');
      if (model.bidirectional)
        fail(
          'model.bidirectional',
          true,
          'a generator reads left to right; bidirectional is not possible for generation',
        );
      break;
    }
    case 'seq2seq': {
      positiveDims('signature.x.shape', signature.x.shape, 1);
      positiveDims('signature.y.shape', signature.y.shape, 1);
      if ((signature.y.shape[0] ?? 0) < 2)
        fail('signature.y.shape', signature.y.shape, 'targets need BOS plus at least one token');
      if (!signature.vocab) fail('signature.vocab', undefined, 'seq2seq datasets need a source vocabulary');
      if (!signature.targetVocab)
        fail('signature.targetVocab', undefined, 'seq2seq datasets need a target vocabulary');
      if (signature.targetVocab.bos === undefined || signature.targetVocab.eos === undefined) {
        fail(
          'signature.targetVocab',
          { bos: signature.targetVocab.bos, eos: signature.targetVocab.eos },
          'target vocabulary needs bos and eos ids',
        );
      }
      break;
    }
    default: {
      const never: never = signature.kind;
      fail('signature.kind', never, 'unknown dataset kind');
    }
  }
  if (
    signature.kind !== 'sequence' &&
    model.conditioning === 'repeat' &&
    model.conditionEmbedding !== undefined
  ) {
    fail('model.conditionEmbedding', model.conditionEmbedding, 'only used by conditioned generation');
  }
  const params = estimatedParams(model, signature);
  if (params > MAX_PARAMS) {
    const field = model.units.some((u) => u > 4096) || !model.embedding ? 'model.units' : 'model.embedding';
    fail(
      field,
      field === 'model.units' ? model.units : model.embedding,
      `the model would have about ${(params / 1e6).toFixed(0)} million parameters (${((params * 16) / 2 ** 30).toFixed(1)} GiB with gradients and Adam state); a trainer holds at most ${MAX_PARAMS / 1e6} million`,
    );
  }
}

/**
 * The most parameters a trainer builds. Weights, gradients and two Adam slots are 16 bytes per
 * parameter, so this is ~1.6 GiB before activations; past it, tfjs would fail an allocation deep
 * inside a kernel (or the machine would swap) instead of naming the field.
 */
export const MAX_PARAMS = 100_000_000;

/** The recurrent stack's parameter count, to within the head and biases: enough to refuse. */
export function estimatedParams(model: ModelSpec, signature: DatasetSignature): number {
  const gates = model.cell === 'lstm' ? 4 : model.cell === 'gru' ? 3 : 1;
  const directions = model.bidirectional ? 2 : 1;
  const vocab = signature.vocab?.tokens.length ?? 0;
  let input = signature.kind === 'timeseries' ? (signature.x.shape[1] ?? 1) : (model.embedding ?? 1);
  let n = vocab * (model.embedding ?? 0);
  for (const u of model.units) {
    n += directions * gates * (input * u + u * u + 2 * u);
    input = directions * u;
  }
  const outputs = Math.max(
    signature.targetVocab?.tokens.length ?? 0,
    vocab,
    signature.classes?.length ?? 0,
    1,
  );
  return n + input * outputs;
}
