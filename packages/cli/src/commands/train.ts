/** `seqtrain train -c SPEC.yaml`: starts a distributed training run and follows it. */
import { randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { parse as parseYaml } from 'yaml';
import {
  BadInputError,
  errorMessage,
  ORCHESTRATOR_QUEUE,
  parseTrainSpec,
  TRAIN_WORKFLOW_TYPE,
  type TrainResult,
  type TrainRunInput,
  type TrainSpec,
} from '@seqtrain/contracts';
import { readRunProgress } from '@seqtrain/worker';
import type { trainModel } from '@seqtrain/workflows';
import { EXIT_FAILURE, EXIT_OK, type CliContext } from '../context';
import { TRAIN_OPTIONS, parseOptions } from '../help';
import { ProgressView } from '../progress-view';
import { resilient, withClient } from '../temporal-client';
import { assertSameRun } from './run-reuse';

/** Reads a YAML or JSON spec file and validates it; errors name the file and the field. */
export async function readSpecFile(file: string, cwd: string): Promise<unknown> {
  const full = path.resolve(cwd, file);
  let text: string;
  try {
    text = await fsp.readFile(full, 'utf8');
  } catch (err) {
    throw new BadInputError(
      `-c ${file}: cannot read the spec file (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`,
    );
  }
  try {
    return /\.json$/i.test(full) ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (err) {
    throw new BadInputError(
      `${file}: not valid ${/\.json$/i.test(full) ? 'JSON' : 'YAML'}: ${errorMessage(err)}`,
    );
  }
}

export async function loadSpec(file: string, cwd: string, workers?: string): Promise<TrainSpec> {
  const raw = await readSpecFile(file, cwd);
  if (workers !== undefined) {
    const n = Number(workers);
    if (!Number.isInteger(n) || n < 1)
      throw new BadInputError(`--workers=${workers}: expected a positive integer`);
    if (typeof raw === 'object' && raw !== null) (raw as Record<string, unknown>).workers = n;
  }
  try {
    return parseTrainSpec(raw);
  } catch (err) {
    if (err instanceof BadInputError) throw new BadInputError(`${file}: ${err.message}`);
    throw err;
  }
}

/** Follows a run until it ends: progress on stderr, the result returned. */
export async function followRun(
  ctx: CliContext,
  client: Client,
  workflowId: string,
  showProgress: boolean,
): Promise<TrainResult> {
  const handle = client.workflow.getHandle<typeof trainModel>(workflowId);
  const view = new ProgressView((s) => ctx.io.err(s), ctx.io.isTTY);
  let stopped = false;
  const poll = async (): Promise<void> => {
    while (!stopped) {
      try {
        const p = await readRunProgress(client, workflowId);
        if (showProgress) view.update(p);
      } catch {
        // The run may be between workflow tasks or the server restarting: try again.
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const polling = poll();
  try {
    return await resilient(
      'waiting for the run',
      () => handle.result(),
      (m) => ctx.io.err(`${m}\n`),
    );
  } finally {
    stopped = true;
    await polling;
    view.done();
  }
}

function optionalNumber(
  flag: string,
  raw: string | undefined,
  min: number,
  integer = false,
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
    throw new BadInputError(`${flag}=${raw}: expected ${integer ? 'an integer' : 'a number'} >= ${min}`);
  return n;
}

export function describeFailure(err: unknown): string {
  if (err instanceof WorkflowFailedError) {
    let cause: unknown = err.cause;
    // The innermost failure carries the activity's message (e.g. the bad field).
    while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    return errorMessage(cause ?? err);
  }
  return errorMessage(err);
}

export async function runTrain(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(TRAIN_OPTIONS),
    strict: true,
  });
  if (!values.config) throw new BadInputError('train: -c SPEC.yaml is required');
  const segmentSeconds = optionalNumber('--segment-seconds', values['segment-seconds'], 1);
  const maxTrainers = optionalNumber('--max-trainers', values['max-trainers'], 1, true);
  const spec = await loadSpec(values.config, ctx.cwd, values.workers);
  const workflowId =
    values.id ??
    `train-${spec.name}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomUUID().slice(0, 8)}`;
  const input: TrainRunInput = {
    spec,
    ...(values['code-version'] ? { codeVersion: values['code-version'] } : {}),
    register: !values['no-register'],
    actor: ctx.env.USER ?? 'cli',
    ...(segmentSeconds !== undefined ? { segmentSeconds } : {}),
    ...(maxTrainers !== undefined ? { maxTrainers } : {}),
  };
  return withClient(ctx, async (client) => {
    let firstExecutionRunId: string;
    let status = 'running';
    try {
      const handle = await client.workflow.start<typeof trainModel>(TRAIN_WORKFLOW_TYPE, {
        taskQueue: ORCHESTRATOR_QUEUE,
        workflowId,
        args: [input],
        // An id names one run: a completed or running one with it is followed, not repeated
        // (below); a failed one may be retried under the same id, in a fresh S3 prefix.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      });
      firstExecutionRunId = handle.firstExecutionRunId;
      ctx.io.err(
        `started ${workflowId} (${spec.workers} worker${spec.workers > 1 ? 's' : ''}, dataset ${spec.dataset}); stop it with: seqtrain runs stop ${workflowId}\n`,
      );
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      await assertSameRun(client, workflowId, input);
      const d = await client.workflow.getHandle(workflowId).describe();
      firstExecutionRunId = d.raw.workflowExecutionInfo?.firstRunId || d.runId;
      status = d.status.name.toLowerCase();
      ctx.io.err(
        `${workflowId} already ${d.status.name === 'RUNNING' ? 'runs' : 'ran'} with these inputs (${status}): following it instead of training again\n`,
      );
    }
    if (values.detach) {
      if (values.json) ctx.io.out(JSON.stringify({ workflowId, runId: firstExecutionRunId, status }));
      return EXIT_OK;
    }
    let result: TrainResult;
    try {
      result = await followRun(ctx, client, workflowId, values.watch || !values.json || ctx.io.isTTY);
    } catch (err) {
      const message = describeFailure(err);
      ctx.io.err(`run ${workflowId} failed: ${message}\n`);
      if (values.json) ctx.io.out(JSON.stringify({ workflowId, status: 'failed', error: message }));
      return EXIT_FAILURE;
    }
    if (values.json) {
      const { history: _history, ...summary } = result;
      ctx.io.out(JSON.stringify(summary));
    } else {
      ctx.io.out(summaryText(result));
    }
    return EXIT_OK;
  });
}

export function summaryText(r: TrainResult): string {
  const metrics = Object.entries(r.metrics).map(([k, v]) => `  ${k.padEnd(26)} ${v.toPrecision(5)}`);
  return [
    `run ${r.workflowId}: ${r.status}`,
    `  model                      ${r.model ? `${r.model.name}@${r.model.version}` : '(not registered)'}`,
    `  dataset                    ${r.dataset.name}@${r.dataset.digest.slice(0, 12)}`,
    `  epochs / rounds / steps    ${r.epochs} / ${r.rounds} / ${r.steps}`,
    `  segments / groups formed   ${r.segments} / ${r.generations}`,
    `  samples/s                  ${r.samplesPerSec.toFixed(1)}`,
    `  orchestration overhead     ${(r.overheadFraction * 100).toFixed(1)}%`,
    `  weights sha256             ${r.weightsSha256}`,
    ...metrics,
  ].join('\n');
}
