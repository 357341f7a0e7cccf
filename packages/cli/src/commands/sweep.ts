/** `seqtrain sweep -c SWEEP.yaml [--watch] [--json] [--detach]`: a hyperparameter sweep. */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  BadInputError,
  LEADERBOARD_QUERY,
  ORCHESTRATOR_QUEUE,
  parseSweepSpec,
  SWEEP_WORKFLOW_TYPE,
  type SweepLeaderboard,
  type SweepResult,
} from '@seqtrain/contracts';
import type { runSweep } from '@seqtrain/workflows';
import { EXIT_FAILURE, EXIT_OK, type CliContext } from '../context';
import { SWEEP_OPTIONS, parseOptions } from '../help';
import { resilient, withClient } from '../temporal-client';
import { describeFailure, readSpecFile } from './train';

function fmt(v: number | undefined): string {
  return v === undefined ? '-' : v.toPrecision(5);
}

/** The leaderboard as a table (rank, trial, status, epochs, value, parameters). */
export function leaderboardText(b: SweepLeaderboard): string {
  const lines = [`sweep ${b.sweepId}: ${b.status} (${b.metric}, ${b.mode})`];
  b.trials.forEach((t, rank) => {
    lines.push(
      `  ${String(rank + 1).padStart(2)}. trial-${String(t.index).padEnd(3)} ${t.status.padEnd(13)} epochs ${String(t.epochs).padStart(3)}  ${fmt(t.value).padStart(10)}  ${JSON.stringify(t.params)}${t.reason ? `  (${t.reason})` : ''}`,
    );
  });
  return lines.join('\n');
}

export async function runSweepCommand(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(SWEEP_OPTIONS),
    strict: true,
  });
  if (!values.config) throw new BadInputError('sweep: -c SWEEP.yaml is required');
  const raw = await readSpecFile(values.config, ctx.cwd);
  let planned: ReturnType<typeof parseSweepSpec>;
  try {
    planned = parseSweepSpec(raw);
  } catch (err) {
    if (err instanceof BadInputError) throw new BadInputError(`${values.config}: ${err.message}`);
    throw err;
  }
  const { sweep, trials } = planned;
  const workflowId =
    values.id ??
    `sweep-${sweep.name}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomUUID().slice(0, 8)}`;
  return withClient(ctx, async (client) => {
    const handle = await client.workflow.start<typeof runSweep>(SWEEP_WORKFLOW_TYPE, {
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId,
      args: [
        {
          sweep,
          trials,
          actor: ctx.env.USER ?? 'cli',
          ...(values['code-version'] ? { codeVersion: values['code-version'] } : {}),
          ...(values['watch-interval'] ? { watchInterval: values['watch-interval'] } : {}),
        },
      ],
    });
    ctx.io.err(
      `started ${workflowId}: ${trials.length} trial(s), ${sweep.maxConcurrent} at a time, ranked by ${sweep.metric}\n`,
    );
    if (values.detach) {
      if (values.json) ctx.io.out(JSON.stringify({ workflowId, status: 'running', trials: trials.length }));
      return EXIT_OK;
    }
    let stopped = false;
    let last = '';
    const follow = async (): Promise<void> => {
      while (!stopped) {
        try {
          const text = leaderboardText(await handle.query<SweepLeaderboard>(LEADERBOARD_QUERY));
          if (text !== last) ctx.io.err(`${text}\n`);
          last = text;
        } catch {
          // Between workflow tasks or the server restarting: try again.
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    };
    const following = values.watch || (!values.json && ctx.io.isTTY) ? follow() : Promise.resolve();
    let result: SweepResult;
    try {
      result = await resilient(
        'waiting for the sweep',
        () => handle.result(),
        (m) => ctx.io.err(`${m}\n`),
      );
    } catch (err) {
      const message = describeFailure(err);
      ctx.io.err(`sweep ${workflowId} failed: ${message}\n`);
      if (values.json) ctx.io.out(JSON.stringify({ workflowId, status: 'failed', error: message }));
      return EXIT_FAILURE;
    } finally {
      stopped = true;
      await following;
    }
    if (values.json) ctx.io.out(JSON.stringify(result));
    else
      ctx.io.out(
        `${leaderboardText(result)}\n  best: ${result.best ? `trial-${result.best.index} (${fmt(result.best.value)})` : 'none'}; registered: ${result.model ? `${result.model.name}@${result.model.version}` : 'nothing'}`,
      );
    return EXIT_OK;
  });
}
