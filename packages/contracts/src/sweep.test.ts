import { describe, expect, it } from 'vitest';
import {
  BadInputError,
  earlyStopReason,
  isBetter,
  parseSweepSpec,
  type EarlyStopRule,
} from '@seqtrain/contracts';

const base = {
  name: 'm',
  dataset: 'weather',
  task: 'regression',
  model: { cell: 'lstm', units: [8] },
  training: { epochs: 2 },
};

describe('parseSweepSpec', () => {
  it('plans the cartesian product of a grid, the last key varying fastest', () => {
    const { trials, sweep } = parseSweepSpec({
      name: 's',
      base,
      space: { 'training.optimizer.learningRate': [0.1, 0.01], 'model.units': [[4], [8], [16]] },
    });
    expect(sweep.maxConcurrent).toBe(2);
    expect(trials.map((t) => [t.spec.training.optimizer.learningRate, t.spec.model.units[0]])).toEqual([
      [0.1, 4],
      [0.1, 8],
      [0.1, 16],
      [0.01, 4],
      [0.01, 8],
      [0.01, 16],
    ]);
    // Values not in the space come from the base spec.
    expect(trials[4]!.spec.training.epochs).toBe(2);
    expect(trials[4]!.params).toEqual({ 'training.optimizer.learningRate': 0.01, 'model.units': [8] });
  });

  it('samples random trials reproducibly inside their ranges', () => {
    const spec = {
      name: 's',
      base,
      method: 'random',
      trials: 20,
      seed: 3,
      space: {
        'training.optimizer.learningRate': { min: 1e-4, max: 1e-1, log: true },
        'training.batchSize': { min: 8, max: 64, int: true },
      },
    };
    const a = parseSweepSpec(spec).trials;
    expect(a).toHaveLength(20);
    expect(parseSweepSpec(spec).trials).toEqual(a);
    for (const t of a) {
      expect(t.spec.training.optimizer.learningRate).toBeGreaterThanOrEqual(1e-4);
      expect(t.spec.training.optimizer.learningRate).toBeLessThanOrEqual(1e-1);
      expect(Number.isInteger(t.spec.training.batchSize)).toBe(true);
    }
    // Log-uniform: about half the samples below the geometric midpoint 10^-2.5 (not the arithmetic one).
    const below = a.filter((t) => t.spec.training.optimizer.learningRate < 10 ** -2.5).length;
    expect(below).toBeGreaterThan(4);
    expect(below).toBeLessThan(16);
  });

  it('names the field and the trial in errors', () => {
    expect(() =>
      parseSweepSpec({ name: 's', base, space: { 'model.units': [[8]] }, maxConcurent: 2 }),
    ).toThrow(/maxConcurent: unknown key/);
    expect(() => parseSweepSpec({ name: 's', base, space: { 'model.units': [[8], [0]] } })).toThrow(
      /trial 1 .*model\.units\.0=0/,
    );
    expect(() =>
      parseSweepSpec({ name: 's', base, space: { 'training.batchSize': { min: 8, max: 64 } } }),
    ).toThrow(/space.training.batchSize: a range needs method: random/);
    expect(() =>
      parseSweepSpec({ name: 's', base, method: 'random', space: { 'model.units': [[8]] } }),
    ).toThrow(BadInputError);
  });
});

describe('earlyStopReason', () => {
  const median: EarlyStopRule = { rule: 'median', graceEpochs: 1, minTrials: 2 };

  it('median rule: stops a trial whose best so far is worse than the median of the others', () => {
    // At epoch 1 the others' bests are 1, 2, 3 (median 2); trial 3 has 2.5 -> stop, trial 0 (1) continues.
    const curves = new Map([
      [0, [1.0]],
      [1, [2.0]],
      [2, [3.0]],
      [3, [2.5]],
    ]);
    expect(earlyStopReason(median, 'min', 3, curves)).toMatch(/median rule at epoch 1/);
    expect(earlyStopReason(median, 'min', 0, curves)).toBeUndefined();
    // Others' median at epoch 1 for trial 1 is median(1, 3, 2.5) = 2.5 > 2 -> continue.
    expect(earlyStopReason(median, 'min', 1, curves)).toBeUndefined();
    // mode max flips it: trial 0 is now the worst.
    expect(earlyStopReason(median, 'max', 0, curves)).toMatch(/median/);
  });

  it('median rule: waits for minTrials and the grace period', () => {
    const curves = new Map([
      [0, [1.0, 0.5]],
      [1, [9.0]],
    ]);
    expect(earlyStopReason(median, 'min', 1, curves)).toBeUndefined(); // only one other trial
    expect(earlyStopReason({ ...median, minTrials: 1 }, 'min', 1, curves)).toMatch(/epoch 1/);
    expect(earlyStopReason({ ...median, minTrials: 1, graceEpochs: 2 }, 'min', 1, curves)).toBeUndefined();
  });

  it('asha: only the top 1/eta at a rung continue; the first trial at a rung always does', () => {
    const asha: EarlyStopRule = { rule: 'asha', graceEpochs: 1, reductionFactor: 2 };
    expect(earlyStopReason(asha, 'min', 0, new Map([[0, [5.0]]]))).toBeUndefined();
    const curves = new Map([
      [0, [1.0, 0.9]],
      [1, [2.0, 1.0]],
      [2, [3.0]],
    ]);
    // Rung 1 (epoch 1): values 1, 2, 3, keep floor(3/2)=1 -> cutoff 1; trial 2 (3.0) stops.
    expect(earlyStopReason(asha, 'min', 2, curves)).toMatch(/asha rung at epoch 1/);
    // Rung 2 (epoch 2): values 0.9, 1.0, keep 1 -> trial 1 stops there, trial 0 continues.
    expect(earlyStopReason(asha, 'min', 1, curves)).toMatch(/asha rung at epoch 2/);
    expect(earlyStopReason(asha, 'min', 0, curves)).toBeUndefined();
    // Epoch 3 is not a rung (1, 2, 4, ...): no decision.
    expect(
      earlyStopReason(
        asha,
        'min',
        1,
        new Map([
          [1, [1, 1, 9]],
          [0, [0, 0, 0]],
        ]),
      ),
    ).toBeUndefined();
  });
});

describe('isBetter', () => {
  it('never lets NaN, Infinity or a NaN turned null by a JSON boundary win, and lets any finite value beat them', () => {
    const nullish = (JSON.parse(JSON.stringify({ v: NaN })) as { v: number }).v;
    for (const mode of ['min', 'max'] as const) {
      for (const bad of [NaN, Infinity, -Infinity, nullish]) {
        expect(isBetter(bad, 1, mode), `${bad} vs 1 (${mode})`).toBe(false);
        expect(isBetter(1, bad, mode), `1 vs ${bad} (${mode})`).toBe(true);
        expect(isBetter(bad, bad, mode)).toBe(false);
      }
    }
    expect(isBetter(0.5, 1, 'min')).toBe(true);
    expect(isBetter(0.5, 1, 'max')).toBe(false);
  });
});
