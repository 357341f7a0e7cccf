import { describe, expect, it } from 'vitest';
import { BadInputError, parseTrainSpec } from '@seqtrain/contracts';
import type { DatasetSignature } from '@seqtrain/contracts';
import { buildModel, validateDefinition } from './index';

const base = {
  name: 'w',
  dataset: 'seattle-weather',
  task: 'regression',
  model: { cell: 'lstm', units: [8] },
};
const timeseries: DatasetSignature = {
  kind: 'timeseries',
  x: { dtype: 'float32', shape: [14, 4] },
  y: { dtype: 'float32', shape: [1] },
};
const vocab = { tokenizer: 'char' as const, tokens: ['<pad>', 'a', 'b'], pad: 0 as const };
const textClass: DatasetSignature = {
  kind: 'text-class',
  x: { dtype: 'int32', shape: [20] },
  y: { dtype: 'int32', shape: [] },
  vocab,
  classes: ['ham', 'spam'],
};

function error(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('invalid specs fail naming the field and the value', () => {
  it.each([
    ['zero units', { ...base, model: { cell: 'lstm', units: [8, 0] } }, /model\.units\.1=0/],
    ['unknown cell', { ...base, model: { cell: 'transformer', units: [8] } }, /model\.cell="transformer"/],
    [
      'unknown key',
      { ...base, model: { cell: 'lstm', units: [8], recurentDropout: 0.1 } },
      /model\.recurentDropout: unknown key/,
    ],
    ['dropout of 1', { ...base, model: { cell: 'lstm', units: [8], dropout: 1 } }, /model\.dropout=1/],
    ['unknown task', { ...base, task: 'translation' }, /task="translation"/],
    [
      'unknown optimizer',
      { ...base, training: { optimizer: { name: 'adagrad', learningRate: 0.1 } } },
      /training\.optimizer\.name="adagrad"/,
    ],
    [
      'negative learning rate',
      { ...base, training: { optimizer: { name: 'sgd', learningRate: -1 } } },
      /training\.optimizer\.learningRate=-1/,
    ],
    [
      'cosine without decaySteps',
      { ...base, training: { schedule: { decay: 'cosine' } } },
      /training\.schedule\.decaySteps/,
    ],
  ])('%s', (_, input, message) => {
    const e = error(() => parseTrainSpec(input));
    expect(e).toBeInstanceOf(BadInputError);
    expect(e.message).toMatch(message);
  });

  it('a task that does not fit the dataset kind names task and kind', () => {
    const spec = parseTrainSpec({
      ...base,
      task: 'classification',
      model: { cell: 'gru', units: [8], embedding: 8 },
    });
    const e = error(() => buildModel(spec.model, spec.task, timeseries, 1));
    expect(e).toBeInstanceOf(BadInputError);
    expect(e.message).toMatch(/task="classification".*timeseries/);
  });

  it('token inputs without an embedding width name model.embedding', () => {
    const spec = parseTrainSpec({ ...base, task: 'classification' });
    expect(error(() => buildModel(spec.model, spec.task, textClass, 1)).message).toMatch(/model\.embedding/);
  });

  it('an embedding on float inputs names model.embedding and its value', () => {
    const spec = parseTrainSpec({ ...base, model: { cell: 'lstm', units: [8], embedding: 16 } });
    expect(error(() => buildModel(spec.model, spec.task, timeseries, 1)).message).toMatch(
      /model\.embedding=16/,
    );
  });

  it('per-step targets that do not match the window name the shape', () => {
    const spec = parseTrainSpec(base);
    const sig: DatasetSignature = { ...timeseries, perStep: true, y: { dtype: 'float32', shape: [7] } };
    expect(error(() => buildModel(spec.model, spec.task, sig, 1)).message).toMatch(
      /signature\.y\.shape=\[7\].*14/,
    );
  });

  it('a bidirectional generator is refused, naming model.bidirectional', () => {
    const spec = parseTrainSpec({
      ...base,
      task: 'generation',
      model: { cell: 'lstm', units: [8], embedding: 4, bidirectional: true },
    });
    const sig: DatasetSignature = {
      kind: 'sequence',
      x: { dtype: 'int32', shape: [6] },
      y: { dtype: 'int32', shape: [6] },
      vocab,
    };
    expect(error(() => buildModel(spec.model, spec.task, sig, 1)).message).toMatch(
      /model\.bidirectional=true/,
    );
  });
  it('a model too big for a trainer is refused before any allocation, naming model.units', () => {
    const spec = parseTrainSpec({ ...base, model: { cell: 'lstm', units: [60000] } });
    const e = error(() => validateDefinition(spec.task, spec.model, timeseries));
    expect(e).toBeInstanceOf(BadInputError);
    expect(e.message).toMatch(
      /model\.units=\[60000\]: the model would have about 14\d{3} million parameters/,
    );
    // The sizes people train pass.
    const fine = parseTrainSpec({ ...base, model: { cell: 'lstm', units: [512, 512] } });
    expect(() => validateDefinition(fine.task, fine.model, timeseries)).not.toThrow();
  });
});
