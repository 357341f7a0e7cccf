/**
 * runSweep: a hyperparameter sweep (contracts/src/sweep.ts documents the file and the rules).
 * Trials are child trainModel workflows `<sweepId>/trial-<n>`, at most `maxConcurrent` at a time,
 * trained with `register: false`; only the best is registered at the end.
 *
 * How the parent learns epochs without editing trainModel: trainModel exposes its evaluated epochs
 * through the `progress` query, and a workflow cannot query another workflow, so one long-poll
 * activity (watchSweepTrials) queries the running trials and returns as soon as one of them has a
 * new epoch. The sweep wakes on that or on a child finishing - never on a timer of its own - so
 * its history grows with the number of epochs, not with wall time. Weak trials are stopped by
 * cancelling their child workflow (cancellation of the scope the child runs in).
 */
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  defineSignal,
  executeChild,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { setSearchAttributes } from './search-attributes';
import {
  BAD_INPUT_ERROR,
  earlyStopReason,
  isBetter,
  LEADERBOARD_QUERY,
  metricMode,
  activityRetry,
  ORCHESTRATOR_QUEUE,
  SWEEP_STOP_SIGNAL,
  type EpochMetrics,
  type SweepLeaderboard,
  type SweepResult,
  type SweepRunInput,
  type SweepTrialRow,
  type TrainResult,
} from '@seqtrain/contracts';
import type { LightTrainingActivities, SweepActivities } from '@seqtrain/activities';
import { trainModel } from './train-model';

export const leaderboardQuery = defineQuery<SweepLeaderboard>(LEADERBOARD_QUERY);
export const sweepStopSignal = defineSignal<[{ reason?: string }?]>(SWEEP_STOP_SIGNAL);

const retry = activityRetry();
const light = proxyActivities<SweepActivities>({
  taskQueue: ORCHESTRATOR_QUEUE,
  startToCloseTimeout: '5 minutes',
  retry,
});
const discovery = proxyActivities<Pick<LightTrainingActivities, 'discoverTrainers'>>({
  taskQueue: ORCHESTRATOR_QUEUE,
  startToCloseTimeout: '1 minute',
  retry,
});
// The watch long-polls (up to 5 minutes) and heartbeats every poll.
const watcher = proxyActivities<SweepActivities>({
  taskQueue: ORCHESTRATOR_QUEUE,
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry,
});

interface Running {
  scope: CancellationScope;
  done: Promise<void>;
}

function msOf(interval: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(interval ?? '2s');
  if (!m) return 2000;
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}

