import { describe, expect, it } from 'vitest';
import {
  judgeEpoch,
  mergeLiveProgress,
  placeRanks,
  retainCheckpoints,
  startPosition,
  type SegmentProgress,
  type TrainProgress,
} from './index';

const t = (id: string) => ({ workerId: id, address: `${id}.local:1` });

describe('placeRanks', () => {
  it('gives contiguous, balanced rank blocks in rank order, one member per rank at most', () => {
    const members = placeRanks(5, [t('b'), t('a')]);
    expect(members.map((m) => [m.workerId, m.firstRank, m.ranks])).toEqual([
      ['a', 0, 3],
      ['b', 3, 2],
    ]);
    expect(placeRanks(2, [t('a'), t('b'), t('c')]).map((m) => m.workerId)).toEqual(['a', 'b']);
    expect(placeRanks(4, [t('a'), t('b')], [], 1)).toEqual([{ ...t('a'), firstRank: 0, ranks: 4 }]);
  });

  it('keeps the previous members first, in their order, when re-forming', () => {
    const previous = placeRanks(4, [t('c'), t('d')]);
    const members = placeRanks(4, [t('a'), t('b'), t('d'), t('c')], previous);
    expect(members.map((m) => `${m.workerId}:${m.firstRank}+${m.ranks}`)).toEqual([
      'c:0+1',
      'd:1+1',
      'a:2+1',
      'b:3+1',
    ]);
    // A previous member that is gone is skipped; ranks stay contiguous.
    expect(
      placeRanks(4, [t('a'), t('d')], previous).map((m) => `${m.workerId}:${m.firstRank}+${m.ranks}`),
    ).toEqual(['d:0+2', 'a:2+2']);
  });

  it('refuses a bad rank count', () => {
    expect(() => placeRanks(0, [t('a')])).toThrow(/workers=0/);
  });
});

describe('retainCheckpoints', () => {
  it('keeps the newest and the best, and drops a superseded best', () => {
    expect(
      retainCheckpoints({
        recent: ['c0', 'c1'],
        added: ['c2'],
        best: 'c0',
        previousBest: undefined,
        keep: 2,
      }),
    ).toEqual({ recent: ['c1', 'c2'], remove: [] });
    expect(
      retainCheckpoints({ recent: ['c1', 'c2'], added: ['c3'], best: 'c3', previousBest: 'c0', keep: 2 }),
    ).toEqual({ recent: ['c2', 'c3'], remove: ['c1', 'c0'] });
    // Nothing new written (a segment stopped at once): nothing removed.
    expect(
      retainCheckpoints({ recent: ['c1', 'c2'], added: [], best: 'c1', previousBest: 'c1', keep: 2 }),
    ).toEqual({ recent: ['c1', 'c2'], remove: [] });
  });
});

describe('judgeEpoch', () => {
  const base = {
    epochsWithoutImprovement: 0,
    earlyStopping: { metric: 'val_loss', patience: 1, minDelta: 0 },
  };

  it('tracks improvement per metric direction and stops after the patience', () => {
    const first = judgeEpoch({ ...base, epoch: 0, metrics: { val_loss: 2 }, best: undefined });
    expect(first).toMatchObject({ improved: true, stop: false, value: 2 });
    const worse = judgeEpoch({ ...base, epoch: 1, metrics: { val_loss: 2.5 }, best: { value: 2 } });
    expect(worse).toMatchObject({ improved: false, epochsWithoutImprovement: 1, stop: false });
    const again = judgeEpoch({
      ...base,
      epoch: 2,
      metrics: { val_loss: 2.1 },
      best: { value: 2 },
      epochsWithoutImprovement: 1,
    });
    expect(again.stop).toBe(true);
    expect(again.reason).toMatch(/did not improve for 2 epochs \(patience 1\)/);
    const acc = judgeEpoch({
      epoch: 1,
      metrics: { val_loss: 9, val_accuracy: 0.9 },
      best: { value: 0.8 },
      epochsWithoutImprovement: 0,
      earlyStopping: { metric: 'val_accuracy', patience: 3, minDelta: 0 },
    });
    expect(acc.improved).toBe(true);
  });

  it('refuses a NaN or infinite validation metric, naming the epoch, instead of calling it best', () => {
    expect(() => judgeEpoch({ ...base, epoch: 4, metrics: { val_loss: NaN }, best: { value: 1 } })).toThrow(
      /val_loss is NaN at epoch 5: training diverged/,
    );
    expect(() =>
      judgeEpoch({
        ...base,
        epoch: 0,
        metrics: { val_loss: Infinity },
        best: undefined,
        earlyStopping: undefined,
      }),
    ).toThrow(/val_loss is Infinity at epoch 1/);
    expect(() =>
      judgeEpoch({
        ...base,
        epoch: 0,
        metrics: { val_loss: 1 },
        best: undefined,
        earlyStopping: { metric: 'val_f1', patience: 1, minDelta: 0 },
      }),
    ).toThrow(/earlyStopping.metric="val_f1": not a metric of this task; available: val_loss/);
  });
});

describe('mergeLiveProgress', () => {
  const p: TrainProgress = {
    status: 'running',
    phase: 'training',
    workflowId: 'w',
    model: 'm',
    step: 100,
    rounds: 100,
    epoch: 1,
    epochs: 4,
    roundInEpoch: 0,
    roundsPerEpoch: 100,
    samples: 6400,
    trainingSeconds: 2,
    samplesPerSec: 3200,
    overheadFraction: 0.1,
    trainers: {},
    history: [{ epoch: 0, step: 100, trainLoss: 1, valLoss: 1, metrics: { val_loss: 1 } }],
    generation: 2,
    segments: 3,
  };
  const live: SegmentProgress = {
    kind: 'segment',
    generation: 2,
    segment: 3,
    member: 0,
    step: 250,
    epoch: 2,
    roundInEpoch: 50,
    rounds: 250,
    trainLoss: 0.5,
    samples: 9600,
    busyMs: 1000,
    epochs: [{ epoch: 1, step: 200, trainLoss: 0.7, valLoss: 0.8, metrics: { val_loss: 0.8 } }],
    best: { epoch: 1, value: 0.8 },
  };

  it('shows the running segment step by step', () => {
    const m = mergeLiveProgress(p, live);
    expect(m).toMatchObject({
      step: 250,
      rounds: 250,
      epoch: 2,
      roundInEpoch: 50,
      trainLoss: 0.5,
      valLoss: 0.8,
      live: true,
    });
    expect(m.history.map((h) => h.epoch)).toEqual([0, 1]);
    expect(m.samplesPerSec).toBeCloseTo((6400 + 9600) / 3);
    expect(m.etaSeconds).toBeCloseTo(((400 - 250) * 3) / 250);
  });

  it('ignores a heartbeat of another segment or generation', () => {
    expect(mergeLiveProgress(p, { ...live, segment: 2 })).toBe(p);
    expect(mergeLiveProgress(p, { ...live, generation: 1 })).toBe(p);
  });
});

describe('startPosition', () => {
  it('starts at step 0 with checkpoint 0 as the only recent checkpoint', () => {
    expect(startPosition('c0')).toMatchObject({
      step: 0,
      epoch: 0,
      recentCheckpoints: ['c0'],
      finished: false,
    });
  });
});
