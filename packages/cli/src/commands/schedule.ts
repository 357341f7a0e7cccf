/**
 * `seqtrain schedule create|list|pause|unpause|delete`: periodic retraining through Temporal
 * Schedules. Each firing starts a `retrain` workflow whose dataset is resolved when it runs, so a
 * nightly schedule picks up newly imported data; overlapping firings are skipped.
 */
import { parseArgs } from 'node:util';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import {
  BadInputError,
  NotFoundError,
  ORCHESTRATOR_QUEUE,
  RETRAIN_WORKFLOW_TYPE,
  type RetrainInput,
} from '@seqtrain/contracts';
import { EXIT_FAILURE, EXIT_OK, type CliContext } from '../context';
import { NOTE_OPTIONS, SCHEDULE_LIST_OPTIONS, SCHEDULE_OPTIONS, parseOptions } from '../help';
import { withClient } from '../temporal-client';
import { loadSpec } from './train';

const USAGE = `usage:
  seqtrain schedule create ID -c SPEC.yaml --code-version SHA (--cron EXPR | --every 1d) [--promote-alias A] [--paused] [--json]
  seqtrain schedule list [--json]
  seqtrain schedule pause ID [--note TEXT] | unpause ID [--note TEXT] | delete ID`;

/** Schedules of this tool are marked by memo, so `list` leaves other schedules alone. */
const MEMO_KIND = 'seqtrain-retrain';
const SCHEDULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export interface ScheduleRow {
  id: string;
  paused: boolean;
  note?: string;
  spec: string[];
  model?: string;
  nextRuns: string[];
  recentRuns: string[];
}

function describeSpec(
  s: { cronExpressions?: string[]; intervals?: { every: unknown }[] } | undefined,
): string[] {
  return [
    ...(s?.cronExpressions ?? []).map((c) => `cron ${c}`),
    ...(s?.intervals ?? []).map(
      (i) => `every ${typeof i.every === 'number' ? `${i.every / 1000}s` : String(i.every)}`,
    ),
  ];
}

async function create(client: Client, argv: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: parseOptions(SCHEDULE_OPTIONS),
    strict: true,
  });
  const id = positionals[0];
  if (!id || !SCHEDULE_ID.test(id))
    throw new BadInputError(
      `schedule create: ID=${JSON.stringify(id ?? '')}: expected letters, digits, . _ -\n${USAGE}`,
    );
  if (!values.config) throw new BadInputError('schedule create: -c SPEC.yaml is required');
  if (!values['code-version']) throw new BadInputError('schedule create: --code-version SHA is required');
  if ((values.cron === undefined) === (values.every === undefined))
    throw new BadInputError('schedule create: exactly one of --cron EXPR or --every DURATION is required');
  if (values.every !== undefined && !/^\d+(ms|s|m|h|d)$/.test(values.every))
    throw new BadInputError(`--every=${values.every}: expected a duration such as 30m, 6h or 1d`);
  const spec = await loadSpec(values.config, ctx.cwd);
  const input: RetrainInput = {
    // The dataset stays NAME (not NAME@DIGEST): each firing trains on the data current then.
    spec,
    codeVersion: values['code-version'],
    ...(values['promote-alias'] ? { promoteAlias: values['promote-alias'] } : {}),
    actor: `schedule:${id}`,
  };
  await client.schedule.create({
    scheduleId: id,
    spec: values.cron
      ? { cronExpressions: [values.cron] }
      : { intervals: [{ every: values.every as `${number}d` }] },
    action: {
      type: 'startWorkflow',
      workflowType: RETRAIN_WORKFLOW_TYPE,
      taskQueue: ORCHESTRATOR_QUEUE,
      workflowId: `retrain-${spec.name}-${id}`,
      args: [input],
    },
    policies: { overlap: 'SKIP' },
    state: { paused: values.paused, ...(values.paused ? { note: 'created paused' } : {}) },
    memo: { kind: MEMO_KIND, model: spec.name },
  });
  if (values.json) ctx.io.out(JSON.stringify({ id, model: spec.name, paused: values.paused }));
  else
    ctx.io.out(
      `schedule ${id} created: retrains ${spec.name} ${values.cron ? `on cron ${values.cron}` : `every ${values.every}`}`,
    );
  return EXIT_OK;
}

/**
 * Schedules of this tool. The list comes from visibility, which lags behind writes (a pause or a
 * delete shows there a moment later), so each entry's state is read with describe, which does not.
 */
export async function listSchedules(client: Client): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for await (const summary of client.schedule.list()) {
    if (summary.memo?.kind !== MEMO_KIND) continue;
    let s;
    try {
      s = await client.schedule.getHandle(summary.scheduleId).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) continue; // deleted, not yet gone from visibility
      throw err;
    }
    rows.push({
      id: s.scheduleId,
      paused: s.state.paused,
      ...(s.state.note ? { note: s.state.note } : {}),
      spec: describeSpec(s.spec),
      ...(typeof s.memo?.model === 'string' ? { model: s.memo.model } : {}),
      nextRuns: s.info.nextActionTimes.map((d) => d.toISOString()),
      recentRuns: s.info.recentActions.map((a) => a.takenAt.toISOString()),
    });
  }
  return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function onSchedule(
  client: Client,
  id: string | undefined,
  what: string,
  fn: (h: ReturnType<Client['schedule']['getHandle']>) => Promise<void>,
): Promise<void> {
  if (!id) throw new BadInputError(`schedule ${what}: ID is required\n${USAGE}`);
  try {
    await fn(client.schedule.getHandle(id));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new NotFoundError(`schedule ${id} does not exist`);
    throw err;
  }
}

export async function runScheduleCommand(argv: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || !['create', 'list', 'pause', 'unpause', 'delete'].includes(sub)) {
    ctx.io.err(`${USAGE}\n`);
    return EXIT_FAILURE;
  }
  return withClient(ctx, async (client) => {
    switch (sub) {
      case 'create':
        return create(client, rest, ctx);
      case 'list': {
        const { values } = parseArgs({ args: rest, options: parseOptions(SCHEDULE_LIST_OPTIONS) });
        const rows = await listSchedules(client);
        if (values.json) ctx.io.out(JSON.stringify(rows));
        else if (rows.length === 0) ctx.io.out('no retrain schedules');
        else
          ctx.io.out(
            rows
              .map(
                (r) =>
                  `${r.id.padEnd(24)} ${(r.paused ? 'paused' : 'active').padEnd(7)} ${(r.model ?? '').padEnd(20)} ${r.spec.join(', ')}${r.nextRuns[0] && !r.paused ? `  next ${r.nextRuns[0]}` : ''}${r.note && r.paused ? `  (${r.note})` : ''}`,
              )
              .join('\n'),
          );
        return EXIT_OK;
      }
      default: {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: parseOptions(NOTE_OPTIONS),
        });
        const id = positionals[0];
        if (sub === 'delete' && values.note !== undefined)
          throw new BadInputError(
            'schedule delete: --note does not apply (only pause and unpause keep a note)',
          );
        await onSchedule(client, id, sub, (h) =>
          sub === 'pause' ? h.pause(values.note) : sub === 'unpause' ? h.unpause(values.note) : h.delete(),
        );
        ctx.io.out(`schedule ${id} ${sub === 'delete' ? 'deleted' : `${sub}d`}`);
        return EXIT_OK;
      }
    }
  });
}
