/** `seqtrain runs list | show ID | stop ID | report ID [-o FILE]`. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { readRunProgress } from '@seqtrain/worker';
import type { BlobStore } from '@seqtrain/storage';
import {
  BadInputError,
  NotFoundError,
  PAUSE_SIGNAL,
  RESUME_SIGNAL,
  STOP_SIGNAL,
  TRAIN_WORKFLOW_TYPE,
  type TrainProgress,
  type TrainResult,
  type SearchAttributeName,
} from '@seqtrain/contracts';
import { EXIT_FAILURE, EXIT_OK, type CliContext } from '../context';
import { RUNS_OPTIONS, parseOptions } from '../help';
import { progressLine } from '../progress-view';
import { describeFailure } from './train';
import { withClient } from '../temporal-client';
import { renderRunPage } from '../run-page';
import { collectRunPage } from '../run-page-data';

const USAGE =
  'usage: seqtrain runs list [--json] | show ID [--json] | stop ID [--reason TEXT] | pause ID | resume ID | report ID [-o FILE.html|FILE.md|-]';

function attr(d: WorkflowExecutionDescription, name: SearchAttributeName): string | undefined {
  const v = (d.searchAttributes as Record<string, unknown[] | undefined>)[name]?.[0];
  return typeof v === 'string' ? v : undefined;
}

interface RunDetails {
  workflowId: string;
  runId: string;
  status: string;
  startTime: string;
  closeTime?: string;
  model?: string;
  dataset?: string;
  progress?: TrainProgress;
  result?: Omit<TrainResult, 'history'> & { history?: TrainResult['history'] };
  error?: string;
}

async function details(client: Client, id: string): Promise<RunDetails> {
  const handle = client.workflow.getHandle(id);
  let d: WorkflowExecutionDescription;
  try {
    d = await handle.describe();
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') throw new BadInputError(`run ${id} does not exist`);
    throw err;
  }
  const out: RunDetails = {
    workflowId: d.workflowId,
    runId: d.runId,
    status: d.status.name,
    startTime: d.startTime.toISOString(),
    ...(d.closeTime ? { closeTime: d.closeTime.toISOString() } : {}),
    ...(attr(d, 'SeqtrainModel') ? { model: attr(d, 'SeqtrainModel') } : {}),
    ...(attr(d, 'SeqtrainDataset') ? { dataset: attr(d, 'SeqtrainDataset') } : {}),
  };
  if (d.status.name === 'COMPLETED') out.result = (await handle.result()) as TrainResult;
  else {
    try {
      out.progress = await readRunProgress(client, id);
    } catch (err) {
      if (d.status.name === 'FAILED') {
        let cause: unknown = err;
        try {
          await handle.result();
        } catch (e) {
          cause = e;
        }
        out.error = describeFailure(cause);
      }
    }
  }
  return out;
}

/** The run page of a run, as `runs report ID` writes it (for the registry UI). */
export async function runPageHtml(client: Client, store: BlobStore, id: string): Promise<string> {
  let d: RunDetails;
  try {
    d = await details(client, id);
  } catch (err) {
    if (err instanceof BadInputError) throw new NotFoundError(`run ${id} is not known to Temporal`);
    throw err;
  }
  return renderRunPage(await collectRunPage(client, store, d));
}

