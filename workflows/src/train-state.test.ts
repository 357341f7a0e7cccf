/** The training workflow's loop-state bookkeeping, as pure functions (no Temporal needed). */
import { describe, expect, it } from 'vitest';
import {
  MAX_SEGMENT_FAILURES,
  startPosition,
  type SegmentResult,
  type TrainLoopState,
} from '@seqtrain/contracts';
import { ApplicationFailure } from '@temporalio/workflow';
import { preferReachable, recordSegment, recordSegmentFailure, unreachableMembers } from './train-state';

function state(): TrainLoopState {
  return {
    plan: { ranks: 2 } as TrainLoopState['plan'],
    position: startPosition('runs/r/e/checkpoints/step-000000000.ckpt'),
    history: [],
    lastMembers: [],
    generation: 1,
    segments: 0,
    trainers: {},
    totals: { samples: 0, busyMs: 0, wallMs: 0, overheadMs: 0 },
    startedAt: 0,
    stopRequested: false,
    paused: false,
    failures: { consecutive: 0, total: 0, recent: [] },
    continuedAsNew: 0,
  };
}

describe('segment failures', () => {
  it(`a run gives up after ${MAX_SEGMENT_FAILURES} failed segments in a row, backing off in between; progress starts the count again`, () => {
    const s = state();
    const pauses: number[] = [];
    for (let i = 1; i < MAX_SEGMENT_FAILURES; i++) {
      const r = recordSegmentFailure(s, `segment 0: failure ${i}`);
      expect(r.stalled).toBe(false);
      pauses.push(r.pauseMs);
    }
    expect(pauses).toEqual(
      [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000].slice(0, MAX_SEGMENT_FAILURES - 1),
    );
    expect(s.group).toBeUndefined();
    expect(s.failures.last).toBe(`segment 0: failure ${MAX_SEGMENT_FAILURES - 1}`);

    // One segment that moves the run: the next failure is the first of a new count.
    const group = {
      generation: 2,
      secret: 'x',
      members: [{ workerId: 't', address: '127.0.0.1:1', firstRank: 0, ranks: 2 }],
    };
    const lead = {
      end: { ...s.position, step: 10 },
      epochs: [],
      samples: 640,
      busyMs: 100,
      rounds: 10,
      reason: 'budget',
      backend: {},
    } as unknown as SegmentResult;
    recordSegment(s, group, lead, [{ status: 'fulfilled', value: lead }], 120);
    expect(s.failures.consecutive).toBe(0);
    expect(recordSegmentFailure(s, 'segment 1: again')).toEqual({ stalled: false, pauseMs: 500 });

    for (let i = 2; i < MAX_SEGMENT_FAILURES; i++)
      expect(recordSegmentFailure(s, `segment 1: ${i}`).stalled).toBe(false);
    expect(recordSegmentFailure(s, 'segment 1: the last straw')).toEqual({ stalled: true, pauseMs: 10_000 });
    expect(s.failures.total).toBe(2 * MAX_SEGMENT_FAILURES - 1);
    expect(s.failures.recent).toHaveLength(10);
    expect(s.failures.recent.at(-1)).toBe('segment 1: the last straw');
  });
});

describe('unreachable trainers', () => {
  const group = {
    generation: 1,
    secret: 's',
    members: ['a', 'b', 'c'].map((workerId, i) => ({
      workerId,
      address: `10.0.0.${i}:1`,
      firstRank: i,
      ranks: 1,
    })),
  };
  const unreachable = ApplicationFailure.create({
    message: 'could not be reached',
    type: 'PeerUnreachableError',
  });

  it('blames the member a dialer could not reach, not the one that waited for it', () => {
    const settled: PromiseSettledResult<unknown>[] = [
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: unreachable },
      { status: 'rejected', reason: new Error('member 1 did not connect') },
    ];
    expect(unreachableMembers(group, settled)).toEqual(['c']);
    expect(unreachableMembers(group, [{ status: 'rejected', reason: new Error('x') }])).toEqual([]);
  });

  it('prefers trainers not avoided, but takes an avoided one rather than none', () => {
    const joined = [{ workerId: 'a' }, { workerId: 'b' }];
    expect(preferReachable(joined, { b: 2_000 }, 1_000)).toEqual([{ workerId: 'a' }]);
    expect(preferReachable(joined, { b: 2_000 }, 3_000)).toEqual(joined);
    expect(preferReachable(joined, { a: 2_000, b: 2_000 }, 1_000)).toEqual(joined);
    expect(preferReachable(joined, undefined, 1_000)).toEqual(joined);
  });
});
