/** `seqtrain worker --role orchestrator|trainer`: one long-running worker process. */
import { parseArgs } from 'node:util';
import { BackendNameSchema, BadInputError } from '@seqtrain/contracts';
import { createSeqtrainWorker } from '@seqtrain/worker';
import { EXIT_OK, type CliContext } from '../context';
import { WORKER_OPTIONS, parseOptions } from '../help';
import { removeState, writeState } from '@seqtrain/local-stack/stack-state';

export async function runWorkerCommand(argv: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: parseOptions(WORKER_OPTIONS),
    strict: true,
  });
  const role = values.role;
  if (role !== 'orchestrator' && role !== 'trainer')
    throw new BadInputError(`--role=${JSON.stringify(role)}: expected orchestrator or trainer`);
  let concurrency: number | undefined;
  if (values.concurrency !== undefined) {
    concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new BadInputError(`--concurrency=${values.concurrency}: expected a positive integer`);
  }
  const backendParsed = BackendNameSchema.safeParse(values.backend ?? ctx.config.backend);
  if (!backendParsed.success)
    throw new BadInputError(
      `--backend=${values.backend}: expected one of ${BackendNameSchema.options.join(', ')}`,
    );
  const config = { ...ctx.config, backend: backendParsed.data };
  const id = values.id ?? `${role}-${process.pid}`;
  const worker = await createSeqtrainWorker({
    role,
    config,
    store: ctx.store(),
    workerId: id,
    ...(concurrency ? { concurrency } : {}),
    log: (m) => ctx.io.err(`[${id}] ${m}\n`),
  });
  const stop = (): void => {
    ctx.io.err(`[${id}] shutting down: finishing or handing back the current activity\n`);
    worker.shutdown();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const running = worker.run();
  await writeState(config.home, {
    name: id,
    kind: 'worker',
    role,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    taskQueues: worker.taskQueues,
    metrics: worker.metricsAddress,
    ...(worker.dataPlane ? { dataPlane: worker.dataPlane } : {}),
    ...(worker.backend ? { backend: worker.backend } : {}),
  });
  ctx.io.err(
    `[${id}] ${role} worker polling ${worker.taskQueues.join(', ')}${worker.dataPlane ? `, data plane on ${worker.dataPlane}` : ''}, metrics on http://${worker.metricsAddress}/metrics${worker.backend ? ` on backend ${JSON.stringify(worker.backend)}` : ''}\n`,
  );
  try {
    await running;
  } finally {
    await removeState(config.home, id);
  }
  return EXIT_OK;
}