export async function runRunsCommand(argv: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: parseOptions(RUNS_OPTIONS),
    strict: true,
    allowPositionals: true,
  });
  const id = positionals[0];
  const needId = (): string => {
    if (!id) throw new BadInputError(`runs ${sub}: expected a run id\n${USAGE}`);
    return id;
  };
  return withClient(ctx, async (client) => {
    switch (sub ?? '') {
      case 'list': {
        const runs: RunDetails[] = [];
        const limit = Number(values.limit);
        for await (const w of client.workflow.list({ query: `WorkflowType = '${TRAIN_WORKFLOW_TYPE}'` })) {
          runs.push({
            workflowId: w.workflowId,
            runId: w.runId,
            status: w.status.name,
            startTime: w.startTime.toISOString(),
            ...(w.closeTime ? { closeTime: w.closeTime.toISOString() } : {}),
            ...(attr(w as unknown as WorkflowExecutionDescription, 'SeqtrainModel')
              ? { model: attr(w as unknown as WorkflowExecutionDescription, 'SeqtrainModel') }
              : {}),
          });
          if (runs.length >= limit) break;
        }
        if (values.json) ctx.io.out(JSON.stringify({ runs }));
        else if (runs.length === 0) ctx.io.out('no training runs');
        else
          ctx.io.out(
            runs
              .map((r) => `${r.workflowId}  ${r.status.padEnd(10)} ${r.model ?? ''}  started ${r.startTime}`)
              .join('\n'),
          );
        return EXIT_OK;
      }
      case 'show': {
        const d = await details(client, needId());
        if (values.json) ctx.io.out(JSON.stringify(d));
        else {
          const lines = [
            `${d.workflowId}  ${d.status}  model ${d.model ?? '?'}  dataset ${d.dataset ?? '?'}`,
            `started ${d.startTime}${d.closeTime ? `, closed ${d.closeTime}` : ''}`,
          ];
          if (d.progress) lines.push(progressLine(d.progress));
          if (d.result)
            lines.push(
              `model ${d.result.model ? `${d.result.model.name}@${d.result.model.version}` : '-'}; ${Object.entries(
                d.result.metrics,
              )
                .map(([k, v]) => `${k}=${v.toPrecision(4)}`)
                .join(' ')}`,
            );
          if (d.error) lines.push(`error: ${d.error}`);
          ctx.io.out(lines.join('\n'));
        }
        return d.status === 'FAILED' ? EXIT_FAILURE : EXIT_OK;
      }
      case 'stop': {
        const runId = needId();
        await client.workflow
          .getHandle(runId)
          .signal(STOP_SIGNAL, { reason: values.reason ?? 'stopped from the CLI' });
        ctx.io.err(
          `asked ${runId} to stop: it ends after the current step, keeps the best checkpoint and registers it\n`,
        );
        return EXIT_OK;
      }
      case 'pause':
      case 'resume': {
        const runId = needId();
        await client.workflow.getHandle(runId).signal(sub === 'pause' ? PAUSE_SIGNAL : RESUME_SIGNAL);
        ctx.io.err(
          sub === 'pause'
            ? `asked ${runId} to pause after the current step (its trainers are freed until it resumes)\n`
            : `asked ${runId} to resume\n`,
        );
        return EXIT_OK;
      }
      case 'report': {
        const d = await details(client, needId());
        // -o FILE.md (or `-o -`, stdout) gives Markdown; anything else one self-contained HTML page.
        const output = values.output ?? `run-${d.workflowId.replace(/[^\w.-]+/g, '_')}.html`;
        if (output === '-' || /\.(md|markdown)$/i.test(output)) {
          const text = report(d);
          if (output === '-') ctx.io.out(text);
          else await writeReport(path.resolve(ctx.cwd, output), text, ctx);
          return EXIT_OK;
        }
        const page = renderRunPage(await collectRunPage(client, ctx.store(), d));
        await writeReport(path.resolve(ctx.cwd, output), page, ctx);
        return EXIT_OK;
      }
      default:
        throw new BadInputError(`runs: unknown subcommand ${JSON.stringify(sub)}\n${USAGE}`);
    }
  });
}

/** Written whole or not at all: a temporary file renamed into place. */
async function writeReport(file: string, text: string, ctx: CliContext): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, text);
  await fsp.rename(tmp, file);
  ctx.io.err(`wrote ${file}\n`);
}

function report(d: RunDetails): string {
  const history = d.result?.history ?? d.progress?.history ?? [];
  const metricNames = [...new Set(history.flatMap((h) => Object.keys(h.metrics)))];
  const rows = history.map(
    (h) =>
      `| ${h.epoch + 1} | ${h.step} | ${metricNames.map((m) => (h.metrics[m] ?? NaN).toPrecision(5)).join(' | ')} |`,
  );
  const trainers = d.result?.trainers ?? d.progress?.trainers ?? {};
  return [
    `# Training run ${d.workflowId}`,
    '',
    `- status: ${d.status}`,
    `- model: ${d.result?.model ? `${d.result.model.name}@${d.result.model.version}` : (d.model ?? '-')}`,
    `- dataset: ${d.dataset ?? (d.result ? `${d.result.dataset.name}@${d.result.dataset.digest}` : '-')}`,
    `- started: ${d.startTime}${d.closeTime ? `, closed: ${d.closeTime}` : ''}`,
    ...(d.result
      ? [
          `- steps: ${d.result.steps}, rounds: ${d.result.rounds}, epochs: ${d.result.epochs}`,
          `- segments: ${d.result.segments}, trainer groups formed: ${d.result.generations}`,
          `- samples/s: ${d.result.samplesPerSec.toFixed(1)}`,
          `- orchestration overhead: ${(d.result.overheadFraction * 100).toFixed(1)}%`,
          `- weights sha256: ${d.result.weightsSha256}`,
        ]
      : []),
    ...(d.error ? [`- error: ${d.error}`] : []),
    '',
    '## Epochs',
    '',
    `| epoch | step | ${metricNames.join(' | ')} |`,
    `|---|---|${metricNames.map(() => '---').join('|')}|`,
    ...rows,
    ...(Object.keys(trainers).length
      ? [
          '',
          '## Trainers',
          '',
          '| worker | segments | rounds | busy ms | samples |',
          '|---|---|---|---|---|',
          ...Object.entries(trainers).map(
            ([k, v]) => `| ${k} | ${v.segments} | ${v.rounds} | ${v.busyMs} | ${v.samples} |`,
          ),
        ]
      : []),
    '',
  ].join('\n');
}