export async function runSweep(input: SweepRunInput): Promise<SweepResult> {
  const sweepId = workflowInfo().workflowId;
  const { sweep } = input;
  const mode = metricMode(sweep.metric, sweep.mode);
  let status: SweepLeaderboard['status'] = 'running';
  let stopRequested = false;
  const rows: SweepTrialRow[] = input.trials.map((t) => ({
    index: t.index,
    workflowId: `${sweepId}/trial-${t.index}`,
    params: t.params,
    status: 'pending',
    epochs: 0,
    curve: [],
  }));
  const results = new Map<number, TrainResult>();
  const running = new Map<number, Running>();

  setHandler(leaderboardQuery, () => board());
  setHandler(sweepStopSignal, (arg) => {
    stopRequested = true;
    status = 'stopping';
    for (const [index, r] of running) {
      const row = rows[index]!;
      row.status = 'stopped-early';
      row.reason = `sweep stopped${arg?.reason ? `: ${arg.reason}` : ''}`;
      r.scope.cancel();
    }
  });
  setSearchAttributes({
    SeqtrainModel: [input.trials[0]?.spec.name ?? sweep.name],
    SeqtrainKind: ['sweep'],
    SeqtrainStatus: ['running'],
  });
  // A trainer serves one run at a time: trials split the trainers so that maxConcurrent of them
  // train at once (their weights do not depend on how many trainers host their ranks).
  const trainersPerTrial = Math.max(
    1,
    Math.floor((await discovery.discoverTrainers()).length / sweep.maxConcurrent),
  );

  /** Completed trials rank by the metric of their exported (best) checkpoint, others by their curve. */
  function valueOf(row: SweepTrialRow): number | undefined {
    return results.get(row.index)?.metrics[sweep.metric] ?? row.value;
  }

  function board(): SweepLeaderboard {
    const ranked = [...rows].sort((a, b) => {
      const va = valueOf(a);
      const vb = valueOf(b);
      if (va === undefined || vb === undefined)
        return va !== undefined ? -1 : vb !== undefined ? 1 : a.index - b.index;
      return isBetter(va, vb, mode) ? -1 : isBetter(vb, va, mode) ? 1 : a.index - b.index;
    });
    const best = ranked.find((r) => r.status === 'completed' && valueOf(r) !== undefined);
    return {
      sweepId,
      status,
      metric: sweep.metric,
      mode,
      trials: ranked.map((r) => ({ ...r, ...(valueOf(r) !== undefined ? { value: valueOf(r) } : {}) })),
      ...(best ? { best: { index: best.index, workflowId: best.workflowId, value: valueOf(best)! } } : {}),
    };
  }

  /** Appends the epochs the row does not have yet (by epoch number); the best keeps the earliest tie. */
  function record(row: SweepTrialRow, epochs: EpochMetrics[]): number {
    let added = 0;
    for (const h of epochs) {
      if (h.epoch < row.curve.length) continue;
      const v = h.metrics[sweep.metric];
      if (v === undefined) {
        throw ApplicationFailure.nonRetryable(
          `metric=${JSON.stringify(sweep.metric)}: not an epoch metric of trial ${row.index}; available: ${Object.keys(h.metrics).join(', ')}`,
          BAD_INPUT_ERROR,
        );
      }
      row.curve.push(v);
      added++;
      if (row.value === undefined || isBetter(v, row.value, mode)) {
        row.value = v;
        row.metrics = h.metrics;
      }
    }
    row.epochs = row.curve.length;
    return added;
  }

  function start(index: number): void {
    const plan = input.trials[index]!;
    const row = rows[index]!;
    row.status = 'running';
    const scope = new CancellationScope();
    const done = scope
      .run(() =>
        executeChild(trainModel, {
          workflowId: row.workflowId,
          taskQueue: ORCHESTRATOR_QUEUE,
          args: [
            {
              spec: plan.spec,
              register: false,
              actor: input.actor ?? 'sweep',
              maxTrainers: trainersPerTrial,
              ...(input.codeVersion ? { codeVersion: input.codeVersion } : {}),
            },
          ],
        }),
      )
      .then(
        (res) => {
          results.set(index, res);
          row.status = 'completed';
          delete row.reason;
          record(row, res.history);
        },
        (err: unknown) => {
          if (isCancellation(err) && row.status === 'stopped-early') return;
          row.status = 'failed';
          row.reason =
            err instanceof Error
              ? err.cause instanceof Error
                ? err.cause.message
                : err.message
              : String(err);
          log.warn('trial failed', { trial: index, error: row.reason });
        },
      )
      .finally(() => running.delete(index));
    running.set(index, { scope, done });
  }

  /** Applies the early-stopping rule to every running trial; `fresh` are those with new epochs. */
  function judge(fresh: Set<number>): void {
    const curves = new Map(
      rows.filter((r) => r.status !== 'failed' && r.curve.length > 0).map((r) => [r.index, r.curve]),
    );
    for (const [index, r] of running) {
      const row = rows[index]!;
      if (row.status !== 'running') continue;
      // ASHA decides once per rung, when the trial gets there; the median rule re-checks as others catch up.
      if (sweep.earlyStop.rule === 'asha' && !fresh.has(index)) continue;
      // A trial with every epoch evaluated is exporting its model: let it finish.
      if (row.curve.length >= input.trials[index]!.spec.training.epochs) continue;
      const reason = earlyStopReason(sweep.earlyStop, mode, index, curves);
      if (reason) {
        row.status = 'stopped-early';
        row.reason = reason;
        log.info('stopping weak trial', { trial: index, reason });
        r.scope.cancel();
      }
    }
  }

  try {
    const pollMs = msOf(input.watchInterval);
    let next = 0;
    for (;;) {
      while (!stopRequested && running.size < sweep.maxConcurrent && next < rows.length) start(next++);
      if (running.size === 0) break;
      const known = Object.fromEntries(
        [...running.keys()].map((i) => [rows[i]!.workflowId, rows[i]!.curve.length]),
      );
      const watchScope = new CancellationScope();
      const watch = watchScope.run(() => watcher.watchSweepTrials({ known, pollMs }));
      const first = await Promise.race([watch, ...[...running.values()].map((r) => r.done.then(() => null))]);
      if (first === null) {
        watchScope.cancel();
        await watch.catch(() => undefined);
        continue;
      }
      const fresh = new Set<number>();
      for (const [index] of running) {
        const row = rows[index]!;
        const epochs = first[row.workflowId]?.newEpochs;
        if (row.status !== 'running' || !epochs) continue;
        if (record(row, epochs) > 0) fresh.add(index);
      }
      judge(fresh);
    }

    const best = board().best;
    if (!best) {
      const failed = rows.find((r) => r.status === 'failed');
      throw ApplicationFailure.nonRetryable(
        `sweep ${sweepId}: no trial completed${failed ? ` (trial ${failed.index}: ${failed.reason})` : ''}`,
        'SeqtrainError',
      );
    }
    let model: SweepResult['model'] = null;
    if (sweep.register) {
      status = 'registering';
      const r = results.get(best.index)!;
      model = await light.registerSweepTrial({
        trialWorkflowId: r.workflowId,
        trialRunId: r.execution,
        spec: input.trials[best.index]!.spec,
        metrics: r.metrics,
        weightsSha256: r.weightsSha256,
        dataset: r.dataset,
        backend: r.backend,
        rounds: r.rounds,
        epochs: r.epochs,
        samplesPerSec: r.samplesPerSec,
        overheadFraction: r.overheadFraction,
        ...(input.codeVersion ? { codeVersion: input.codeVersion } : {}),
      });
    }
    status = 'completed';
    setSearchAttributes({ SeqtrainStatus: ['completed'] });
    return { ...board(), model };
  } catch (err) {
    status = 'failed';
    setSearchAttributes({ SeqtrainStatus: ['failed'] });
    for (const r of running.values()) r.scope.cancel();
    throw err;
  }
}
