/** `seqtrain up | down | status`: the embedded local stack (docs/architecture.md); infra/local runs it. */
import { parseArgs } from 'node:util';
import {
  ensureStack as ensureEmbeddedStack,
  stackStatus,
  stopStack as stopEmbeddedStack,
  type StackSummary,
} from '@seqtrain/local-stack';
import { BadInputError } from '@seqtrain/contracts';
import { EXIT_OK, type CliContext } from '../context';
import { DOWN_OPTIONS, STATUS_OPTIONS, UP_OPTIONS, parseOptions } from '../help';
import { cliMainPath } from '../node-process';

export type { StackSummary } from '@seqtrain/local-stack';

export async function runUp(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(UP_OPTIONS),
    strict: true,
  });
  const trainers = Number(values.trainers);
  if (!Number.isInteger(trainers) || trainers < 0 || trainers > 64)
    throw new BadInputError(`--trainers=${values.trainers}: expected an integer from 0 to 64`);
  const summary = await ensureStack(ctx, trainers);
  if (values.json) ctx.io.out(JSON.stringify(summary));
  if (values.detach) return EXIT_OK;
  ctx.io.err('stack is running in the foreground; Ctrl-C stops it (use --detach to return at once)\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stopStack(ctx);
  return EXIT_OK;
}

/** Brings the stack up (what is missing of it) and prints where everything runs. */
export async function ensureStack(ctx: CliContext, trainers: number): Promise<StackSummary> {
  const log = (m: string): void => ctx.io.err(`${m}\n`);
  const summary = await ensureEmbeddedStack(
    { config: ctx.config, env: ctx.env, log, workerMain: cliMainPath() },
    trainers,
  );
  log(`\nseqtrain stack is up`);
  log(`  Temporal:    ${summary.temporal.address} (namespace ${summary.temporal.namespace})`);
  if (summary.temporal.ui) log(`  Temporal UI: ${summary.temporal.ui}`);
  log(`  S3:          ${summary.s3.endpoint ?? 'AWS'} bucket ${summary.s3.bucket}`);
  for (const w of summary.workers)
    log(
      `  worker:      ${w.name} (${w.role}, pid ${w.pid}${w.backend ? `, backend ${describeBackend(w.backend)}` : ''})`,
    );
  log(`  data + logs: ${summary.home}`);
  return summary;
}

export function stopStack(ctx: CliContext): ReturnType<typeof stopEmbeddedStack> {
  return stopEmbeddedStack(ctx.config.home, (m) => ctx.io.err(`${m}\n`));
}

function describeBackend(b: unknown): string {
  return typeof b === 'object' && b !== null && 'name' in b ? String(b.name) : String(b);
}

export async function runDown(argv: string[], ctx: CliContext): Promise<number> {
  parseArgs({ args: argv, options: parseOptions(DOWN_OPTIONS), strict: true });
  const stopped = await stopStack(ctx);
  if (stopped.length === 0) ctx.io.err('nothing was running\n');
  return EXIT_OK;
}

export async function runStatus(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(STATUS_OPTIONS),
    strict: true,
  });
  // The CUDA part of the native kernels: present here, or why not (files only unless it can work).
  const { cudaKernelsStatus } = await import('@seqtrain/backend');
  const cuda = cudaKernelsStatus(ctx.config.cacheDir);
  const status = await stackStatus(ctx.config, ctx.env);
  const result = {
    home: status.home,
    cuda: { available: cuda.available, device: cuda.device, reason: cuda.reason },
    temporal: status.temporal,
    s3: status.s3,
    workers: status.workers,
  };
  if (values.json) ctx.io.out(JSON.stringify(result));
  else {
    const lines = [
      `Temporal: ${result.temporal ? `${result.temporal.address} pid ${result.temporal.pid} ${result.temporal.healthy ? 'healthy' : 'NOT RESPONDING'}${result.temporal.ui ? `, UI ${result.temporal.ui}` : ''}` : 'not running'}`,
      `S3:       ${result.s3 ? `${result.s3.endpoint} pid ${result.s3.pid} ${result.s3.healthy ? 'healthy' : 'NOT RESPONDING'}` : 'not running'}`,
      ...result.workers.map(
        (w) =>
          `worker:   ${w.name} ${w.role} pid ${w.pid}${w.backend ? ` backend ${describeBackend(w.backend)}` : ''}${w.dataPlane ? ` data plane ${w.dataPlane}` : ''}${w.metrics ? ` metrics ${w.metrics} ${w.ready ? 'ready' : 'NOT READY'}` : ''}`,
      ),
    ];
    if (result.workers.length === 0) lines.push('workers:  none');
    lines.push(
      `CUDA:     ${cuda.available ? `available on ${cuda.device ?? 'a GPU'}` : `absent: ${cuda.reason ?? ''}`}`,
    );
    ctx.io.out(lines.join('\n'));
  }
  return EXIT_OK;
}
